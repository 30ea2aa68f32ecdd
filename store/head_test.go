package store

import (
	"context"
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
// buffer (2 × the table size), and a level-0 table holds a whole memtable.
func TestTableSizeKeeps32BitBuildersInTheirFirstBuffer(t *testing.T) {
	if got := baseTableSizeFor(32); 2*got < 2*memTableSize {
		t.Errorf("32-bit table size %d: a flushed %d-byte memtable can outgrow the builder's first buffer", got, memTableSize)
	}
	if got := baseTableSizeFor(64); got != 1<<20 {
		t.Errorf("64-bit table size changed to %d", got)
	}
}
