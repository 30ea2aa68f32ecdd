package store

import (
	"context"
	"errors"
	"testing"

	"github.com/fluxrelay/fluxrelay/notification"
)

// TestAnyFingerprintIsADuplicate: a notification may be remembered under
// an earlier form of its fingerprint (an earlier release's). A repeat
// matching any of its forms is a duplicate, whether the earlier one's
// record is kept or only its dedup entry is left; one matching none is a
// conflict.
func TestAnyFingerprintIsADuplicate(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	defer func() { fingerprintsOf = (*notification.Record).Fingerprints }()
	// The current form depends on the raw body too, the legacy form on the
	// reference and amount only.
	legacy := func(r *notification.Record) []byte {
		return []byte("legacy:" + r.Payload.TransactionRef + ":" + r.Payload.Amount.String())
	}
	current := func(r *notification.Record) []byte {
		return []byte("current:" + string(r.Raw) + r.Payload.Amount.String())
	}
	earlierRelease := func(r *notification.Record) [][]byte { return [][]byte{legacy(r)} }
	thisRelease := func(r *notification.Record) [][]byte { return [][]byte{current(r), legacy(r)} }

	// Stored by an earlier release, then past retention: only the dedup
	// entry (the hash of the legacy form) is left.
	fingerprintsOf = earlierRelease
	gone := formRecord("FP-GONE", 100)
	if _, err := s.Enqueue(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	// Stored by this release and kept.
	fingerprintsOf = thisRelease
	kept := formRecord("FP-KEPT", 100)
	if _, err := s.Enqueue(ctx, kept); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name   string
		r      *notification.Record
		status notification.Status
	}{
		{"a repeat matching the dedup entry's legacy form", formRecord("FP-GONE", 100), notification.StatusDuplicate},
		{"a repeat matching the kept record's legacy form only", withRaw(formRecord("FP-KEPT", 100), "another rendering"), notification.StatusDuplicate},
		{"other content past retention", formRecord("FP-GONE", 999), ""},
		{"other content, kept", formRecord("FP-KEPT", 999), ""},
	} {
		st, err := s.Enqueue(ctx, c.r)
		var ce *notification.ConflictError
		switch {
		case c.status != "" && (err != nil || st != c.status):
			t.Errorf("%s = %q, %v; want %s", c.name, st, err, c.status)
		case c.status == "" && !errors.As(err, &ce):
			t.Errorf("%s = %q, %v; want a conflict", c.name, st, err)
		}
	}
}

func withRaw(r *notification.Record, raw string) *notification.Record {
	r.Raw = []byte(raw)
	return r
}
