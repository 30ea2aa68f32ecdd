package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/fluxrelay/fluxrelay/notification"
)

// valueLogUse is how much of the store's value logs holds data, beyond
// their headers (the files are sparse).
func valueLogUse(t *testing.T, dir string) int64 {
	t.Helper()
	vlogs, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	var n int64
	for _, p := range vlogs {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		n += allocated(fi)
	}
	return n
}

// TestLargeRecordValueBeforePointer is hole 2: a record of 64 KB or more
// went to Badger's value log, and its pointer to the memtable log; a sync
// of both cannot keep the kernel from writing the pointer's page first, and
// a power cut in between leaves a pointer to nothing. Now the record's
// body is in a blob synced (file, then directory) before the commit that
// refers to it, nothing goes to the value log, and updates (the relay
// rewrites a record at every attempt) rewrite only the small record.
func TestLargeRecordValueBeforePointer(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var events []string
	note := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	s, err := Open(Options{Dir: dir, MinFree: 1, SyncFault: func(p string) error {
		note("sync " + filepath.ToSlash(strings.TrimPrefix(p, dir+string(filepath.Separator))))
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.beforeCommit = func() { note("commit") }
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		got := events
		events = nil
		return got
	}
	before := valueLogUse(t, dir)
	take()

	ctx := context.Background()
	big := formRecord("BIG-1", 150000)
	big.Raw = make([]byte, 200<<10)
	rand.Read(big.Raw)
	if st, err := s.Enqueue(ctx, big); err != nil || st != notification.StatusQueued {
		t.Fatalf("enqueue = %q, %v", st, err)
	}
	got := take()
	blob := -1
	for i, e := range got {
		if strings.HasPrefix(e, "sync blobs/"+big.ID) {
			blob = i
		}
	}
	if blob < 0 || len(got) < blob+4 || got[blob+1] != "sync blobs" || got[blob+2] != "commit" || !strings.HasSuffix(got[blob+3], ".mem") {
		t.Fatalf("a large record's writes: %v; want its blob synced, the blobs directory synced, the commit, the memtable log synced", got)
	}

	for i := range 5 {
		err := s.Update(ctx, big.ID, func(r *notification.Record) error {
			r.Attempts++
			r.LastStatus = 503
			r.NextAttempt = r.NextAttempt.Add(time.Minute)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range take() {
			if strings.Contains(e, "blobs") || strings.Contains(e, ".vlog") {
				t.Errorf("update %d wrote %s: only the small record changes", i, e)
			}
		}
	}
	if use := valueLogUse(t, dir); use > before+(16<<10) {
		t.Errorf("the value logs grew from %d to %d bytes: a value went there", before, use)
	}
	back, err := s.Get(big.ID)
	if err != nil || back.Attempts != 5 || string(back.Raw) != string(big.Raw) || back.Payload.Amount != big.Payload.Amount {
		t.Fatalf("read back: %v", err)
	}
	if err := s.Drop(ctx, big.ID); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "blobs", "*")); len(left) != 0 {
		t.Errorf("the blob outlived its record: %v", left)
	}
}

// writeLegacyStore writes n records the way the release at the end of the
// first development round did: plain records, every one of 512 bytes or
// more in the value log (here in 1 MB files), and deletes every one of
// del in n; it returns the ids kept.
func writeLegacyStore(t *testing.T, dir string, n, del int) []string {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).
		WithMemTableSize(memTableSize).WithValueThreshold(512).WithValueLogFileSize(1 << 20).
		WithCompression(options.None).WithBlockCacheSize(0).WithNumCompactors(2))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for i := 0; i < n; i += 100 {
		err := db.Update(func(txn *badger.Txn) error {
			for j := i; j < i+100 && j < n; j++ {
				r := formRecord(fmt.Sprintf("LEGACY-%05d", j), notification.Amount(100+j))
				r.Raw = make([]byte, 800)
				rand.Read(r.Raw)
				v, err := encodePlain(r)
				if err != nil {
					return err
				}
				if err := txn.Set(recordKey(r.ID), v); err != nil {
					return err
				}
				if j%del != 0 {
					kept = append(kept, r.ID)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err = db.Update(func(txn *badger.Txn) error {
		for j := 0; j < n; j += del {
			if err := txn.Delete(recordKey(formRecord(fmt.Sprintf("LEGACY-%05d", j), 0).ID)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return kept
}

// TestValueLogCollectionOfAnEarlierStore: a store of an earlier release
// keeps its records in the value log. Its collection must go on working,
// and what it moves must go to the LSM tree (the memtable log, which is
// synced before the old file goes), never to a value log again.
func TestValueLogCollectionOfAnEarlierStore(t *testing.T) {
	dir := t.TempDir()
	// Most of the value log is garbage, so collection has work to do,
	// and 299 records live in it.
	if kept := writeLegacyStore(t, dir, 4000, 1); len(kept) != 0 {
		t.Fatal("writeLegacyStore kept records it was told to delete")
	}
	kept := writeLegacyStore(t, dir, 300, 1<<30)
	vlogsBefore, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))

	var mu sync.Mutex
	var synced []string
	s, err := Open(Options{Dir: dir, MinFree: 1, SyncFault: func(p string) error {
		mu.Lock()
		synced = append(synced, filepath.Base(p))
		mu.Unlock()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	<-s.migrated
	// Compaction counts the deleted values; then collect.
	if err := s.flushMemtables(); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Flatten(1); err != nil {
		t.Fatal(err)
	}
	newest := func() string {
		v, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
		return v[len(v)-1]
	}
	headOf := newest()
	fi, _ := os.Stat(headOf)
	useBefore := allocated(fi)
	mu.Lock()
	synced = nil
	mu.Unlock()
	s.collectValueLog()
	vlogsAfter, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if len(vlogsAfter) >= len(vlogsBefore) {
		t.Fatalf("value-log collection deleted nothing: %d files before, %d after", len(vlogsBefore), len(vlogsAfter))
	}
	fi, _ = os.Stat(headOf)
	if use := allocated(fi); newest() != headOf || use > useBefore {
		t.Errorf("value-log collection wrote to the value log (%s: %d bytes, was %d)", newest(), use, useBefore)
	}
	mu.Lock()
	memSynced := false
	for _, name := range synced {
		memSynced = memSynced || strings.HasSuffix(name, ".mem")
	}
	mu.Unlock()
	if !memSynced {
		t.Errorf("what the collection moved was not synced: %v", synced)
	}
	for _, id := range kept {
		if _, err := s.Get(id); err != nil {
			t.Fatalf("record %s after the collection: %v", id, err)
		}
	}
}

// TestReadAsideFindsBlobs: the recovery step reads a store Badger cannot
// open by scanning its files; a large record's body and payload are in
// its blob, and must come back with it.
func TestReadAsideFindsBlobs(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	small := formRecord("ASIDE-SMALL", 100)
	big := formRecord("ASIDE-BIG", 250000)
	big.Raw = make([]byte, 150<<10)
	rand.Read(big.Raw)
	for _, r := range []*notification.Record{small, big} {
		if _, err := s.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(ctx, big.ID, func(r *notification.Record) error { r.Attempts = 2; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "MANIFEST"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	recs, how, err := ReadAside(dir)
	if err != nil || how != "scanned the store's files" {
		t.Fatalf("ReadAside = %d records, %q, %v", len(recs), how, err)
	}
	found := map[string]*notification.Record{}
	for _, r := range recs {
		found[r.ID] = r
	}
	if r := found[big.ID]; r == nil || string(r.Raw) != string(big.Raw) || r.Payload == nil || r.Payload.Amount != 250000 {
		t.Errorf("the large record read aside: %+v", r)
	} else if r.Attempts != 2 {
		t.Errorf("the large record read aside has %d attempts; want its latest state (2)", r.Attempts)
	}
	if found[small.ID] == nil {
		t.Error("the small record was not read aside")
	}
}

// TestBlobsAreSealedWithTheStoreKey: with an encryption key, a large
// record's blob holds nothing of its body in clear, and reads back whole.
func TestBlobsAreSealedWithTheStoreKey(t *testing.T) {
	dir := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	s, err := Open(Options{Dir: dir, MinFree: 1, EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := formRecord("SEALED-BIG", 100)
	big.Raw = []byte(strings.Repeat("customer 08031234567 paid for order 4471; ", 4000))
	big.Raw = append(big.Raw, make([]byte, 80<<10)...)
	rand.Read(big.Raw[len(big.Raw)-80<<10:])
	if _, err := s.Enqueue(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	blobs, _ := filepath.Glob(filepath.Join(dir, "blobs", "*"))
	if len(blobs) != 1 {
		t.Fatalf("blobs: %v", blobs)
	}
	data, _ := os.ReadFile(blobs[0])
	if strings.Contains(string(data), "08031234567") || strings.Contains(string(data), big.DedupKey) {
		t.Error("the blob holds the notification in clear")
	}
	back, err := s.Get(big.ID)
	if err != nil || string(back.Raw) != string(big.Raw) {
		t.Fatalf("read back: %v", err)
	}
	// A blob moved under another name does not open: the name is sealed in.
	other := filepath.Join(dir, "blobs", big.ID+"-0000000000000000")
	os.Rename(blobs[0], other)
	if _, err := s.blobs.open(filepath.Base(other), data); err == nil {
		t.Error("a sealed blob opened under another name")
	}
}
