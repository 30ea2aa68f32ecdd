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
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/fluxrelay/fluxrelay/notification"
)

// ReadAside reads every notification it can from a store that was moved
// aside. It opens the store with Badger when it can; when Badger cannot,
// it scans the store's files for records, so that what survived the
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
	// Blobs are read where they are: the copy is of Badger's files only.
	blobs := &blobStore{dir: filepath.Join(dir, "blobs")}
	if recs, err := readWithBadger(tmp, blobs); err == nil {
		return recs, "read with Badger", nil
	}
	recs, err = scanFiles(dir)
	return recs, "scanned the store's files", err
}

func readWithBadger(dir string, blobs *blobStore) (recs []*notification.Record, err error) {
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
			if err := it.Item().Value(func(v []byte) error { return decodeRecord(v, r) }); err != nil {
				continue
			}
			if r.Blob != "" && blobs.fill(r) != nil {
				continue // its body and payload are lost with the blob
			}
			reconstructTrail(r)
			recs = append(recs, r)
		}
		return nil
	})
	return recs, err
}

// scanFiles finds encoded records in the raw files of a store Badger
// cannot open: the value logs, the memtable logs and the tables (fluxrelay
// writes its tables uncompressed, so records sit in them whole). A plain
// record is a 4-byte length, then JSON that starts with {"id":; its raw
// body cannot be told apart from what follows it, so it is left out (the
// mapped payload is what delivery needs). A compressed record is found by
// its zstd frame and read whole. Where a record was found in several
// versions, the one with the most attempts, then the latest, is kept.
func scanFiles(dir string) ([]*notification.Record, error) {
	var files []string
	for _, ext := range []string{"*.vlog", "*.mem", "*.sst"} {
		found, _ := filepath.Glob(filepath.Join(dir, ext))
		files = append(files, found...)
	}
	sort.Strings(files)
	latest := map[string]*notification.Record{}
	keep := func(r *notification.Record) {
		if r.ID == "" {
			return
		}
		if old, ok := latest[r.ID]; ok && newerThan(old, r) {
			return
		}
		latest[r.ID] = r
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		scanPlain(b, keep)
		scanCompressed(b, keep)
	}
	if len(files) == 0 {
		return nil, errors.New("no store files to scan")
	}
	fillFromBlobs(filepath.Join(dir, "blobs"), latest)
	out := make([]*notification.Record, 0, len(latest))
	for _, r := range latest {
		if r.Payload == nil && r.Raw == nil && r.State != notification.Ignored {
			continue // its body and payload were in a blob that is lost
		}
		reconstructTrail(r)
		out = append(out, r)
	}
	return out, nil
}

// fillFromBlobs completes the records found in the blob form from the
// blobs (unencrypted ones: a scan cannot read an encrypted store), and
// adds, as they arrived, those whose records were not found at all.
func fillFromBlobs(dir string, latest map[string]*notification.Record) {
	names, _ := filepath.Glob(filepath.Join(dir, "*-*"))
	b := &blobStore{dir: dir}
	for _, p := range names {
		name := filepath.Base(p)
		id, _, _ := strings.Cut(name, "-")
		r, ok := latest[id]
		if ok && r.Blob != "" && r.Blob != name {
			continue // another version's blob
		}
		if !ok {
			// The record as it arrived: better than nothing.
			data, _ := os.ReadFile(p)
			enc, err := b.open(name, data)
			r = new(notification.Record)
			if err != nil || decodeRecord(enc, r) != nil || r.ID != id {
				continue
			}
			latest[id] = r
			continue
		}
		r.Blob = name
		if b.fill(r) == nil {
			latest[id] = r
		}
	}
}

// newerThan says whether a is a later version of the same record than b.
func newerThan(a, b *notification.Record) bool {
	if a.State != b.State && a.State != notification.Pending && b.State == notification.Pending {
		return true // delivered, dead or held come after waiting
	}
	if a.Attempts != b.Attempts {
		return a.Attempts > b.Attempts
	}
	return a.LastAttempt.After(b.LastAttempt)
}

func scanPlain(b []byte, keep func(*notification.Record)) {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`{"id":"`))
		if j < 0 {
			return
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
		if json.Unmarshal(b[at:at+n], r) == nil {
			keep(r)
		}
	}
}

func scanCompressed(b []byte, keep func(*notification.Record)) {
	for i := 0; ; {
		j := bytes.Index(b[i:], zstdMagic)
		if j < 0 {
			return
		}
		at := i + j
		i = at + 1
		// the marker and the frame's length come just before it
		for k := 1; k <= 3 && at-1-k >= 0; k++ {
			start := at - 1 - k
			if b[start] != recordZstd {
				continue
			}
			n, used := binary.Uvarint(b[start+1 : at])
			if used != k || n > uint64(len(b)-at) {
				continue
			}
			r := new(notification.Record)
			if decodeRecord(b[start:at+int(n)], r) == nil {
				keep(r)
				break
			}
		}
	}
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
