package store

import (
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// sampleRecordSize starts the running average of a record's size from
// the oldest waiting records.
func (s *Store) sampleRecordSize() {
	_ = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pAge)})
		defer it.Close()
		var total, n int64
		for it.Rewind(); it.Valid() && n < 32; it.Next() {
			_, id := splitTimeKey(pAge, it.Item().Key())
			if item, err := txn.Get(recordKey(id)); err == nil {
				total += item.EstimatedSize()
				n++
			}
		}
		if n > 0 {
			s.recordSize.Store(total / n)
		}
		return nil
	})
}

// maintain measures disk use, evicts under disk pressure, collects the
// value log and sweeps away blobs no record refers to, now and then.
func (s *Store) maintain() {
	defer close(s.idle)
	measure := time.NewTicker(5 * time.Second)
	gc := time.NewTicker(gcEvery)
	defer measure.Stop()
	defer gc.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-measure.C:
			s.space.measure()
			s.relieve()
		case <-s.relief:
			s.relieve()
		case <-gc.C:
			if s.isMigrated() {
				s.collectValueLog()
				s.sweepBlobs()
			}
		}
	}
}

// collectValueLog rewrites what is still live in value log files that are
// mostly garbage, and deletes those files. Only stores written by earlier
// releases have values there; the values are moved into the LSM tree
// (valueThreshold). Where the store syncs Badger's logs itself, Badger
// writes what it moves without a sync and would delete the old file right
// after; but while an iterator is open it leaves the deletion to the
// moment the last one closes. So one is held open until what was moved is
// synced. If that sync fails, the iterator is left open (the old file
// stays) and the store fails stop like a commit (failstop.go).
func (s *Store) collectValueLog() {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return
	}
	if s.logs == nil {
		for s.db.RunValueLogGC(0.5) == nil {
		}
		return
	}
	txn := s.db.NewTransaction(false)
	it := txn.NewIterator(badger.IteratorOptions{})
	moved := false
	for s.db.RunValueLogGC(0.5) == nil {
		moved = true
	}
	if moved {
		s.commitMu.Lock()
		err := s.logs.sync(true)
		s.commitMu.Unlock()
		if err != nil {
			s.failSync(fmt.Errorf("after value-log collection: %w", err), nil, nil)
			return // the iterator stays open: the old value log is not deleted
		}
	}
	it.Close()
	txn.Discard()
}
