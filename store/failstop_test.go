package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/store"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

// diskFault stands in for a failing disk: while it is on, every sync of a
// store file fails with EIO; it records the files synced.
type diskFault struct {
	mu     sync.Mutex
	on     bool
	synced []string
}

var errIO = errors.New("input/output error")

func (f *diskFault) sync(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.synced = append(f.synced, filepath.Base(path))
	if f.on {
		return errIO
	}
	return nil
}

func (f *diskFault) set(on bool) {
	f.mu.Lock()
	f.on, f.synced = on, nil
	f.mu.Unlock()
}

func (f *diskFault) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	got := f.synced
	f.synced = nil
	return got
}

// waitUntil polls cond until it holds, failing after a generous deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestFailedSyncStopsAcknowledging is hole 3: after a sync of the store's
// log fails, the batch is already applied in Badger. The write must fail,
// every write after it must be refused until the store has re-opened
// itself, and a resend of the record whose sync failed must be written
// and synced again, not answered "duplicate" (which earlier releases did,
// with nothing synced).
func TestFailedSyncStopsAcknowledging(t *testing.T) {
	dir := t.TempDir()
	fault := &diskFault{}
	s, err := store.Open(store.Options{Dir: dir, MinFree: 1, DedupWindow: time.Hour, SyncFault: fault.sync})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	ctx := context.Background()
	if _, err := s.Enqueue(ctx, storetest.NewRecord("SF-0", 100, storetest.T0)); err != nil {
		t.Fatal(err)
	}

	fault.set(true)
	r := storetest.NewRecord("SF-1", 100, storetest.T0)
	if st, err := s.Enqueue(ctx, r); !errors.Is(err, store.ErrSyncFailed) {
		t.Fatalf("enqueue whose sync failed = %q, %v; want ErrSyncFailed", st, err)
	}
	st := s.Stats()
	if st.WritesRefused == "" || st.SyncFailures != 1 || st.SyncFailedAt.IsZero() {
		t.Errorf("after a failed sync: refused %q, %d failures at %v", st.WritesRefused, st.SyncFailures, st.SyncFailedAt)
	}
	// While the disk fails, the store cannot re-open: everything is refused.
	for _, again := range []*notification.Record{storetest.NewRecord("SF-1", 100, storetest.T0), storetest.NewRecord("SF-2", 100, storetest.T0)} {
		if st, err := s.Enqueue(ctx, again); !errors.Is(err, store.ErrSyncFailed) {
			t.Errorf("enqueue of %s while refusing = %q, %v; want ErrSyncFailed", again.DedupKey, st, err)
		}
	}
	if err := s.Update(ctx, r.ID, func(*notification.Record) error { return nil }); !errors.Is(err, store.ErrSyncFailed) {
		t.Errorf("update while refusing = %v; want ErrSyncFailed", err)
	}
	// The writer still answers: the watchdog must not have the daemon
	// killed before the re-open.
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping while refusing = %v; want nil", err)
	}

	fault.set(false)
	waitUntil(t, "the store to re-open", func() bool { return s.Stats().WritesRefused == "" })
	fault.take()
	got, err := s.Enqueue(ctx, storetest.NewRecord("SF-1", 100, storetest.T0))
	if err != nil || got != notification.StatusQueued {
		t.Fatalf("resend of the record whose sync failed = %q, %v; want queued", got, err)
	}
	if synced := fault.take(); !containsSuffix(synced, ".mem") {
		t.Errorf("the resend synced %v; want the memtable log", synced)
	}
	if got, err := s.Enqueue(ctx, storetest.NewRecord("SF-1", 100, storetest.T0)); err != nil || got != notification.StatusDuplicate {
		t.Errorf("a second resend = %q, %v; want duplicate once it is synced", got, err)
	}
	if got, err := s.Enqueue(ctx, storetest.NewRecord("SF-0", 100, storetest.T0)); err != nil || got != notification.StatusDuplicate {
		t.Errorf("a resend of a record synced before the failure = %q, %v; want duplicate", got, err)
	}
	if st := s.Stats(); st.Pending != 2 || st.SyncFailures != 1 || st.WritesRefused != "" {
		t.Errorf("after the re-open: %d pending, %d failures, refused %q; want 2, 1, none", st.Pending, st.SyncFailures, st.WritesRefused)
	}

	// Both are on disk.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(store.Options{Dir: dir, MinFree: 1, DedupWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"SF-0", "SF-1"} {
		if _, err := s.Get(notification.NewID("pos", "core", "t1", ref)); err != nil {
			t.Errorf("%s after a reopen: %v", ref, err)
		}
	}
}

func containsSuffix(names []string, suffix string) bool {
	for _, n := range names {
		if strings.HasSuffix(n, suffix) {
			return true
		}
	}
	return false
}

// TestNothingGoesOutBeforeItsSync: a notification is visible in Badger
// from its commit, but on disk only once the sync that follows returns.
// Until then Due does not hand it out: were the sync to fail, what was
// sent could not be recorded, and it would be sent again after the
// re-open.
func TestNothingGoesOutBeforeItsSync(t *testing.T) {
	syncing, release := make(chan struct{}), make(chan struct{})
	var held sync.Once
	var hold bool
	var mu sync.Mutex
	fault := func(path string) error {
		mu.Lock()
		h := hold
		mu.Unlock()
		if h && strings.HasSuffix(path, ".mem") {
			held.Do(func() { close(syncing); <-release })
		}
		return nil
	}
	s, err := store.Open(store.Options{Dir: t.TempDir(), MinFree: 1, SyncFault: fault})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mu.Lock()
	hold = true
	mu.Unlock()
	r := storetest.NewRecord("IN-SYNC", 100, storetest.T0)
	done := make(chan error, 1)
	go func() { _, err := s.Enqueue(context.Background(), r); done <- err }()
	<-syncing // committed in Badger, its sync under way
	due := func() int {
		seq, _ := s.Due(storetest.T0.Add(time.Hour), nil)
		n := 0
		for _, err := range seq {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	if n := due(); n != 0 {
		t.Errorf("Due handed out %d notification(s) whose sync had not returned", n)
	}
	if _, err := s.Get(r.ID); err != nil {
		t.Fatalf("the record is not visible in Badger during its sync, so the test shows nothing: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := due(); n != 1 {
		t.Errorf("after its sync, Due hands out %d; want the one", n)
	}
}
