package store

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/fluxrelay/fluxrelay/notification"
)

// maxScan bounds the keys one Due pass walks past (in flight or due).
const maxScan = 4096

// dueBatch is the most records one read transaction of Due takes.
const dueBatch = 128

// Due returns the pending notifications whose next attempt is at or before
// now (none, and an error, while the store refuses writes after a failed
// sync), oldest schedule first, as an iterator. They are read a batch at a
// time, each batch in its own short read transaction, and yielded outside
// it: the caller takes its locks and decides what to do with each at its
// own pace, and stopping the range stops the reading. Ids in skip (the ones
// the caller already has) are passed over before their records are read.
// Once the range is over, next gives the time of the first later attempt
// it came to (zero when none).
func (s *Store) Due(now time.Time, skip map[string]bool) (due iter.Seq2[*notification.Record, error], next func() time.Time) {
	var later time.Time
	due = func(yield func(*notification.Record, error) bool) {
		if f := s.failed.Load(); f != nil {
			// What the failed batch wrote is visible but not on disk, and
			// no outcome could be recorded: nothing goes out until the
			// store has re-opened.
			yield(nil, f.refusal())
			return
		}
		// The hint is taken before the first snapshot: an entry lowerHead
		// names after this point bumps gen, and this pass then leaves the
		// head be.
		cursor, gen := s.headHint()
		first, scanned := true, 0
		for {
			var batch []*notification.Record
			var damaged [][]byte
			more := false
			err := s.view(func(txn *badger.Txn) error {
				it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pDue)})
				defer it.Close()
				for it.Seek(cursor); it.Valid(); it.Next() {
					k := it.Item().Key()
					if first {
						s.setHead(it.Item().KeyCopy(nil), gen)
						first = false
					}
					if len(batch) == dueBatch || scanned == maxScan {
						cursor, more = it.Item().KeyCopy(nil), scanned < maxScan
						return nil
					}
					scanned++
					at, id := splitTimeKey(pDue, k)
					if at.After(now) {
						later = at
						return nil
					}
					if skip[id] || s.isInSync(id) || s.failed.Load() != nil {
						// The caller has it, or it is not on disk yet: its
						// batch is being synced, or its sync failed (the
						// store refuses before it stops hiding the batch).
						continue
					}
					r, err := s.getRecord(txn, id)
					if errors.Is(err, notification.ErrNotFound) {
						continue // dropped between the index read and now
					}
					if err != nil {
						// Damaged on disk: it must not stop the others.
						damaged = append(damaged, it.Item().KeyCopy(nil))
						continue
					}
					batch = append(batch, r)
				}
				return nil
			})
			if len(damaged) > 0 {
				go s.quarantine(damaged)
			}
			if err != nil {
				yield(nil, err)
				return
			}
			for _, r := range batch {
				if !yield(r, nil) {
					return
				}
			}
			if !more {
				return
			}
		}
	}
	return due, func() time.Time { return later }
}

// Get returns the notification with this id.
func (s *Store) Get(id string) (*notification.Record, error) {
	var r *notification.Record
	err := s.view(func(txn *badger.Txn) (err error) {
		r, err = s.getRecord(txn, id)
		return err
	})
	return r, err
}

// Find returns the one notification whose id starts with prefix.
func (s *Store) Find(prefix string) (*notification.Record, error) {
	if prefix == "" {
		return nil, notification.ErrNotFound
	}
	var r *notification.Record
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: recordKey(prefix)})
		defer it.Close()
		var id string
		for it.Rewind(); it.Valid(); it.Next() {
			if id != "" {
				return ErrAmbiguous
			}
			id = string(bytes.TrimPrefix(it.Item().Key(), []byte(pRecord)))
		}
		if id == "" {
			return notification.ErrNotFound
		}
		var err error
		r, err = s.getRecord(txn, id)
		return err
	})
	return r, err
}

// Received yields every stored notification received in [from, to), in
// the order received, through the receive-time index: a batch at a time in
// short read transactions, yielded outside them. (Notifications stored
// before the index existed are not in it.)
func (s *Store) Received(from, to time.Time) iter.Seq2[*notification.Record, error] {
	return func(yield func(*notification.Record, error) bool) {
		cursor, end := timeKey(pRecv, from, ""), timeKey(pRecv, to, "")
		for {
			var batch []*notification.Record
			more := false
			err := s.view(func(txn *badger.Txn) error {
				it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pRecv)})
				defer it.Close()
				for it.Seek(cursor); it.Valid() && bytes.Compare(it.Item().Key(), end) < 0; it.Next() {
					if len(batch) == dueBatch {
						cursor, more = it.Item().KeyCopy(nil), true
						return nil
					}
					_, id := splitTimeKey(pRecv, it.Item().Key())
					if r, err := s.getRecord(txn, id); err == nil {
						batch = append(batch, r)
					}
				}
				return nil
			})
			if err != nil {
				yield(nil, err)
				return
			}
			for _, r := range batch {
				if !yield(r, nil) {
					return
				}
			}
			if !more {
				return
			}
		}
	}
}

// FindRef returns the notifications whose transactionRef or paymentRef is
// ref, or whose id starts with it (the index, not a scan of the store).
func (s *Store) FindRef(ref string) ([]*notification.Record, error) {
	if ref == "" {
		return nil, nil
	}
	var out []*notification.Record
	seen := map[string]bool{}
	err := s.view(func(txn *badger.Txn) error {
		prefix := []byte(pRef + ref + "\x00")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id := string(it.Item().Key()[len(prefix):])
			if r, err := s.getRecord(txn, id); err == nil && !seen[id] {
				seen[id] = true
				out = append(out, r)
			}
		}
		if len(ref) < 6 {
			return nil // too short to be taken for the start of an id
		}
		ids := txn.NewIterator(badger.IteratorOptions{Prefix: recordKey(ref), PrefetchValues: false})
		defer ids.Close()
		n := 0
		for ids.Rewind(); ids.Valid() && n < 20; ids.Next() {
			id := string(bytes.TrimPrefix(ids.Item().Key(), []byte(pRecord)))
			if r, err := s.getRecord(txn, id); err == nil && !seen[id] {
				seen[id] = true
				out = append(out, r)
				n++
			}
		}
		return nil
	})
	return out, err
}

// DeadLetters returns every dead letter.
func (s *Store) DeadLetters() ([]*notification.Record, error) {
	var out []*notification.Record
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pDead)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			r, err := s.getRecord(txn, string(it.Item().Key()[len(pDead):]))
			if err != nil {
				continue // damaged on disk; counted by Stats as damaged once found by Due
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// Stats is a snapshot of the store's counters.
type Stats struct {
	Pending int64
	Dead    int64
	// Damaged counts notifications whose records could not be read back
	// (damaged store files): taken out of the queue and kept under z/.
	Damaged       int64
	OldestPending time.Time // zero when nothing is pending
	DiskUsed      int64
	DiskFree      int64
	// Full says why new input is refused, or is empty.
	Full string
	// Commits counts the synced transactions since the store opened,
	// Writes the operations they carried.
	Commits, Writes int64
	// WritesRefused says why every write is refused: a sync of the store's
	// files failed, and the store has not yet re-opened itself. Empty
	// while writes are accepted.
	WritesRefused string
	// SyncFailures counts the failed syncs since the store opened;
	// SyncFailedAt is when the last one happened (zero when none).
	SyncFailures int64
	SyncFailedAt time.Time
	// Evicted counts the delivered and ignored records evicted for disk
	// space since the store opened; EvictedAt is when eviction last ran
	// (zero when it has not).
	Evicted   int64
	EvictedAt time.Time
	// Migrating is set while a store written by an earlier release is
	// being brought up to date (indexes back-filled); find, report and
	// replay may miss its older records until then.
	Migrating bool
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	st := Stats{Pending: s.pending.Load(), Dead: s.dead.Load(), Damaged: s.damaged.Load(), Commits: s.commits.Load(), Writes: s.writes.Load(),
		SyncFailures: s.syncFailures.Load(), Evicted: s.evicted.Load(), Migrating: !s.isMigrated()}
	if f := s.failed.Load(); f != nil {
		st.WritesRefused = f.refusal().Error()
	}
	if f := s.lastFailure.Load(); f != nil {
		st.SyncFailedAt = f.at
	}
	if at := s.evictedAt.Load(); at != 0 {
		st.EvictedAt = time.Unix(0, at)
	}
	used, free, full := s.space.state()
	st.DiskUsed, st.DiskFree = used, free
	if full != nil {
		st.Full = full.Error()
	}
	_ = s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pAge)})
		defer it.Close()
		if it.Rewind(); it.Valid() {
			st.OldestPending, _ = splitTimeKey(pAge, it.Item().Key())
		}
		return nil
	})
	return st
}

// CapSchedule moves every attempt scheduled after limit to limit, so that a
// clock that was wrong when the schedule was saved cannot strand the queue.
// It returns how many it moved.
func (s *Store) CapSchedule(ctx context.Context, limit time.Time) (int, error) {
	var ids []string
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pDue)})
		defer it.Close()
		for it.Seek(timeKey(pDue, limit.Add(time.Nanosecond), "")); it.Valid(); it.Next() {
			_, id := splitTimeKey(pDue, it.Item().Key())
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		err := s.Update(ctx, id, func(r *notification.Record) error {
			if r.NextAttempt.After(limit) {
				r.NextAttempt = limit
			}
			return nil
		})
		if err != nil && !errors.Is(err, notification.ErrNotFound) {
			return 0, err
		}
	}
	return len(ids), nil
}

// quarantine takes notifications whose records cannot be read out of the
// schedule (dueKeys are their r/ keys) and records them under z/, so that
// they neither block the queue nor count as waiting.
func (s *Store) quarantine(dueKeys [][]byte) {
	o := &op{size: 256 * len(dueKeys)}
	o.apply = func(txn *badger.Txn, d *delta) error {
		for _, k := range dueKeys {
			_, id := splitTimeKey(pDue, k)
			if _, err := txn.Get(k); errors.Is(err, badger.ErrKeyNotFound) {
				continue // already moved
			}
			if err := txn.Delete(k); err != nil {
				return err
			}
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pAge)})
			for it.Rewind(); it.Valid(); it.Next() {
				if bytes.HasSuffix(it.Item().Key(), []byte(id)) {
					if err := txn.Delete(it.Item().KeyCopy(nil)); err != nil {
						it.Close()
						return err
					}
				}
			}
			it.Close()
			if err := txn.Set(damagedKey(id), []byte("the record could not be read back")); err != nil {
				return err
			}
			d.pending--
			d.damaged++
		}
		return nil
	}
	if err := s.submit(context.Background(), o); err != nil {
		s.log.Error("setting damaged notifications aside failed", "err", err)
		return
	}
	s.log.Error("DAMAGED STORE: notifications whose records cannot be read were taken out of the queue; check the disk and run fluxrelay doctor", "count", len(dueKeys))
}

func (s *Store) headHint() ([]byte, uint64) {
	s.headMu.Lock()
	defer s.headMu.Unlock()
	if s.head == nil {
		return []byte(pDue), s.headGen
	}
	return s.head, s.headGen
}

// setHead records where a scan found the first live entry. A scan that
// started before the writer scheduled something earlier (gen moved on)
// may have missed that entry, so it does not move the head.
func (s *Store) setHead(k []byte, gen uint64) {
	s.headMu.Lock()
	defer s.headMu.Unlock()
	if gen == s.headGen && (s.head == nil || bytes.Compare(k, s.head) > 0) {
		s.head = k
	}
}

// lowerHead is called by the writer with the schedule entries a batch
// wrote, once its commit is visible to new scans.
func (s *Store) lowerHead(keys [][]byte) {
	if len(keys) == 0 {
		return
	}
	s.headMu.Lock()
	defer s.headMu.Unlock()
	s.headGen++
	for _, k := range keys {
		if s.head != nil && bytes.Compare(k, s.head) < 0 {
			s.head = k
		}
	}
}
