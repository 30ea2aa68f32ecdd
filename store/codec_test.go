package store

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/fluxrelay/fluxrelay/notification"
)

// TestRecordForms: a record is written compressed and read back whole; a
// record in the plain form of earlier releases is still read; and a scan
// of raw bytes finds both forms, as recover does in a damaged store.
func TestRecordForms(t *testing.T) {
	r := formRecord("FORM-1", 150050)
	r.Raw = []byte(`{"transactionRef":"FORM-1","note":"` + strings.Repeat("ab", 500) + `"}`)
	packed, err := encodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := encodePlain(r)
	if packed[0] != recordZstd || len(packed) >= len(plain)/2 {
		t.Errorf("compressed %d bytes of %d (first byte %#x)", len(packed), len(plain), packed[0])
	}
	for name, v := range map[string][]byte{"compressed": packed, "plain": plain} {
		var got notification.Record
		if err := decodeRecord(v, &got); err != nil || got.ID != r.ID || !bytes.Equal(got.Raw, r.Raw) || got.Payload.Amount != r.Payload.Amount {
			t.Errorf("%s: %v %+v", name, err, got)
		}
	}
	if err := decodeRecord(packed[:len(packed)-3], new(notification.Record)); err == nil {
		t.Error("a cut compressed record decoded")
	}

	other := formRecord("FORM-2", 1)
	otherPlain, _ := encodePlain(other)
	file := append(append(append([]byte("junk"), packed...), 0, 7, 7), otherPlain...)
	file = binary.BigEndian.AppendUint32(file, 0) // trailing noise
	found := map[string]bool{}
	keep := func(x *notification.Record) { found[x.ID] = true }
	scanCompressed(file, keep)
	scanPlain(file, keep)
	if !found[r.ID] || !found[other.ID] || len(found) != 2 {
		t.Errorf("the scan found %v", found)
	}
}

func formRecord(ref string, amount notification.Amount) *notification.Record {
	return &notification.Record{
		ID: notification.NewID("pos", "core", "t1", ref), Source: "pos", Provider: "core", Tenant: "t1", DedupKey: ref,
		Delivery: notification.Delivery{State: notification.Pending},
		Payload:  &notification.Payload{TenantID: "t1", TransactionRef: ref, Amount: amount},
	}
}
