package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/store/storetest"
)

// TestReadableDamagedGoBack: a record set aside as damaged because its
// blob could not be read (here moved away; after a downgrade, an earlier
// release that did not know the blob form does the same) goes back to the
// queue at the next open once it reads whole; one still unreadable stays
// aside.
func TestReadableDamagedGoBack(t *testing.T) {
	dir := t.TempDir()
	s := openBadger(t, dir)
	for i := range 4 {
		r := storetest.NewRecord(fmt.Sprintf("Z-%d", i), 100, storetest.T0.Add(time.Duration(i)*time.Second))
		r.Raw = make([]byte, 80<<10)
		rand.NewChaCha8([32]byte{byte(i)}).Read(r.Raw)
		if _, err := s.Enqueue(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	blobs, _ := filepath.Glob(filepath.Join(dir, "blobs", "*"))
	if len(blobs) != 4 {
		t.Fatalf("%d blobs for 4 large records", len(blobs))
	}
	away := t.TempDir()
	for _, f := range blobs[:2] {
		if err := os.Rename(f, filepath.Join(away, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
	s = openBadger(t, dir)
	waitUntil(t, "two records set aside", func() bool {
		seq, _ := s.Due(storetest.T0.Add(time.Hour), nil)
		for range seq {
		}
		st := s.Stats()
		return st.Damaged == 2 && st.Pending == 2
	})
	s.Close()
	// One blob comes back (the disk was remounted, the release upgraded
	// again); the other stays lost.
	if err := os.Rename(filepath.Join(away, filepath.Base(blobs[0])), blobs[0]); err != nil {
		t.Fatal(err)
	}
	s = openBadger(t, dir)
	defer s.Close()
	if st := s.Stats(); st.Damaged != 1 || st.Pending != 3 {
		t.Fatalf("after the reopen: %d damaged, %d pending; want 1 and 3", st.Damaged, st.Pending)
	}
	seq, _ := s.Due(storetest.T0.Add(time.Hour), nil)
	due := 0
	for r, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Raw) != 80<<10 {
			t.Errorf("%s reads back with %d bytes", r.ID, len(r.Raw))
		}
		due++
	}
	if due != 3 {
		t.Errorf("%d due; want the 3 readable ones", due)
	}
}
