package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/fluxrelay/fluxrelay/notification"
)

// op is one mutation waiting for the writer. apply runs inside the batch's
// transaction and must do its reads before its writes.
type op struct {
	ingest bool // new input: refused when the disk budget is exhausted
	// noWrite marks an op that never writes (Ping): a batch of nothing
	// else needs no sync.
	noWrite bool
	size    int
	// id names the record an Enqueue writes: if its sync fails, a resend
	// of it is written again rather than answered "duplicate".
	id    string
	apply func(txn *badger.Txn, d *delta) error
	done  chan error
}

// delta counts index changes in a batch; applied after the commit.
type delta struct {
	pending, dead, damaged int64
	wake                   bool
	// valueLog is set when a value went to Badger's value log.
	valueLog bool
	// scheduled are the schedule keys the batch wrote. The scan head is
	// lowered to them only once the commit is visible: lowered before, a
	// scan in between could move the head past an entry it cannot see.
	scheduled [][]byte
	// touched names the records written in this batch: their pending
	// writes carry no revision of their own to compare.
	touched map[string]bool
	// newBlobs are the blobs the batch wrote (in flight until it is
	// committed); oldBlobs those whose records it deleted, removed once it
	// is synced.
	newBlobs, oldBlobs []string
}

// submit hands o to the writer and waits until its batch is committed.
// Once handed over, the result is waited for even if ctx ends, so the
// caller never answers before the outcome is known.
func (s *Store) submit(ctx context.Context, o *op) error {
	o.done = make(chan error, 1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return notification.ErrClosed
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	return <-o.done
}

// Ping goes through the writer like a write that writes nothing: it
// returns once the writer has taken it and committed its batch, so it
// proves the writer is not stuck (on a hung disk, say) without a byte
// written or an fsync of its own.
func (s *Store) Ping(ctx context.Context) error {
	return s.submit(ctx, &op{noWrite: true, apply: func(*badger.Txn, *delta) error { return nil }})
}

// A batch under load waits a moment for more ops, so that one flush serves
// them too: an eighth of the last commit's time, between lingerMin and
// lingerMax. On a fast disk that is the 1 ms floor; on an SD card, where a
// commit takes tens of milliseconds, it gathers the requests that are
// still on their way.
const (
	lingerMin = time.Millisecond
	lingerMax = 20 * time.Millisecond
)

func lingerFor(lastCommit time.Duration) time.Duration {
	return min(max(lastCommit/8, lingerMin), lingerMax)
}

// writer is the one goroutine that writes. It takes whatever ops are
// waiting (up to the batch limits) and commits them in one synced
// transaction: while one batch is being fsynced the next one gathers.
//
// It lingers only under load: when more than one op is waiting, or when
// the previous batch carried more than one (the first request back after a
// full batch would otherwise pay a whole commit alone, and the others
// behind it another). An idle gateway never waits.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*op, 0, maxBatchOps)
	var lastCommit time.Duration
	busy := false
	for o := range s.ops {
		batch = append(batch[:0], o)
		size := o.size
		var linger <-chan time.Time
	gather:
		for len(batch) < maxBatchOps && size < maxBatchBytes {
			var next *op
			var ok bool
			select {
			case next, ok = <-s.ops:
			default:
				if len(batch) == 1 && !busy {
					break gather
				}
				if linger == nil {
					linger = time.After(lingerFor(lastCommit))
				}
				select {
				case next, ok = <-s.ops:
				case <-linger:
					break gather
				}
			}
			if !ok {
				break gather
			}
			batch = append(batch, next)
			size += next.size
		}
		start := time.Now()
		s.commit(batch)
		lastCommit, busy = time.Since(start), len(batch) > 1
	}
}

func (s *Store) commit(batch []*op) {
	if f := s.failed.Load(); f != nil {
		// Answered without waiting for the re-open, which may wait for a
		// compaction to finish.
		s.refuse(batch, f)
		return
	}
	s.dbMu.RLock()
	if f := s.failed.Load(); f != nil || s.db == nil {
		s.dbMu.RUnlock()
		s.refuse(batch, f)
		return
	}
	spaceErr := s.checkSpace(batch)
	errs := make([]error, len(batch))
	var d delta
	s.commitMu.Lock()
	err := s.db.Update(func(txn *badger.Txn) error {
		d = delta{}
		for i, o := range batch {
			errs[i] = nil
			if o.ingest && spaceErr != nil {
				errs[i] = spaceErr
				continue
			}
			if err := o.apply(txn, &d); err != nil {
				if isResult(err) {
					errs[i] = err
					continue
				}
				return err
			}
			if o.id != "" {
				s.markInSync(o.id)
			}
		}
		if s.beforeCommit != nil {
			s.beforeCommit()
		}
		return nil
	})
	var refusal error
	if err == nil {
		// Badger has applied the batch; it is durable once its logs are
		// synced, and nothing is acknowledged before.
		if syncErr := s.syncLogs(batch, errs, d.valueLog); syncErr != nil {
			// The store refuses before the batch's records stop being
			// hidden from Due, so that none is handed out in between.
			refusal = s.failSync(syncErr, batch, errs)
		}
	}
	s.clearInSync()
	s.commitMu.Unlock()
	s.dbMu.RUnlock()
	s.blobs.done(d.newBlobs...)
	if err != nil && len(batch) > 1 {
		// One op broke the transaction (too big, or a Badger error): it
		// was discarded whole, so commit each op on its own.
		for _, o := range batch {
			s.commit([]*op{o})
		}
		return
	}
	if err == nil {
		s.applied(batch, errs, &d)
		if refusal != nil {
			err = refusal
		} else {
			s.synced(batch, errs)
			s.blobs.remove(d.oldBlobs...)
		}
	}
	for i, o := range batch {
		if err != nil {
			o.done <- fmt.Errorf("store commit: %w", err)
		} else {
			o.done <- errs[i]
		}
	}
}

func (s *Store) markInSync(id string) {
	s.inSyncMu.Lock()
	s.inSync[id] = true
	s.inSyncMu.Unlock()
}

func (s *Store) clearInSync() {
	s.inSyncMu.Lock()
	clear(s.inSync)
	s.inSyncMu.Unlock()
}

// isInSync reports whether id was written by the batch being synced.
func (s *Store) isInSync(id string) bool {
	s.inSyncMu.Lock()
	defer s.inSyncMu.Unlock()
	return s.inSync[id]
}

// refuse answers a batch while a failed sync stops writes (f, or nil
// while the store is closed by a re-open).
func (s *Store) refuse(batch []*op, f *syncFailure) {
	err := errReopening
	if f != nil {
		err = f.refusal()
	}
	for _, o := range batch {
		// A ping is answered: the writer is not stuck, and the service
		// manager must not restart the daemon before the re-open has
		// written what the failed batch left in Badger's memtables.
		if o.noWrite {
			o.done <- nil
		} else {
			o.done <- err
		}
	}
}

// checkSpace returns why a batch's new input must be refused, or nil.
func (s *Store) checkSpace(batch []*op) error {
	for _, o := range batch {
		if o.ingest {
			err := s.space.check()
			if err != nil {
				s.askRelief()
			}
			return err
		}
	}
	return nil
}

// applied brings the counters up to a committed batch.
func (s *Store) applied(batch []*op, errs []error, d *delta) {
	s.commits.Add(1)
	s.writes.Add(int64(len(batch)))
	s.lowerHead(d.scheduled)
	s.pending.Add(d.pending)
	s.dead.Add(d.dead)
	s.damaged.Add(d.damaged)
	s.space.wrote(batch, errs)
	if d.wake {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// syncLogs syncs what a committed batch wrote, when the store syncs
// Badger's logs itself. A batch that wrote nothing (pings, duplicates,
// refusals) syncs nothing.
func (s *Store) syncLogs(batch []*op, errs []error, valueLog bool) error {
	if s.logs == nil {
		return nil
	}
	for i, o := range batch {
		if !o.noWrite && errs[i] == nil {
			return s.logs.sync(valueLog)
		}
	}
	return nil
}

// resultError carries an answer that is not a failure of the transaction.
type resultError struct{ err error }

func (r resultError) Error() string { return r.err.Error() }
func (r resultError) Unwrap() error { return r.err }

func isResult(err error) bool {
	var r resultError
	return errors.As(err, &r)
}
