package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// After a sync of the store's files fails, the kernel may already have
// dropped the pages it could not write and marked them clean: a second
// sync would succeed and prove nothing (PostgreSQL's "fsyncgate", 2018).
// Badger has applied the batch, so its records are visible, but they may
// never reach the disk from the page cache. So the store fails stop:
//
//   - every write is refused (ErrSyncFailed, which the intake answers with
//     503 and Retry-After) until the store has been re-opened;
//   - it re-opens itself: closing Badger writes every memtable (the
//     failed batch's entries are there) to new tables, each synced, and
//     opening it again starts clean logs. While Close or Open fails, it
//     tries again, waiting longer each time (up to a minute);
//   - a record whose batch failed to sync is never answered "duplicate":
//     when it is sent again, it is written again and synced (unsynced).
//
// What is not promised: if the process dies before the re-open, what the
// failed batch wrote is as durable as the page cache happened to leave it.

// ErrSyncFailed is the error every write gets while the store refuses
// writes after a failed sync.
var ErrSyncFailed = errors.New("the gateway could not write to its disk; nothing new is accepted until its store has been re-opened (it is trying by itself); send again later")

// errReopening is what reads get while the store is being re-opened.
var errReopening = errors.New("the store is being re-opened after a failed write to the disk; try again shortly")

// errStoreClosing ends a re-open when the store is being closed.
var errStoreClosing = errors.New("the store is closing")

// syncFailure is why the store refuses writes.
type syncFailure struct {
	err error
	at  time.Time
}

func (f *syncFailure) refusal() error {
	return fmt.Errorf("%w (a sync of the store's files failed at %s: %v)", ErrSyncFailed, f.at.UTC().Format(time.RFC3339), f.err)
}

// maxUnsynced bounds the ids kept of records whose sync failed.
const maxUnsynced = 1 << 16

// failSync stops the store acknowledging after a failed sync of a
// committed batch: it keeps the ids of the records the batch wrote and
// starts the re-open.
func (s *Store) failSync(err error, batch []*op, errs []error) error {
	f := &syncFailure{err: err, at: s.opts.Now()}
	s.unsyncedMu.Lock()
	for i, o := range batch {
		if o.id != "" && errs[i] == nil && len(s.unsynced) < maxUnsynced {
			s.unsynced[o.id] = true
		}
	}
	s.unsyncedMu.Unlock()
	s.syncFailures.Add(1)
	s.lastFailure.Store(f)
	if s.failed.CompareAndSwap(nil, f) {
		s.log.Error("DISK WRITE FAILED: the store could not sync what it wrote; it accepts nothing new until it has re-opened itself. Check the disk (dmesg, fluxrelay doctor); if it keeps failing, replace the SD card",
			"err", err)
		s.reopening.Add(1)
		go s.reopen()
	}
	return f.refusal()
}

// synced forgets the unsynced ids a batch has now written and synced.
func (s *Store) synced(batch []*op, errs []error) {
	s.unsyncedMu.Lock()
	defer s.unsyncedMu.Unlock()
	if len(s.unsynced) == 0 {
		return
	}
	for i, o := range batch {
		if o.id != "" && errs[i] == nil {
			delete(s.unsynced, o.id)
		}
	}
}

func (s *Store) isUnsynced(id string) bool {
	s.unsyncedMu.Lock()
	defer s.unsyncedMu.Unlock()
	return s.unsynced[id]
}

// reopen closes and opens Badger until it succeeds or the store closes,
// then lets writes through again.
func (s *Store) reopen() {
	defer s.reopening.Done()
	wait := time.Second
	for {
		err := s.reopenOnce()
		if errors.Is(err, errStoreClosing) {
			return
		}
		if err == nil {
			s.failed.Store(nil)
			s.log.Warn("the store re-opened after the failed disk write and accepts notifications again; check the disk all the same")
			return
		}
		s.log.Error("re-opening the store after a failed disk write failed; trying again", "err", err, "in", wait)
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

// reopenOnce closes Badger (which writes its memtables to synced tables)
// and opens it again. Readers are turned away meanwhile (view).
func (s *Store) reopenOnce() error {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	select {
	case <-s.stop:
		return errStoreClosing // Close closes what is open
	default:
	}
	if s.db != nil {
		err := s.db.Close()
		s.logs.close()
		s.db, s.logs = nil, nil
		if err != nil {
			s.log.Error("closing the store after a failed disk write", "err", err)
		}
	}
	db, err := openBadger(s.opts, s.log)
	if err != nil {
		return err
	}
	var logs *logSync
	if ownLogSync {
		if logs, err = newLogSync(s.opts.Dir, s.opts.SyncFault); err != nil {
			db.Close()
			return err
		}
	}
	s.db, s.logs = db, logs
	return s.countIndexes()
}

// view runs fn in a read transaction, or returns errReopening while the
// store is being re-opened.
func (s *Store) view(fn func(txn *badger.Txn) error) error {
	if !s.dbMu.TryRLock() {
		return errReopening
	}
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return errReopening
	}
	return s.db.View(fn)
}
