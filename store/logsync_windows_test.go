package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// TestLogSyncFindsBadgersView: on Windows the store finds the view Badger
// mapped of its memtable log, which is what it must flush before the file
// for a commit to be on disk.
func TestLogSyncFindsBadgersView(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Enqueue(context.Background(), formRecord("VIEW-1", 1)); err != nil {
		t.Fatal(err)
	}
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	if len(s.logs.mem.held) == 0 {
		t.Fatal("the commit synced no memtable log")
	}
	for _, h := range s.logs.mem.held {
		if base := findView(h.f.Name()); base == 0 {
			t.Errorf("no view of %s found in the process: its commits would not be flushed from the mapping", h.f.Name())
		}
		if err := datasync(h.f); err != nil {
			t.Errorf("sync %s: %v", h.f.Name(), err)
		}
		if n, ok := linkCount(h.f); !ok || n != 1 {
			t.Errorf("%s has %d names (%v); want 1", h.f.Name(), n, ok)
		}
	}
}

// TestTablesFlushed: every table Badger writes (a full memtable written
// out, and the last one when the store closes) is flushed on Windows,
// where Badger's own flush of it does nothing.
func TestTablesFlushed(t *testing.T) {
	var mu sync.Mutex
	flushed := map[string]bool{}
	tableSynced = func(p string) { mu.Lock(); flushed[filepath.Base(p)] = true; mu.Unlock() }
	defer func() { tableSynced = nil }()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	pad := make([]byte, 6000)
	for i := range 2000 { // about 12 MB that does not compress: a few memtables written out
		rand.Read(pad)
		r := formRecord(fmt.Sprintf("TABLE-%d", i), 1)
		r.Raw = []byte(hex.EncodeToString(pad)[:6000])
		if _, err := s.Enqueue(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(tables) < 2 {
		t.Fatalf("%d tables written: the test wrote too little to fill a memtable before the close", len(tables))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range tables {
		if !flushed[filepath.Base(p)] {
			t.Errorf("%s was never flushed", filepath.Base(p))
		}
	}
	t.Logf("%d tables, each flushed", len(tables))
}
