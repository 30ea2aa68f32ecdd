package provider

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fuzzParser checks, for any body, that a parser never panics, that every
// refusal is a clear 400 or 401, and that every sale it accepts renders as
// JSON with a positive amount and a transactionRef.
func fuzzParser(f *testing.F, p Provider, seeds ...string) {
	for _, glob := range seeds {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			b, _ := os.ReadFile(file)
			f.Add(b)
		}
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := &Request{Body: body, Header: http.Header{}, Received: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		parsed, err := p.Parse(req)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || (pe.Status != 400 && pe.Status != 401) || pe.Msg == "" {
				t.Fatalf("refusal %v is not a clear 400/401", err)
			}
			return
		}
		if parsed.DedupKey == "" {
			t.Fatal("accepted without a dedup key")
		}
		if parsed.Ignored != "" || parsed.Dead != "" {
			return
		}
		out := parsed.Payload.Render()
		if !json.Valid(out) {
			t.Fatalf("rendered invalid JSON: %s", out)
		}
		if parsed.Payload.Amount <= 0 || parsed.Payload.TransactionRef == "" {
			t.Fatalf("accepted a sale without an amount or reference: %s", out)
		}
	})
}

func FuzzCore(f *testing.F) {
	fuzzParser(f, &Core{Tenant: "t"}, "../notification/testdata/*.json")
}

func FuzzMonnify(f *testing.F) { fuzzParser(f, &Monnify{Tenant: "t"}, "testdata/monnify/*.json") }

func FuzzMoniepoint(f *testing.F) {
	fuzzParser(f, &Moniepoint{Tenant: "t"}, "testdata/moniepoint-pos/*.json")
}

func FuzzOPay(f *testing.F) { fuzzParser(f, &OPay{Tenant: "t"}, "testdata/opay/cashier_*.json") }

func FuzzOPayPOS(f *testing.F) { fuzzParser(f, &OPayPOS{Tenant: "t"}, "testdata/opay/offline_*.json") }

func FuzzVesicash(f *testing.F) { fuzzParser(f, &Vesicash{Tenant: "t"}, "testdata/vesicash/*.json") }
