package notification

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzFingerprintIsCanonical holds the payload's fingerprint, written from
// its fields, to its definition: the canonical JSON of its rendering
// without a defaulted date. And writeJSON's short way for plain text
// gives what encoding/json gives.
func FuzzFingerprintIsCanonical(f *testing.F) {
	f.Add("REF-1", "Ada Obi", "ada@example.com", int64(150050), "note", `"hello"`, "items", `[{"sku":"A1","qty":2.50}]`, false)
	f.Add("R\"2", "Ọbá <b>&", "\x00\u2028", int64(1), "zeta", `{"b":1,"a":[1e3,"x"]}`, "amount2", `12.0`, true)
	f.Add("R3", "", "", int64(99), "tenantId", `"dup"`, "x", `not json`, false)
	f.Fuzz(func(t *testing.T, ref, name, email string, kobo int64, k1, v1, k2, v2 string, defaulted bool) {
		p := &Payload{TenantID: "t1", TransactionRef: ref, PaymentRef: "P", PaymentMethod: "CARD", Amount: Amount(max(kobo, 1) % 1e15),
			Customer: Customer{ID: "c", Name: name, Email: email}, TransactionDate: time.Date(2026, 3, 14, 10, 0, 0, 5e6, time.UTC),
			DateDefaulted: defaulted, BankName: name}
		for _, kv := range [][2]string{{k1, v1}, {k2, v2}} {
			if kv[0] != "" && json.Valid([]byte(kv[1])) {
				var b bytes.Buffer
				if json.Compact(&b, []byte(kv[1])) == nil {
					p.Extra = append(p.Extra, Field{Key: kv[0], Value: b.Bytes()})
				}
			}
		}
		if got, want := p.Fingerprint(), Canonical(p.render(true)); !bytes.Equal(got, want) {
			t.Errorf("fingerprint\n%s\nwant the canonical rendering\n%s", got, want)
		}
		for _, s := range []string{ref, name, email} {
			var fast bytes.Buffer
			writeJSON(&fast, s)
			slow, _ := json.Marshal(s)
			var enc bytes.Buffer
			e := json.NewEncoder(&enc)
			e.SetEscapeHTML(false)
			_ = e.Encode(s)
			if want := bytes.TrimSuffix(enc.Bytes(), []byte("\n")); !bytes.Equal(fast.Bytes(), want) {
				t.Errorf("writeJSON(%q) = %s, want %s (json.Marshal: %s)", s, fast.Bytes(), want, slow)
			}
		}
	})
}
