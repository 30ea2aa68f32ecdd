package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/fluxrelay/fluxrelay/notification"
)

// Under disk pressure (space.excess: the store near its budget, or the
// disk near its reserve) the store evicts delivered and ignored records
// older than store.keep_delivered, the oldest received first, until enough
// is freed, before any new input is refused. Pending notifications and
// dead letters are never evicted. An evicted record's dedup entry stays
// until store.dedup_window, so a resend is still answered "duplicate", as
// for Drop.
//
// Deleting a record frees nothing at once: Badger writes a tombstone, and
// the old version keeps its space until a compaction merges the two, and
// with level 0 holding 32 tables that can be far off. So after evicting,
// the store flushes the memtables (Badger's DropPrefix, on a key written
// for the purpose, is the only way it offers) and compacts the tree into
// one level (Flatten), which drops what was deleted; then it collects the
// value log (records of earlier releases live there) and sweeps the blobs.
// On a big store that is a long burst of disk work, so each round frees a
// good share of the budget (down to evictTo percent).

// evictBatch is how many records one eviction transaction deletes.
const evictBatch = 256

// evictIdle is how long the store waits after a round found nothing to
// evict before it looks again.
const evictIdle = 10 * time.Minute

// flushKey is written and dropped to make Badger flush its memtables.
var flushKey = []byte("~flush")

// askRelief has maintain evict now, without waiting for its next round.
func (s *Store) askRelief() {
	select {
	case s.relief <- struct{}{}:
	default:
	}
}

// relieve evicts what the disk pressure calls for, if any. It runs in
// maintain only, once the store is in the current format (the receive-time
// index it walks is complete).
func (s *Store) relieve() {
	s.relieveMu.Lock()
	defer s.relieveMu.Unlock()
	want := s.space.excess()
	if want <= 0 || !s.isMigrated() || time.Now().Before(s.idleEviction) {
		return
	}
	ids, err := s.pickEvictions(want)
	if err != nil {
		s.log.Warn("cannot choose what to evict for disk space", "err", err)
		return
	}
	if len(ids) == 0 {
		// All that is kept waits, is a dead letter or is recent: walking
		// it all again at once would find nothing more.
		s.idleEviction = time.Now().Add(evictIdle)
		return
	}
	n := 0
	for len(ids) > 0 {
		batch := ids[:min(evictBatch, len(ids))]
		ids = ids[len(batch):]
		k, err := s.evict(batch)
		n += k
		if err != nil {
			s.log.Warn("evicting delivered notifications for disk space failed", "err", err)
			break
		}
	}
	s.evicted.Add(int64(n))
	s.evictedAt.Store(s.opts.Now().UnixNano())
	if err := s.reclaim(); err != nil {
		s.log.Warn("compacting the store after evicting failed; the space comes back later", "err", err)
	}
	s.space.measure()
	s.log.Warn("the store was short of disk space: delivered and ignored notifications older than store.keep_delivered were evicted, oldest first (their dedup keys are kept); nothing waiting was touched. If this repeats, raise store.max_disk or free disk space",
		"evicted", n)
}

// evictable reports whether r may be evicted at now.
func (s *Store) evictable(r *notification.Record, now time.Time) bool {
	var done time.Time
	switch r.State {
	case notification.Delivered:
		done = r.DeliveredAt
	case notification.Ignored:
		done = r.StoredAt
	default:
		return false // pending and dead letters, never
	}
	if done.IsZero() {
		done = r.ReceivedAt
	}
	return now.Sub(done) >= s.opts.KeepDelivered
}

// pickEvictions walks the receive-time index from the oldest and returns
// evictable records until their size reaches want. It stops at records
// received within store.keep_delivered: none of them is finished earlier.
func (s *Store) pickEvictions(want int64) ([]string, error) {
	now := s.opts.Now()
	end := timeKey(pRecv, now.Add(-s.opts.KeepDelivered), "")
	var ids []string
	var freed int64
	cursor := []byte(pRecv)
	for cursor != nil && freed < want {
		var next []byte
		err := s.view(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pRecv)})
			defer it.Close()
			n := 0
			for it.Seek(cursor); it.Valid() && bytes.Compare(it.Item().Key(), end) < 0 && freed < want; it.Next() {
				if n++; n > migratePage {
					next = it.Item().KeyCopy(nil)
					return nil
				}
				_, id := splitTimeKey(pRecv, it.Item().Key())
				item, err := txn.Get(recordKey(id))
				if err != nil {
					continue // expired, or dropped
				}
				r, err := s.readRecord(txn, id, false)
				if err != nil || !s.evictable(r, now) {
					continue
				}
				ids = append(ids, id)
				freed += item.EstimatedSize() + s.blobs.size(r.Blob)
			}
			return nil
		})
		if err != nil {
			return ids, err
		}
		cursor = next
	}
	return ids, nil
}

// evict deletes the records among ids that are still evictable in one
// transaction, and returns how many it deleted.
func (s *Store) evict(ids []string) (int, error) {
	now := s.opts.Now()
	n := 0
	o := &op{size: 256 * len(ids)}
	o.apply = func(txn *badger.Txn, d *delta) error {
		n = 0
		for _, id := range ids {
			r, err := s.readRecord(txn, id, false)
			if err != nil || !s.evictable(r, now) {
				continue // replayed or gone since it was chosen
			}
			if err := s.drop(txn, id, d); err != nil && !isResult(err) {
				return err
			}
			n++
		}
		return nil
	}
	err := s.submit(context.Background(), o)
	if err != nil {
		n = 0
	}
	return n, err
}

// reclaim makes Badger give back the space of what was deleted: it
// flushes the memtables, compacts the tree into one level and collects
// the value log, then sweeps the blobs.
func (s *Store) reclaim() error {
	if err := s.flushMemtables(); err != nil {
		return err
	}
	s.dbMu.RLock()
	err := errReopening
	if s.db != nil {
		err = s.flatten()
	}
	s.dbMu.RUnlock()
	if err != nil {
		return err
	}
	s.collectValueLog()
	s.sweepBlobs()
	return nil
}

// flatten compacts the tree into one level, when the disk has room for it:
// compaction writes the new tables before it deletes the old ones, so it
// may need as much again as the tree takes, and Badger dies (SIGBUS) on a
// full disk. Without the room, the deleted records' space comes back as
// ordinary compactions reach them (the blobs' comes back at once). Call
// it with dbMu held.
func (s *Store) flatten() error {
	lsm, _ := s.db.Size()
	free, err := FreeBytes(s.opts.Dir)
	if err != nil || free < lsm+s.opts.MinFree {
		s.log.Info("not compacting the whole store after evicting: the disk has too little room to rewrite it; the space comes back as compaction reaches it",
			"tree", human(lsm), "free", human(free))
		return nil
	}
	return s.db.Flatten(1)
}

// flushMemtables has Badger write its memtables to tables. It holds the
// commit lock: Badger refuses writes meanwhile.
func (s *Store) flushMemtables() error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return errReopening
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(flushKey, nil) }); err != nil {
		return err
	}
	return s.db.DropPrefix(flushKey)
}

// sweepBlobs deletes the blobs no record refers to.
func (s *Store) sweepBlobs() {
	n, err := s.blobs.sweep(func(id, name string) (bool, error) {
		refers := false
		err := s.view(func(txn *badger.Txn) error {
			r, err := s.readRecord(txn, id, false)
			if errors.Is(err, notification.ErrNotFound) {
				return nil
			}
			if err != nil {
				refers = true // unreadable: keep what may be its blob
				return nil
			}
			refers = r.Blob == name
			return nil
		})
		return refers, err
	})
	if err != nil {
		s.log.Warn("sweeping the store's blobs failed", "err", err)
	}
	if n > 0 {
		s.log.Info("deleted blobs no notification refers to any more (expired, or left by a crash)", "count", n)
	}
}

// rewriteReserve is what delivering the waiting records will write again
// before compaction drops their old versions: each record once, and no
// more than level 0 holds before writes stall, since compacting it drops
// them.
func (s *Store) rewriteReserve() int64 {
	return min(s.pending.Load()*s.recordSize.Load(), level0Stall*memTableSize)
}

// noteRecordSize keeps a running average of a stored record's size.
func (s *Store) noteRecordSize(n int) {
	avg := s.recordSize.Load()
	if avg == 0 {
		avg = int64(n)
	}
	s.recordSize.Store(avg + (int64(n)-avg)/16)
}

// size is a blob's size on disk (0 for none).
func (b *blobStore) size(name string) int64 {
	if name == "" {
		return 0
	}
	fi, err := os.Stat(b.path(name))
	if err != nil {
		return 0
	}
	return fi.Size()
}
