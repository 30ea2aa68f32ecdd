package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
)

// TestEvictionBeforeRefusal is hole 5: a shop's delivered notifications
// (or junk sent to fill the disk) reach the disk budget. Earlier releases
// then refused every payment until retention pruned the delivered ones.
// Now delivered and ignored records older than keep_delivered are evicted,
// oldest first, before anything is refused; the space really comes back
// on disk (measured by the blocks the files take); what waits and the
// dead letters stay; an evicted notification's resend is still a
// duplicate.
func TestEvictionBeforeRefusal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("skipped on Windows: NTFS allocates Badger's logs whole, so an empty store takes about 41 MiB of disk, above this test's 20 MiB budget; eviction decides the same on every system")
	}
	var clock atomic.Int64
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	var budget int64 = 20 << 20
	if strconv.IntSize == 32 {
		// The 32-bit profile's 8 MiB tables and three level-0 tables
		// (docs/armv7.md) need more room while they are compacted.
		budget = 64 << 20
	}
	s, err := Open(Options{Dir: t.TempDir(), MaxDisk: budget, MinFree: 1, KeepDelivered: time.Hour,
		Retention: 30 * 24 * time.Hour, DedupWindow: 30 * 24 * time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()

	waiting := formRecord("EV-WAITING", 100)
	waiting.NextAttempt = t0.Add(100 * 24 * time.Hour)
	dead := formRecord("EV-DEAD", 200)
	dead.State, dead.Reason, dead.DeadAt = notification.Dead, "held for the test", t0
	for _, r := range []*notification.Record{waiting, dead} {
		if _, err := s.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	rng := rand.NewChaCha8([32]byte{5})
	record := func(i int) *notification.Record {
		r := formRecord(fmt.Sprintf("EV-%05d", i), notification.Amount(1000+i))
		r.ReceivedAt = now()
		r.Raw = make([]byte, 24<<10) // incompressible, under the blob size
		rng.Read(r.Raw)
		return r
	}
	// Write three times the budget: batches of 32 received ten minutes apart,
	// each delivered at once, with the store's upkeep between batches.
	written := 0
	for i := 0; int64(written) < 3*budget; i += 32 {
		var ids []string
		var wg sync.WaitGroup
		errs := make([]error, 32)
		for j := range 32 {
			r := record(i + j)
			ids = append(ids, r.ID)
			written += len(r.Raw)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[j] = s.Enqueue(ctx, r)
			}()
		}
		wg.Wait()
		for j, err := range errs {
			if errors.Is(err, notification.ErrFull) {
				t.Fatalf("payment %d refused with %d MiB written, %d evicted: %v", i+j, written>>20, s.Stats().Evicted, err)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		for k := 0; k < len(ids); k += 8 { // a transaction holds a few hundred KB
			_, err := s.UpdateEach(ctx, ids[k:k+8], func(r *notification.Record) error {
				r.State, r.DeliveredAt = notification.Delivered, now()
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		clock.Add(int64(10 * time.Minute))
		s.space.measure()
		s.relieve()
	}

	st := s.Stats()
	if st.Evicted == 0 || st.EvictedAt.IsZero() {
		t.Fatalf("nothing was evicted: %+v", st)
	}
	s.space.measure()
	if used := s.Stats().DiskUsed; used > budget {
		t.Errorf("the store takes %d MiB on disk, over its %d MiB budget", used>>20, budget>>20)
	}
	if st.Pending != 1 || st.Dead != 1 {
		t.Errorf("%d pending, %d dead letters after eviction; want 1 and 1", st.Pending, st.Dead)
	}
	for _, r := range []*notification.Record{waiting, dead} {
		if _, err := s.Get(r.ID); err != nil {
			t.Errorf("%s was evicted: %v", r.DedupKey, err)
		}
	}
	first := record(0)
	if _, err := s.Get(first.ID); !errors.Is(err, notification.ErrNotFound) {
		t.Errorf("the oldest delivered notification is still there (%v): eviction is oldest first", err)
	}
	if got, err := s.Enqueue(ctx, first); err != nil || got != notification.StatusDuplicate {
		t.Errorf("the resend of an evicted notification = %q, %v; want duplicate", got, err)
	}
	recent := record(int(st.Writes) + 1000)
	if got, err := s.Enqueue(ctx, recent); err != nil || got != notification.StatusQueued {
		t.Errorf("a new payment after eviction = %q, %v; want queued", got, err)
	}
	t.Logf("%d MiB written against a %d MiB budget: %d evicted, %d MiB on disk at the end",
		written>>20, budget>>20, st.Evicted, s.Stats().DiskUsed>>20)
}
