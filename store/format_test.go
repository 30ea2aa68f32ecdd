package store

import (
	"context"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/fluxrelay/fluxrelay/notification"
)

func record(ref string) *notification.Record {
	at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	return &notification.Record{
		ID: notification.NewID("core", "t1", ref), Source: "pos", Provider: "core", Tenant: "t1", DedupKey: ref,
		ReceivedAt: at, Raw: []byte(`{"transactionRef":"` + ref + `"}`),
		Payload:  &notification.Payload{TenantID: "t1", TransactionRef: ref, Amount: 100, TransactionDate: at},
		Delivery: notification.Delivery{State: notification.Pending, NextAttempt: at},
	}
}

// TestRecordsWrittenWhole: a record written whole with its state and no
// delivery key of its own (as stores before the split hold them) reads
// with that state, and updates from there.
func TestRecordsWrittenWhole(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	r := record("OLD-1")
	if _, err := s.Enqueue(ctx, r); err != nil {
		t.Fatal(err)
	}
	old := *r
	old.Attempts, old.LastStatus = 4, 503
	val, _ := encodeRecord(&old)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(recordKey(r.ID), val) }); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(r.ID); err != nil || got.Attempts != 4 || got.LastStatus != 503 {
		t.Fatalf("whole record read as %+v, %v; want its own state", got, err)
	}
	if err := s.Update(ctx, r.ID, func(x *notification.Record) error { x.Attempts++; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(r.ID); got.Attempts != 5 || got.LastStatus != 503 || string(got.Raw) != string(r.Raw) {
		t.Fatalf("after an update: %+v", got)
	}
}

// TestStaleDeliveryStateIgnored: a delivery state older than the record it
// would belong to (left by an earlier notification of the same id) does
// not describe the new one.
func TestStaleDeliveryStateIgnored(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := record("AGAIN-1")
	stale := *r
	stale.State, stale.Attempts = notification.Delivered, 7
	sv, _ := encodeState(&stale, time.Now())
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(stateKey(r.ID), sv) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(r.ID); err != nil || got.State != notification.Pending || got.Attempts != 0 {
		t.Fatalf("new record read as %+v, %v; want pending with no attempts", got.Delivery, err)
	}
}
