package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/fluxrelay/fluxrelay/notification"
)

// A store records its format in formatKey, so that the next migration
// knows where it starts. A store without it was written by a release
// before this one (format 0): from the end of the first development round
// on, records carry no reference or receive-time index (those came later
// and were written only for new records), dead letters and delivered
// records no attempt trail, and records of 512 bytes or more (later 64
// KB or more) live in Badger's value log.
//
// Format 1: every record is in the reference (f/) and receive-time (t/)
// indexes, and no record keeps 64 KB or more in Badger: a large one keeps
// its body, payload and headers in a blob (blob.go).
//
// Opening an older store brings it to the current format in the
// background, a page of records at a time through the writer (so that
// ingest and delivery go on): it back-fills the indexes, with the record's
// own expiry, and moves large records' bodies into blobs. It is done again
// from the start if it is interrupted (each step is idempotent), and the
// format is recorded when it is over. Value-log collection and eviction
// wait for it. An attempt trail is reconstructed when a record is read
// (reconstructTrail), so it needs no rewrite.
const (
	formatKey     = "m/format"
	formatVersion = 1
)

// FormatFile is written in the store's directory once the store is in
// the current format: tools that look before opening the store (the
// daemon's unclean-stop count) tell a store of an earlier release by it.
const FormatFile = "FORMAT"

// migratePage is how many records one step of the migration reads.
const migratePage = 256

// Versioned reports whether the store in dir was written by a release
// that records its format (this one or later).
func Versioned(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, FormatFile))
	return err == nil
}

// OpenedAs says what the store held when it was opened: its format (0 for
// a store written before releases recorded one) and, for such a store,
// whether it already had the receive-time index (t/), which every release
// since the one that began leaving a clean-stop marker wrote with each
// notification.
func (s *Store) OpenedAs() (format int, receiveIndex bool) {
	return s.formatAtOpen, s.formatAtOpen > 0 || s.indexedAtOpen
}

// hasAny reports whether any key starts with prefix.
func (s *Store) hasAny(prefix string) (bool, error) {
	found := false
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: false})
		defer it.Close()
		it.Rewind()
		found = it.Valid()
		return nil
	})
	return found, err
}

// openFormat reads the store's format at open; a new store (no records
// and no format) is given the current one at once.
func (s *Store) openFormat() (int, error) {
	v, err := s.readFormat()
	if err != nil || v > 0 {
		return v, err
	}
	if found, err := s.hasAny(pRecord); err != nil || found {
		return 0, err
	}
	err = s.db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte(formatKey), []byte(strconv.Itoa(formatVersion)))
	})
	if err == nil && s.logs != nil {
		err = s.logs.sync(false)
	}
	if err == nil {
		err = writeFileSynced(filepath.Join(s.opts.Dir, FormatFile), []byte(strconv.Itoa(formatVersion)+"\n"))
	}
	if err != nil {
		return 0, fmt.Errorf("record the store format: %w", err)
	}
	return formatVersion, nil
}

func (s *Store) readFormat() (int, error) {
	v := 0
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(formatKey))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) (err error) {
			v, err = strconv.Atoi(string(b))
			return err
		})
	})
	if err == nil && v > formatVersion {
		err = fmt.Errorf("the store was written by a newer release of fluxrelay (store format %d, this release reads up to %d); install that release again", v, formatVersion)
	}
	return v, err
}

func (s *Store) isMigrated() bool {
	select {
	case <-s.migrated:
		return true
	default:
		return false
	}
}

// migrate brings a store of an earlier format to the current one. On an
// error it tries again a minute later, from where it stopped.
func (s *Store) migrate() {
	defer close(s.migrated)
	start, cursor, total := time.Now(), []byte(pRecord), 0
	for {
		n, next, err := s.migratePage(cursor)
		total += n
		switch {
		case err == nil && next == nil:
			if err = s.setFormat(); err == nil {
				if total > 0 {
					s.log.Info("a store written by an earlier release was brought up to date: its records are indexed for find, report and replay",
						"from_format", s.formatAtOpen, "format", formatVersion, "records_updated", total, "took", time.Since(start).Round(time.Millisecond))
				}
				return
			}
		case err == nil:
			cursor = next
			continue
		}
		s.log.Warn("bringing the store up to date was interrupted; trying again in a minute", "err", err)
		select {
		case <-s.stop:
			return
		case <-time.After(time.Minute):
		}
	}
}

// migrationStep is what one record needs.
type migrationStep struct {
	id      string
	version uint64 // the record's revision when read: skipped if it changed
	expires uint64
	index   [][]byte // index keys missing
	whole   bool     // kept whole though large: to be moved to a blob
}

// migratePage reads a page of records from cursor and writes what they
// need; it returns how many it changed and where the next page starts
// (nil after the last).
func (s *Store) migratePage(cursor []byte) (int, []byte, error) {
	var steps []migrationStep
	var next []byte
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pRecord)})
		defer it.Close()
		for it.Seek(cursor); it.Valid(); it.Next() {
			if len(steps) == migratePage {
				next = it.Item().KeyCopy(nil)
				return nil
			}
			item := it.Item()
			id := string(item.Key()[len(pRecord):])
			st, err := s.planMigration(txn, item, id)
			if err != nil {
				s.log.Warn("a record of the earlier release cannot be read; it is left as it is", "id", id, "err", err)
				continue
			}
			if len(st.index) > 0 || st.whole {
				steps = append(steps, st)
			}
		}
		return nil
	})
	if err != nil || len(steps) == 0 {
		return 0, next, err
	}
	changed := 0
	o := &op{size: 512 * len(steps)}
	o.apply = func(txn *badger.Txn, d *delta) error {
		changed = 0
		for _, st := range steps {
			ok, err := s.applyMigration(txn, st, d)
			if err != nil {
				return err
			}
			if ok {
				changed++
			}
		}
		return nil
	}
	return changed, next, s.submit(context.Background(), o)
}

// planMigration says what one record needs.
func (s *Store) planMigration(txn *badger.Txn, item *badger.Item, id string) (migrationStep, error) {
	st := migrationStep{id: id, version: item.Version(), expires: item.ExpiresAt()}
	r, err := s.getRecord(txn, id)
	if err != nil {
		return st, err
	}
	for _, k := range indexKeys(r) {
		if _, err := txn.Get(k); errors.Is(err, badger.ErrKeyNotFound) {
			st.index = append(st.index, k)
		} else if err != nil {
			return st, err
		}
	}
	st.whole = r.Blob == "" && item.ValueSize() >= int64(s.blobMin)
	return st, nil
}

// applyMigration writes one record's step in txn, unless the record
// changed since it was planned (the writer then wrote what it needs).
func (s *Store) applyMigration(txn *badger.Txn, st migrationStep, d *delta) (bool, error) {
	item, err := txn.Get(recordKey(st.id))
	if errors.Is(err, badger.ErrKeyNotFound) || (err == nil && item.Version() != st.version) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, k := range st.index {
		e := badger.NewEntry(k, nil)
		e.ExpiresAt = st.expires // the record's own expiry
		if err := txn.SetEntry(e); err != nil {
			return false, err
		}
	}
	if st.whole {
		r, err := s.getRecord(txn, st.id)
		if err != nil {
			return false, nil // read before; left as it is
		}
		val, err := s.encode(r, d)
		if err != nil {
			return false, err
		}
		e := badger.NewEntry(recordKey(st.id), val)
		e.ExpiresAt = st.expires
		if err := txn.SetEntry(e); err != nil {
			return false, err
		}
		if d.touched == nil {
			d.touched = map[string]bool{}
		}
		d.touched[st.id] = true
	}
	return true, nil
}

// setFormat records the current format in the store, then in FormatFile.
func (s *Store) setFormat() error {
	o := &op{size: 64}
	o.apply = func(txn *badger.Txn, d *delta) error {
		return txn.Set([]byte(formatKey), []byte(strconv.Itoa(formatVersion)))
	}
	if err := s.submit(context.Background(), o); err != nil {
		return err
	}
	return writeFileSynced(filepath.Join(s.opts.Dir, FormatFile), []byte(strconv.Itoa(formatVersion)+"\n"))
}

// writeFileSynced writes a small file and syncs it and its directory.
func writeFileSynced(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDirectory(filepath.Dir(path))
}

// reconstructTrail gives a record of a release that kept no attempt trail
// the one attempt it can honestly show: the last, from its time, answer
// and error, marked as reconstructed. The attempts before it are counted
// as left out. Without it, a dead letter of that release would read as
// held (never sent).
func reconstructTrail(r *notification.Record) {
	if r.Attempts == 0 || len(r.Trail) > 0 || r.LastAttempt.IsZero() {
		return
	}
	r.Trail = []notification.Attempt{{At: r.LastAttempt, Status: r.LastStatus, Error: r.LastError, Reconstructed: true}}
	r.TrailLeftOut = r.Attempts - 1
}
