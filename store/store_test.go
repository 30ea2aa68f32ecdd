package store_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/store"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

func openBadger(t *testing.T, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(store.Options{Dir: dir, DedupWindow: 24 * time.Hour, Retention: 24 * time.Hour, MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Run("Badger", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Queue {
			s := openBadger(t, t.TempDir())
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("Memory", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Queue { return storetest.NewMemory() })
	})
}

// TestReopen checks that everything committed survives a close and reopen,
// with its schedule, counters and dead letters.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openBadger(t, dir)
	var ids []string
	for i := range 300 {
		r := storetest.NewRecord("ref-"+string(rune('a'+i%26))+string(rune('a'+i/26)), notification.Amount(100+i), storetest.T0.Add(time.Duration(i)*time.Millisecond))
		if _, err := s.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if err := s.Update(ctx, ids[0], func(r *notification.Record) error {
		r.State, r.Reason = notification.Dead, "test"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openBadger(t, dir)
	defer s.Close()
	st := s.Stats()
	if st.Pending != 299 || st.Dead != 1 {
		t.Fatalf("after reopen stats = %+v; want 299 pending, 1 dead", st)
	}
	for i, id := range ids {
		r, err := s.Get(id)
		if err != nil {
			t.Fatalf("record %d lost after reopen: %v", i, err)
		}
		if r.Payload.Amount != notification.Amount(100+i) {
			t.Fatalf("record %d amount = %v", i, r.Payload.Amount)
		}
	}
}

// TestFullDiskRefusesInput checks the guard: with a budget smaller than what
// is stored, new input is refused with ErrFull and nothing is written, while
// delivery bookkeeping still works.
func TestFullDiskRefusesInput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.Open(store.Options{Dir: dir, MaxDisk: 1, MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Enqueue(ctx, storetest.NewRecord("ref-full", 100, storetest.T0))
	if err == nil || !errorsIs(err, notification.ErrFull) {
		t.Fatalf("enqueue over budget err = %v; want ErrFull", err)
	}
	if st := s.Stats(); st.Pending != 0 || st.Full == "" {
		t.Errorf("stats = %+v; want nothing pending and Full explained", st)
	}
}

// TestUnreadableStoreMovedAside checks that a store Badger cannot open is
// moved aside and a fresh one starts.
func TestUnreadableStoreMovedAside(t *testing.T) {
	dir := t.TempDir() + "/store"
	s := openBadger(t, dir)
	if _, err := s.Enqueue(context.Background(), storetest.NewRecord("ref-1", 100, storetest.T0)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := writeGarbage(dir + "/MANIFEST"); err != nil {
		t.Fatal(err)
	}
	s = openBadger(t, dir)
	defer s.Close()
	if s.MovedAside == "" {
		t.Fatal("a store with a garbled MANIFEST opened without being moved aside")
	}
	if _, err := s.Get(notification.NewID("pos", "core", "t1", "ref-1")); err == nil {
		t.Error("the fresh store holds the old record")
	}
	if st := statDir(s.MovedAside); !st {
		t.Errorf("moved-aside directory %s does not exist", s.MovedAside)
	}
}

// TestFreeSpaceReserve checks the other half of the guard: below the free
// space reserve new input is refused even within the budget.
func TestFreeSpaceReserve(t *testing.T) {
	s, err := store.Open(store.Options{Dir: t.TempDir(), MinFree: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Enqueue(context.Background(), storetest.NewRecord("ref-1", 100, storetest.T0))
	if !errorsIs(err, notification.ErrFull) || !strings.Contains(err.Error(), "free space") {
		t.Fatalf("err = %v; want ErrFull naming the free space", err)
	}
}

// TestRetentionPrunesDeliveredOnly: delivered records go after retention,
// pending ones stay, and the dedup entry still answers a resend.
func TestRetentionPrunesDeliveredOnly(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(store.Options{Dir: t.TempDir(), MinFree: 1, Retention: time.Second, DedupWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	done, waiting := storetest.NewRecord("done", 100, now), storetest.NewRecord("waiting", 100, now)
	for _, r := range []*notification.Record{done, waiting} {
		if _, err := s.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(ctx, done.ID, func(r *notification.Record) error { r.State = notification.Delivered; return nil }); err != nil {
		t.Fatal(err)
	}
	// Badger's TTL counts whole seconds of the wall clock: the record must
	// be gone within a few of them.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, err := s.Get(done.ID)
		if errorsIs(err, notification.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a delivered record outlived store.retention by 9 s: %v", err)
		}
	}
	if _, err := s.Get(waiting.ID); err != nil {
		t.Errorf("a pending record was pruned: %v", err)
	}
	if st, err := s.Enqueue(ctx, storetest.NewRecord("done", 100, now)); err != nil || st != notification.StatusDuplicate {
		t.Errorf("resend after the record was pruned = %q, %v; want duplicate from the dedup index", st, err)
	}
	other := storetest.NewRecord("done", 999, now)
	var ce *notification.ConflictError
	if _, err := s.Enqueue(ctx, other); !errorsAs(err, &ce) || !strings.Contains(ce.Diff, "retention") {
		t.Errorf("different content after pruning: %v; want a conflict explaining the details are gone", err)
	}
}

// TestEncryptionAtRest: with a key, no payload text is readable in the
// store's files; the right key reads everything back; a wrong or missing
// key is refused and the store is not moved aside.
func TestEncryptionAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key := []byte("0123456789abcdef0123456789abcdef")
	open := func(k []byte) (*store.Store, error) {
		return store.Open(store.Options{Dir: dir, MinFree: 1, EncryptionKey: k, DedupWindow: time.Hour, Retention: time.Hour})
	}
	s, err := open(key)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 200 {
		r := storetest.NewRecord(fmt.Sprintf("SECRET-PAYMENT-REF-%d", i), 100, storetest.T0)
		r.Raw = []byte(fmt.Sprintf(`{"customer":"AMAKA EXAMPLE %d","transactionRef":"SECRET-PAYMENT-REF-%d"}`, i, i))
		if _, err := s.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	s.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	scanned := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		scanned += len(b)
		for _, text := range []string{"SECRET-PAYMENT-REF", "AMAKA EXAMPLE", "transactionRef"} {
			if strings.Contains(string(b), text) {
				t.Errorf("%s holds %q in clear text", filepath.Base(f), text)
			}
		}
	}
	if scanned < 10000 {
		t.Fatalf("only %d bytes scanned; the store wrote nowhere the test looked", scanned)
	}
	for _, k := range [][]byte{[]byte("ffffffffffffffffffffffffffffffff"), nil} {
		if s, err := open(k); err == nil {
			s.Close()
			t.Errorf("opened an encrypted store with key %q", k)
		} else if !strings.Contains(err.Error(), "store.encryption_key_file") {
			t.Errorf("wrong key: %v; want it to name store.encryption_key_file", err)
		}
	}
	if aside, _ := filepath.Glob(dir + ".unreadable-*"); len(aside) > 0 {
		t.Fatalf("a key mismatch moved the store aside: %v", aside)
	}
	s, err = open(key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range ids {
		if _, err := s.Get(id); err != nil {
			t.Fatalf("record lost after reopening with the key: %v", err)
		}
	}
}

// TestReopenLargeTable writes enough notifications that Badger builds
// tables of several MB, then reopens the store and checks every one. It is
// what `make armv7-check` runs under qemu-arm: Badger's allocator corrupts
// such tables on 32-bit ARM (docs/design.md).
func TestReopenLargeTable(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 3000
	}
	ctx := context.Background()
	dir := t.TempDir()
	s := openBadger(t, dir)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				r := storetest.NewRecord(fmt.Sprintf("BIG-%06d", i), notification.Amount(i+1), storetest.T0)
				r.Raw = bytes.Repeat([]byte{'a' + byte(i%26)}, 700)
				if _, err := s.Enqueue(ctx, r); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openBadger(t, dir)
	defer s.Close()
	missing := 0
	for i := range n {
		r, err := s.Get(notification.NewID("pos", "core", "t1", fmt.Sprintf("BIG-%06d", i)))
		if err != nil || r.Payload.Amount != notification.Amount(i+1) || len(r.Raw) != 700 || r.Raw[0] != 'a'+byte(i%26) {
			missing++
		}
	}
	if st := s.Stats(); missing > 0 || st.Pending != int64(n) {
		t.Fatalf("after reopening: %d of %d notifications missing or wrong, %d pending counted", missing, n, st.Pending)
	}
}

// TestReopenTablesOfEveryRecordSize writes incompressible records from a
// few hundred bytes to past the blob size, plain and encrypted, until
// Badger has flushed and compacted tables of them, then reopens the store
// and reads every one. On 32-bit ARM large entries once made Badger's
// table builder outgrow its first buffer and write blocks over each other
// (docs/armv7.md); make test runs this suite under qemu-arm.
func TestReopenTablesOfEveryRecordSize(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			opts := store.Options{Dir: t.TempDir(), DedupWindow: 24 * time.Hour, Retention: 24 * time.Hour, MinFree: 1}
			if encrypted {
				opts.EncryptionKey = bytes.Repeat([]byte{7}, 32)
			}
			s, err := store.Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(1, 2))
			sizes := map[string]int{}
			written := 0
			for i := 0; written < 24<<20; i++ {
				r := storetest.NewRecord(fmt.Sprintf("SIZE-%05d", i), notification.Amount(i+1), storetest.T0)
				r.Raw = make([]byte, 200+rng.IntN(80<<10))
				for j := range r.Raw {
					r.Raw[j] = byte(rng.Uint32())
				}
				if _, err := s.Enqueue(ctx, r); err != nil {
					t.Fatal(err)
				}
				sizes[r.ID] = len(r.Raw)
				written += len(r.Raw)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if s, err = store.Open(opts); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			bad := 0
			for id, n := range sizes {
				if r, err := s.Get(id); err != nil || len(r.Raw) != n {
					bad++
				}
			}
			if bad > 0 {
				t.Fatalf("after reopening: %d of %d records missing or cut", bad, len(sizes))
			}
		})
	}
}

// TestTruncatedBlobs: records of 64 KB or more keep their bodies in blobs;
// blobs cut short (a damaged disk) must not stop the queue. The readable
// records stay due, the lost ones are set aside and counted.
func TestTruncatedBlobs(t *testing.T) {
	dir := t.TempDir()
	s := openBadger(t, dir)
	for i := range 60 {
		r := storetest.NewRecord(fmt.Sprintf("C-%02d", i), 100, storetest.T0.Add(time.Duration(i)*time.Second))
		// Records of 64 KB or more keep their bodies in blobs; random
		// bytes, so that compression cannot bring one under it.
		r.Raw = make([]byte, 80<<10)
		rand.NewChaCha8([32]byte{byte(i)}).Read(r.Raw)
		s.Enqueue(context.Background(), r)
	}
	s.Close()
	blobs, _ := filepath.Glob(filepath.Join(dir, "blobs", "*"))
	if len(blobs) != 60 {
		t.Fatalf("%d blobs for 60 large records", len(blobs))
	}
	for _, f := range blobs[:30] {
		fi, _ := os.Stat(f)
		os.Truncate(f, fi.Size()/2)
	}
	s = openBadger(t, dir)
	defer s.Close()
	if s.MovedAside != "" {
		t.Fatalf("moved aside: %s", s.MovedAside)
	}
	var got []*notification.Record
	deadline := time.Now().Add(5 * time.Second)
	for {
		var due []*notification.Record
		seq, _ := s.Due(storetest.T0.Add(time.Hour), nil)
		for r, err := range seq {
			if err != nil {
				t.Fatalf("Due failed on a damaged record; the whole queue would stall: %v", err)
			}
			due = append(due, r)
		}
		got = due
		if st := s.Stats(); st.Damaged > 0 && st.Damaged+int64(len(due)) == 60 && st.Pending == int64(len(due)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v with %d readable due", s.Stats(), len(due))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(got) != 30 {
		t.Errorf("%d readable records; want the 30 whose blobs are whole", len(got))
	}
	t.Logf("%d readable and still due, %d set aside as damaged", len(got), s.Stats().Damaged)
}

// TestReceivedWindow: the receive-time index gives the notifications
// received in a window, in order, and forgets a dropped one.
func TestReceivedWindow(t *testing.T) {
	ctx := context.Background()
	s := openBadger(t, t.TempDir())
	defer s.Close()
	var ids []string
	for i := range 5 {
		r := storetest.NewRecord(fmt.Sprintf("W-%d", i), 100, storetest.T0.Add(time.Duration(i)*time.Hour))
		if _, err := s.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	window := func() []string {
		var got []string
		for r, err := range s.Received(storetest.T0.Add(time.Hour), storetest.T0.Add(4*time.Hour)) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, r.TransactionRef())
		}
		return got
	}
	if got := fmt.Sprint(window()); got != "[W-1 W-2 W-3]" {
		t.Errorf("received in [1h, 4h): %s", got)
	}
	if err := s.Drop(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(window()); got != "[W-1 W-3]" {
		t.Errorf("after dropping W-2: %s", got)
	}
}
