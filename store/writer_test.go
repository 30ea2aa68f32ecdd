package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestLingerFor: a batch waits an eighth of the last commit, never less
// than 1 ms (a fast disk) nor more than 20 ms (a stuck one).
func TestLingerFor(t *testing.T) {
	for _, c := range []struct{ last, want time.Duration }{
		{0, time.Millisecond},
		{400 * time.Microsecond, time.Millisecond},
		{30 * time.Millisecond, 3750 * time.Microsecond},
		{80 * time.Millisecond, 10 * time.Millisecond},
		{2 * time.Second, 20 * time.Millisecond},
	} {
		if got := lingerFor(c.last); got != c.want {
			t.Errorf("lingerFor(%s) = %s; want %s", c.last, got, c.want)
		}
	}
}

// TestCommitCounters: concurrent writes share commits, and the counters
// say so (writes ÷ commits is the batch size status reports).
func TestCommitCounters(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 200
	errs := make(chan error, n)
	for i := range n {
		go func() { _, err := s.Enqueue(context.Background(), formRecord(fmt.Sprint("CNT-", i), 1)); errs <- err }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Writes != n || st.Commits < 1 || st.Commits > n {
		t.Errorf("commits %d, writes %d; want %d writes in at most as many commits", st.Commits, st.Writes, n)
	}
	t.Logf("%d writes in %d commits", st.Writes, st.Commits)
}
