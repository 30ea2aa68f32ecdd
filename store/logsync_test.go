package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestLogSync: where the store syncs Badger's logs itself, each write
// syncs the memtable log that holds it; when Badger starts a new memtable
// log, the one before is synced too and the new one followed; a record big
// enough for the value log syncs that as well; and a ping syncs nothing.
func TestLogSync(t *testing.T) {
	if !ownLogSync {
		t.Skip("Badger syncs its own logs on this system")
	}
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	var synced []string
	record := func(p string) {
		mu.Lock()
		synced = append(synced, filepath.Base(p))
		mu.Unlock()
	}
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		got := synced
		synced = nil
		return got
	}
	s.logs.mem.synced, s.logs.vlog.synced = record, record
	ctx := context.Background()

	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if got := take(); len(got) != 0 {
		t.Errorf("a ping synced %v", got)
	}

	first := s.logs.mem.fid
	if _, err := s.Enqueue(ctx, formRecord("SYNC-0", 1)); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%05d.mem", first)
	if got := take(); !slices.Equal(got, []string{want}) {
		t.Errorf("one write synced %v; want [%s]", got, want)
	}

	// Fill past a memtable (4 MB): records that do not compress.
	for i := 0; s.logs.mem.fid == first; i++ {
		if i > 2000 {
			t.Fatal("no new memtable log after 2 000 records of 4 KB")
		}
		r := formRecord(fmt.Sprint("SYNC-FILL-", i), 1)
		r.Raw = make([]byte, 4<<10)
		rand.Read(r.Raw)
		if _, err := s.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got := take()
	next := fmt.Sprintf("%05d.mem", first+1)
	if !slices.Contains(got, want) || got[len(got)-1] != next {
		t.Errorf("across a new memtable log the syncs end with %v; want %s synced and then %s", got[max(0, len(got)-3):], want, next)
	}

	big := formRecord("SYNC-BIG", 1)
	big.Raw = make([]byte, 100<<10)
	rand.Read(big.Raw)
	if _, err := s.Enqueue(ctx, big); err != nil {
		t.Fatal(err)
	}
	got = take()
	if len(got) != 2 || !strings.HasSuffix(got[0], ".vlog") || got[1] != next {
		t.Errorf("a record for the value log synced %v; want the value log, then %s", got, next)
	}
	if back, err := s.Get(big.ID); err != nil || !bytes.Equal(back.Raw, big.Raw) {
		t.Errorf("the big record read back: %v", err)
	}
}
