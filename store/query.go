package store

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/fluxrelay/fluxrelay/notification"
)

// maxScan bounds the keys one Due call walks past (in flight or skipped).
const maxScan = 4096

// Due returns up to limit pending notifications whose next attempt is at or
// before now, oldest schedule first, leaving out those skip says to (skip
// is called in schedule order, once per record, and may keep state). next is
// the time of the first later attempt (zero when none is scheduled).
func (s *Store) Due(now time.Time, limit int, skip func(*notification.Record) bool) (due []*notification.Record, next time.Time, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pDue)})
		defer it.Close()
		scanned := 0
		for it.Rewind(); it.Valid() && len(due) < limit && scanned < maxScan; it.Next() {
			scanned++
			at, id := splitTimeKey(pDue, it.Item().Key())
			if at.After(now) {
				next = at
				return nil
			}
			r, err := getRecord(txn, id)
			if errors.Is(err, notification.ErrNotFound) {
				continue // dropped between the index read and now
			}
			if err != nil {
				return err
			}
			if skip == nil || !skip(r) {
				due = append(due, r)
			}
		}
		return nil
	})
	return due, next, err
}

// Get returns the notification with this id.
func (s *Store) Get(id string) (*notification.Record, error) {
	var r *notification.Record
	err := s.db.View(func(txn *badger.Txn) (err error) {
		r, err = getRecord(txn, id)
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
	err := s.db.View(func(txn *badger.Txn) error {
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
		r, err = getRecord(txn, id)
		return err
	})
	return r, err
}

// DeadLetters returns every dead letter.
func (s *Store) DeadLetters() ([]*notification.Record, error) {
	var out []*notification.Record
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pDead)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			r, err := getRecord(txn, string(it.Item().Key()[len(pDead):]))
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// Stats is a snapshot of the store's counters.
type Stats struct {
	Pending       int64
	Dead          int64
	OldestPending time.Time // zero when nothing is pending
	DiskUsed      int64
	DiskFree      int64
	// Full says why new input is refused, or is empty.
	Full string
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	st := Stats{Pending: s.pending.Load(), Dead: s.dead.Load()}
	st.DiskUsed, st.DiskFree = s.space.usage()
	if err := s.space.check(); err != nil {
		st.Full = err.Error()
	}
	_ = s.db.View(func(txn *badger.Txn) error {
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
	err := s.db.View(func(txn *badger.Txn) error {
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
