package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/windows"
)

// TestLogSyncFindsBadgersView: on Windows the store finds the view Badger
// mapped of its memtable log, which is what it must flush before the file
// for a commit to be on disk.
func TestLogSyncFindsBadgersView(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Enqueue(context.Background(), formRecord("VIEW-1", 1)); err != nil {
		t.Fatal(err)
	}
	logs := memLogs(t, dir)
	if len(logs) == 0 {
		t.Fatal("no memtable log")
	}
	path := filepath.Join(dir, logs[len(logs)-1])
	if base := findView(path); base == 0 {
		t.Errorf("no view of %s found in the process: its commits would not be flushed from the mapping", path)
	}
	f, err := openLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := datasync(f); err != nil {
		t.Errorf("sync %s: %v", path, err)
	}
	if n, ok := linkCount(f); !ok || n != 1 {
		t.Errorf("%s has %d names (%v); want 1", path, n, ok)
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

// underWine says whether these tests run under wine (its ntdll has
// wine_get_version), which does not report a file deleted while open as
// pending deletion, as Windows does.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

func init() {
	if underWine() {
		wineLacks = "skipped under wine: it does not report a file deleted while open as deleted (Windows does: linkCount)"
	}
}
