package store

import (
	"context"
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
