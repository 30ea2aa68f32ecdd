package store

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
)

// TestDueSeesEntryCommittedDuringScan holds a batch between being built and
// being committed while a Due scan runs, the window in which acknowledged
// notifications used to wait, never attempted, for a restart: the scan
// moved the scan head past an entry it could not see yet.
func TestDueSeesEntryCommittedDuringScan(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), DedupWindow: time.Hour, Retention: time.Hour, MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	record := func(ref string, at time.Time) *notification.Record {
		return &notification.Record{
			ID: notification.NewID("till", "core", "t", ref), Source: "till", Provider: "core", Tenant: "t", DedupKey: ref, ReceivedAt: at,
			Payload:  &notification.Payload{TenantID: "t", TransactionRef: ref, Amount: 100, TransactionDate: at},
			Delivery: notification.Delivery{State: notification.Pending, NextAttempt: at},
		}
	}
	later := record("later", t0.Add(time.Second))
	if _, err := s.Enqueue(ctx, later); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	// A scan with every record in flight: it finds nothing to send but
	// sets the head at the only entry.
	if due, err := collect(s, now, map[string]bool{later.ID: true}); err != nil || len(due) != 0 {
		t.Fatalf("first scan: %d due, %v", len(due), err)
	}

	// Received earlier, committed later: receive times are not in commit
	// order.
	built, release := make(chan struct{}), make(chan struct{})
	s.beforeCommit = func() {
		s.beforeCommit = nil // the writer is the only goroutine that reads it
		close(built)
		<-release
	}
	earlier := record("earlier", t0)
	enqueued := make(chan error, 1)
	go func() {
		_, err := s.Enqueue(ctx, earlier)
		enqueued <- err
	}()
	<-built
	if _, err := collect(s, now, map[string]bool{later.ID: true, earlier.ID: true}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-enqueued; err != nil {
		t.Fatal(err)
	}

	due, err := collect(s, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range due {
		ids = append(ids, r.DedupKey)
	}
	if len(due) != 2 || due[0].ID != earlier.ID {
		t.Fatalf("due after the commit: %v; want [earlier later]: an acknowledged notification would wait for a restart", ids)
	}
}

// collect takes every record of a Due pass.
func collect(s *Store, now time.Time, skip map[string]bool) ([]*notification.Record, error) {
	seq, _ := s.Due(now, skip)
	var out []*notification.Record
	for r, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// On 32-bit builds every table builder must stay in its allocator's first
// buffer (2 × its table size): the worst case of Badger's builder, worked
// out from its code (table/builder.go, levels.go), for a flush of a full
// memtable and for a compaction, plain and encrypted. qemu-arm runs the
// store suite itself in make test; this keeps the sizes from drifting.
func TestThirtyTwoBitBuildersStayInTheirFirstBuffer(t *testing.T) {
	const (
		padding   = 256                      // Badger's per-block slack
		entryMore = 512                      // key, header, offsets and checksum of one entry
		memtable  = memTableSize * 115 / 100 // a batch may land on a full memtable
		maxAlloc  = 1<<31 - 1                // a larger first buffer is not possible
		l0ToL0    = 4                        // level-0 tables Badger merges into one of any size
	)
	table, block := baseTableSizeFor(32), int64(blockSizeFor(32))
	buffer := 2 * table
	if buffer > maxAlloc {
		t.Fatalf("first buffer %d does not fit a 32-bit int", buffer)
	}
	if _, stall := level0LimitsFor(32); stall >= l0ToL0 {
		t.Errorf("32-bit level 0 may hold %d tables: Badger merges four into a table whose size wraps a 32-bit int", stall)
	}
	for _, encrypted := range []bool{false, true} {
		entry := int64(blobMinFor(32, encrypted)) + entryMore
		if entry > block {
			t.Errorf("encrypted=%v: an entry of %d bytes outgrows a %d-byte block (its buffer is then doubled twice)", encrypted, entry, block)
			continue
		}
		// A block is closed when the next entry does not fit, so each
		// holds at least block-entry bytes and takes block+padding.
		perByte := float64(block+padding) / float64(block-entry)
		if encrypted {
			perByte++ // the sealed copy of each block
		}
		for _, c := range []struct {
			name string
			data int64
		}{
			{"memtable flush", memtable},
			{"compaction", table*95/100 + block},
		} {
			if need := int64(perByte * float64(c.data)); need > buffer {
				t.Errorf("encrypted=%v, %s: up to %d bytes in a first buffer of %d", encrypted, c.name, need, buffer)
			}
		}
	}
	if got := baseTableSizeFor(64); got != 1<<20 {
		t.Errorf("64-bit table size changed to %d", got)
	}
	if got := blockSizeFor(64); got != 4<<10 {
		t.Errorf("64-bit block size changed to %d", got)
	}
	if got := blobMinFor(64, true); got != blobMin {
		t.Errorf("64-bit blob size changed to %d", got)
	}
}

// A store written with level 0 stalled at 40 tables (every earlier release)
// is opened by a 32-bit build: before its compactors start, level 0 is
// moved down below the four tables Badger would merge into one, and every
// record is still there.
func TestSettleLevelZeroMovesAnEarlierLevelZeroDown(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, DedupWindow: 24 * time.Hour, Retention: 24 * time.Hour, MinFree: 1}
	// Written as earlier releases did, on every build: with 32 tables
	// before level 0 is compacted, eight leave Badger no reason to merge
	// them, so this is safe on 32-bit builds too.
	level0TablesNow, level0StallNow = level0LimitsFor(64)
	s, err := Open(opts)
	level0TablesNow, level0StallNow = level0LimitsFor(strconv.IntSize)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []string
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 4000; i++ {
		r := formRecord(fmt.Sprintf("L0-%05d", i), notification.Amount(i+1))
		r.Raw = make([]byte, 8<<10) // incompressible: 32 MB, eight memtables
		for j := range r.Raw {
			r.Raw[j] = byte(rng.Uint32())
		}
		if _, err := s.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	readOnly := runtime.GOOS != "windows" // Badger opens nothing read-only on Windows
	before, err := levelZeroTables(opts, log, readOnly)
	if err != nil {
		t.Fatal(err)
	}
	if before < level0Merge {
		t.Fatalf("the test wrote only %d level-0 tables; it needs %d or more", before, level0Merge)
	}
	if err := settleLevelZeroWith(opts, log, level0Merge); err != nil {
		t.Fatal(err)
	}
	after, err := levelZeroTables(opts, log, readOnly)
	if err != nil {
		t.Fatal(err)
	}
	if after >= level0Merge {
		t.Fatalf("level 0 still holds %d tables (%d before)", after, before)
	}
	t.Logf("level 0: %d tables before, %d after", before, after)
	if s, err = Open(opts); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range ids {
		if _, err := s.Get(id); err != nil {
			t.Fatalf("%s after settling: %v", id, err)
		}
	}
}
