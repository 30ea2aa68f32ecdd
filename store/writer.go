package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
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
	apply   func(txn *badger.Txn, d *delta) error
	done    chan error
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
	var spaceErr error
	for _, o := range batch {
		if o.ingest {
			spaceErr = s.space.check()
			break
		}
	}
	errs := make([]error, len(batch))
	var d delta
	err := s.db.Update(func(txn *badger.Txn) error {
		for i, o := range batch {
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
		}
		if s.beforeCommit != nil {
			s.beforeCommit()
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		// One op broke the transaction (too big, or a Badger error): it
		// was discarded whole, so commit each op on its own.
		for _, o := range batch {
			s.commit([]*op{o})
		}
		return
	}
	if err == nil {
		// Badger has applied the batch; it is durable once its logs are
		// synced, and nothing is acknowledged before.
		syncErr := s.syncLogs(batch, errs, d.valueLog)
		s.commits.Add(1)
		s.writes.Add(int64(len(batch)))
		s.lowerHead(d.scheduled)
		s.pending.Add(d.pending)
		s.dead.Add(d.dead)
		s.damaged.Add(d.damaged)
		s.space.wrote(batch)
		if d.wake {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
		err = syncErr
	}
	for i, o := range batch {
		if err != nil {
			o.done <- fmt.Errorf("store commit: %w", err)
		} else {
			o.done <- errs[i]
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

// errDuplicate is the op-level form of notification.StatusDuplicate.
var errDuplicate = errors.New("duplicate")

// Enqueue stores a new notification (pending or ignored) and answers once it
// is on disk. A repeat of a known notification (same id, same fingerprint)
// is a Duplicate and changes nothing; the same id with other content is a
// *notification.ConflictError. When the disk budget is exhausted it returns
// notification.ErrFull and stores nothing.
func (s *Store) Enqueue(ctx context.Context, r *notification.Record) (notification.Status, error) {
	if r.StoredAt.IsZero() {
		r.StoredAt = s.opts.Now().UTC()
	}
	val, err := encodeRecord(r)
	if err != nil {
		return "", err
	}
	fp := r.Fingerprint()
	sum := sha256.Sum256(fp)
	o := &op{ingest: true, size: len(val) + 128}
	o.apply = func(txn *badger.Txn, d *delta) error {
		if err := s.checkKnown(txn, r, fp, sum[:]); err != nil {
			return err
		}
		e := badger.NewEntry(dedupKey(r.ID), sum[:])
		if s.opts.DedupWindow > 0 {
			e = e.WithTTL(s.opts.DedupWindow)
		}
		if err := txn.SetEntry(e); err != nil {
			return err
		}
		return s.put(txn, nil, r, val, d)
	}
	switch err := s.submit(ctx, o); {
	case errors.Is(err, errDuplicate):
		return notification.StatusDuplicate, nil
	case err != nil:
		var ce *notification.ConflictError
		if errors.As(err, &ce) {
			return "", ce
		}
		return "", err
	case r.State == notification.Ignored:
		return notification.StatusIgnored, nil
	case r.State == notification.Dead:
		return notification.StatusHeld, nil
	default:
		return notification.StatusQueued, nil
	}
}

// checkKnown compares a new notification with a known one of the same id:
// with its record while it is kept (so a conflict can name the fields that
// differ), else with the fingerprint hash in the dedup index. It returns
// nil for a new notification, errDuplicate or a *ConflictError as results.
func (s *Store) checkKnown(txn *badger.Txn, r *notification.Record, fp, sum []byte) error {
	old, err := getRecord(txn, r.ID)
	switch {
	case err == nil:
		known := old.Fingerprint()
		if bytes.Equal(known, fp) {
			return resultError{errDuplicate}
		}
		return resultError{&notification.ConflictError{ID: r.ID, DedupKey: r.DedupKey, Diff: notification.DiffFields(known, fp)}}
	case !errors.Is(err, notification.ErrNotFound):
		return err
	}
	item, err := txn.Get(dedupKey(r.ID))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	known, err := item.ValueCopy(nil)
	if err != nil {
		return err
	}
	if bytes.Equal(known, sum) {
		return resultError{errDuplicate}
	}
	return resultError{&notification.ConflictError{ID: r.ID, DedupKey: r.DedupKey,
		Diff: "the earlier notification's details are past store.retention, so the fields that differ cannot be named"}}
}

// Update changes a stored notification's delivery: fn edits a copy, and
// the indexes follow its state and next attempt. Only r.Delivery is kept:
// what arrived never changes once stored. If fn returns an error nothing
// changes.
func (s *Store) Update(ctx context.Context, id string, fn func(*notification.Record) error) error {
	return s.update(ctx, id, nil, fn)
}

// UpdateFrom is Update for a record the caller has just read: while it is
// still the stored revision, the writer starts from it instead of reading
// and decoding it again.
func (s *Store) UpdateFrom(ctx context.Context, read *notification.Record, fn func(*notification.Record) error) error {
	return s.update(ctx, read.ID, read, fn)
}

func (s *Store) update(ctx context.Context, id string, read *notification.Record, fn func(*notification.Record) error) error {
	o := &op{size: 4 << 10}
	o.apply = func(txn *badger.Txn, d *delta) error { return s.edit(txn, d, id, read, fn) }
	return s.submit(ctx, o)
}

// edit changes one stored notification's delivery in txn: fn edits a copy,
// and the indexes follow. A notification that is gone, or that fn or the
// encoding refuses, is a result (resultError), not a failure of txn.
func (s *Store) edit(txn *badger.Txn, d *delta, id string, read *notification.Record, fn func(*notification.Record) error) error {
	old, err := s.current(txn, id, read, d)
	if err != nil {
		if errors.Is(err, notification.ErrNotFound) {
			return resultError{err}
		}
		return err
	}
	edit := *old
	if err := fn(&edit); err != nil {
		return resultError{err}
	}
	// What arrived never changes once stored: only the delivery does.
	r := *old
	r.Delivery = edit.Delivery
	val, err := encodeRecord(&r)
	if err != nil {
		return resultError{err}
	}
	return s.put(txn, old, &r, val, d)
}

// UpdateEach applies fn to each of ids in one transaction (one fsync) and
// returns how many it changed; an id that is gone, or for which fn returns
// an error, is left as it is. Callers bound ids (a few hundred) so that a
// large change goes in batches that never hold up ingest for long.
func (s *Store) UpdateEach(ctx context.Context, ids []string, fn func(*notification.Record) error) (int, error) {
	changed := 0
	o := &op{size: 4 << 10 * len(ids)}
	o.apply = func(txn *badger.Txn, d *delta) error {
		changed = 0
		for _, id := range ids {
			err := s.edit(txn, d, id, nil, fn)
			if isResult(err) {
				continue // gone, or refused by fn: left as it is
			}
			if err != nil {
				return err
			}
			changed++
		}
		return nil
	}
	err := s.submit(ctx, o)
	return changed, err
}

// current returns the stored record: read, when the caller's copy is still
// the stored revision and this batch has not written it, else read anew.
func (s *Store) current(txn *badger.Txn, id string, read *notification.Record, d *delta) (*notification.Record, error) {
	if read != nil && read.Rev != 0 && !d.touched[id] {
		item, err := txn.Get(recordKey(id))
		if err == nil && item.Version() == read.Rev {
			return read, nil
		}
	}
	return getRecord(txn, id)
}

// Drop deletes a notification and its indexes. Its dedup entry stays, so a
// resend is still answered "duplicate".
func (s *Store) Drop(ctx context.Context, id string) error {
	o := &op{size: 256}
	o.apply = func(txn *badger.Txn, d *delta) error {
		old, err := getRecord(txn, id)
		if err != nil {
			if errors.Is(err, notification.ErrNotFound) {
				return resultError{err}
			}
			return err
		}
		if err := s.unindex(txn, old, nil, d); err != nil {
			return err
		}
		return txn.Delete(recordKey(id))
	}
	return s.submit(ctx, o)
}

// put writes r (encoded as val) and moves its index entries from where old
// had them. old is nil for a new record.
func (s *Store) put(txn *badger.Txn, old, r *notification.Record, val []byte, d *delta) error {
	if err := s.unindex(txn, old, r, d); err != nil {
		return err
	}
	if d.touched == nil {
		d.touched = map[string]bool{}
	}
	d.touched[r.ID] = true
	if len(val) >= valueThreshold {
		d.valueLog = true
	}
	e := badger.NewEntry(recordKey(r.ID), val)
	if (r.State == notification.Delivered || r.State == notification.Ignored) && s.opts.Retention > 0 {
		e = e.WithTTL(s.opts.Retention)
	}
	if err := txn.SetEntry(e); err != nil {
		return err
	}
	// The reference and receive-time indexes: written with the record, and
	// again with the record's retention once it is delivered, so that they
	// expire together.
	if old == nil || (old.State != notification.Delivered && r.State == notification.Delivered) {
		for _, k := range indexKeys(r) {
			e := badger.NewEntry(k, nil)
			if (r.State == notification.Delivered || r.State == notification.Ignored) && s.opts.Retention > 0 {
				e = e.WithTTL(s.opts.Retention)
			}
			if err := txn.SetEntry(e); err != nil {
				return err
			}
		}
	}
	wasPending := old != nil && old.State == notification.Pending
	wasDead := old != nil && old.State == notification.Dead
	switch r.State {
	case notification.Pending:
		if !wasPending || !old.NextAttempt.Equal(r.NextAttempt) {
			k := timeKey(pDue, r.NextAttempt, r.ID)
			if err := txn.Set(k, nil); err != nil {
				return err
			}
			d.scheduled = append(d.scheduled, k)
			d.wake = true
		}
		if !wasPending {
			d.pending++
			return txn.Set(timeKey(pAge, r.ReceivedAt, r.ID), nil)
		}
	case notification.Dead:
		if !wasDead {
			d.dead++
			return txn.Set(deadKey(r.ID), nil)
		}
	}
	return nil
}

// unindex removes the index entries old has that r (nil when the record is
// being deleted) will not keep.
func (s *Store) unindex(txn *badger.Txn, old, r *notification.Record, d *delta) error {
	if old == nil {
		return nil
	}
	if r == nil {
		for _, k := range indexKeys(old) {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
	}
	stillPending := r != nil && r.State == notification.Pending
	switch old.State {
	case notification.Pending:
		if !stillPending || !old.NextAttempt.Equal(r.NextAttempt) {
			if err := txn.Delete(timeKey(pDue, old.NextAttempt, old.ID)); err != nil {
				return err
			}
		}
		if !stillPending {
			d.pending--
			return txn.Delete(timeKey(pAge, old.ReceivedAt, old.ID))
		}
	case notification.Dead:
		if r == nil || r.State != notification.Dead {
			d.dead--
			return txn.Delete(deadKey(old.ID))
		}
	}
	return nil
}

// indexKeys are the keys that index r by its references and by when it
// was received; they expire with the record.
func indexKeys(r *notification.Record) [][]byte {
	keys := [][]byte{timeKey(pRecv, r.ReceivedAt, r.ID)}
	for _, ref := range refs(r) {
		keys = append(keys, refKey(ref, r.ID))
	}
	return keys
}

// refs are the references a person may look a notification up by: its
// payload's, and those it carries of its own (a held one's provider
// reference).
func refs(r *notification.Record) []string {
	var out []string
	if r.Payload != nil {
		out = append(out, r.Payload.TransactionRef)
		if p := r.Payload.PaymentRef; p != "" && p != r.Payload.TransactionRef {
			out = append(out, p)
		}
	}
	for _, ref := range r.Refs {
		if ref != "" && !slices.Contains(out, ref) {
			out = append(out, ref)
		}
	}
	return out
}

func getRecord(txn *badger.Txn, id string) (*notification.Record, error) {
	item, err := txn.Get(recordKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, notification.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	r := new(notification.Record)
	if err = item.Value(func(v []byte) error { return decodeRecord(v, r) }); err != nil {
		return nil, fmt.Errorf("decode notification %s: %w", id, err)
	}
	r.Rev = item.Version()
	return r, nil
}

// A record is stored as a 4-byte length, its JSON without the raw body,
// then the raw body as it arrived: no base64, and readable as text.
