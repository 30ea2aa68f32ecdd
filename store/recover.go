package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/dgraph-io/badger/v4"

	"github.com/fluxrelay/fluxrelay/notification"
)

// ReadAside reads every notification it can from a store that was moved
// aside. It opens the store with Badger when it can; when Badger cannot,
// it scans the value log files for records, so that what survived the
// damage is found. It never writes to dir.
func ReadAside(dir string) (recs []*notification.Record, how string, err error) {
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".recover-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(tmp)
	if err := copyDir(dir, tmp); err != nil {
		return nil, "", fmt.Errorf("copy %s: %w", dir, err)
	}
	if recs, err := readWithBadger(tmp); err == nil {
		return recs, "read with Badger", nil
	}
	recs, err = scanValueLogs(dir)
	return recs, "scanned the value log files", err
}

func readWithBadger(dir string) (recs []*notification.Record, err error) {
	opts := Options{Dir: dir}
	db, err := openBadger(opts, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pRecord)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			r := new(notification.Record)
			if err := it.Item().Value(func(v []byte) error { return decodeRecord(v, r) }); err == nil {
				recs = append(recs, r)
			}
		}
		return nil
	})
	return recs, err
}

// scanValueLogs finds encoded records (a 4-byte length, then JSON that
// starts with {"id":) in the raw value log files. Raw bodies cannot be
// told apart from what follows them there, so they are left out; the
// mapped payload is what delivery needs.
func scanValueLogs(dir string) ([]*notification.Record, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	sort.Strings(files)
	latest := map[string]*notification.Record{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for i := 0; ; {
			j := bytes.Index(b[i:], []byte(`{"id":"`))
			if j < 0 {
				break
			}
			at := i + j
			i = at + 1
			if at < 4 {
				continue
			}
			n := int(binary.BigEndian.Uint32(b[at-4:]))
			if n <= 0 || at+n > len(b) {
				continue
			}
			r := new(notification.Record)
			if json.Unmarshal(b[at:at+n], r) != nil || r.ID == "" {
				continue
			}
			latest[r.ID] = r // later entries are newer versions
		}
	}
	if len(files) == 0 {
		return nil, errors.New("no value log files to scan")
	}
	out := make([]*notification.Record, 0, len(latest))
	for _, r := range latest {
		out = append(out, r)
	}
	return out, nil
}

func copyDir(from, to string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			continue // an unreadable file is part of the damage
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
