package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
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

// FuzzTopLevel checks the quick split of a JSON object against the
// token-by-token decoder: the same members, in the same order, with the
// same bytes, and the same refusals.
func FuzzTopLevel(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { "a" : 1 , "b":[1,{"c":"}"}] } `, `{"a":1,"a":2}`, `{"a":1,"\u0061":2}`,
		`{"k\"ey":"v\\"}`, `{"a":"\u00e9","é":null}`, `[1]`, `"s"`, `{"a":1}{"b":2}`, `{"a":1,}`,
		"{\"\xff\":1}", `{"a":{"b":{"c":[true,false,null,-1.5e3]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gotErr := topLevel(body)
		want, wantErr := topLevelTokens(body)
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("%q: error %v; token by token %v", body, gotErr, wantErr)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d members; token by token %d", body, len(got), len(want))
		}
		for i := range got {
			if got[i].Key != want[i].Key || !bytes.Equal(got[i].Value, want[i].Value) {
				t.Fatalf("%q: member %d is %q=%s; token by token %q=%s", body, i, got[i].Key, got[i].Value, want[i].Key, want[i].Value)
			}
		}
	})
}

// BenchmarkTopLevel compares the quick split with the token-by-token
// decoder on a 1 KB sale: go test -run '^$' -bench TopLevel ./provider/
func BenchmarkTopLevel(b *testing.B) {
	body := []byte(`{"transactionRef":"REF-1","paymentRef":"REF-1","amount":"15750.50","paymentMethod":"ACCOUNT_TRANSFER","customer":{"id":"FXV-TILL-0001","name":"Demo Shop Till 1","email":"till-1@demo-shop.example.com","phone":"+2348000000000"},"accountNumber":"0000000001","bankCode":"000013","bankName":"Example Bank","accountName":"AMAKA EXAMPLE","note":"` + strings.Repeat("n", 600) + `"}`)
	for _, c := range []struct {
		name string
		fn   func([]byte) ([]notification.Field, error)
	}{{"split", topLevel}, {"tokens", topLevelTokens}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := c.fn(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
