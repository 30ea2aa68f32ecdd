package provider

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
)

// signer makes a fuzzed body genuine: it returns the body and headers a
// provider holding the test key would send, so that the fuzzer reaches the
// parser and mapper the way a real (or compromised) sender does.
type signer func(body []byte) ([]byte, http.Header)

// fuzzParser checks, for any body signed as its provider signs it, that
// verifying and parsing never panic; that a signed body is refused only
// when it cannot be genuine or is not JSON at all (a clear 4xx); and that
// every body taken is queued as a sale that renders as JSON with a positive
// amount and a transactionRef, or ignored, or held with a reason.
func fuzzParser(f *testing.F, p Provider, sign signer, seeds ...string) {
	for _, glob := range seeds {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			b, _ := os.ReadFile(file)
			f.Add(b)
		}
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	_, core := p.(*Core)
	if !core {
		p = Holding(p, "t")
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		body, header := sign(body)
		req := &Request{Body: body, Header: header, Received: fuzzReceived}
		if err := p.Verify(req); err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Status < 400 || pe.Status > 499 || pe.Msg == "" {
				t.Fatalf("verify refused a signed body with %v, not a clear 4xx", err)
			}
			return
		}
		parsed, err := p.Parse(req)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Status != 400 || pe.Msg == "" {
				t.Fatalf("refusal %v is not a clear 400", err)
			}
			if !core && json.Valid(body) {
				t.Fatalf("a genuine JSON body was refused (%v); it must be held", err)
			}
			return
		}
		if parsed.DedupKey == "" {
			t.Fatal("accepted without a dedup key")
		}
		if parsed.Ignored != "" && parsed.Held != "" {
			t.Fatal("both ignored and held")
		}
		if parsed.Ignored != "" || parsed.Held != "" {
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

var fuzzReceived = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Each provider's signature over a fuzzed body, with the fixtures' keys.

func signCore(body []byte) ([]byte, http.Header) {
	return body, http.Header{"Signature": {notification.Sign("till-secret", body)}}
}

func signMonnify(body []byte) ([]byte, http.Header) {
	return body, http.Header{"Monnify-Signature": {macHex(sha512.New, monnifySecret, body)}}
}

func signMoniepoint(body []byte) ([]byte, http.Header) {
	return signMoniepointAt(body, "fuzz-event", strconv.FormatInt(fuzzReceived.UnixMilli(), 10))
}

func signMoniepointAt(body []byte, id, ts string) ([]byte, http.Header) {
	m := hmac.New(sha256.New, []byte(moniepointSecret))
	m.Write([]byte(id + "__" + ts + "__"))
	m.Write(body)
	return body, http.Header{"Moniepoint-Webhook-Id": {id}, "Moniepoint-Webhook-Timestamp": {ts},
		"Moniepoint-Webhook-Signature": {base64.StdEncoding.EncodeToString(m.Sum(nil))}}
}

// signOPay puts the sha512 member OPay computes over the payload's fields
// at the end of the body's object, where it is the one read.
func signOPay(body []byte) ([]byte, http.Header) {
	top, err := object(body, "the body")
	if err != nil {
		return body, http.Header{}
	}
	payload, err := sub(top, "payload")
	if err != nil {
		return body, http.Header{}
	}
	sig := `"sha512":"` + macHex(newSHA3, opayKey, []byte(opaySigningString(payload))) + `"}`
	inner := bytes.TrimSpace(body)
	inner = bytes.TrimSpace(inner[1 : len(inner)-1])
	if len(inner) == 0 {
		return []byte("{" + sig), http.Header{}
	}
	return append(append([]byte("{"), inner...), []byte(","+sig)...), http.Header{}
}

// signOPayPOS sends the headers OPay's POS webhook carries: this merchant,
// and the transaction the body names.
func signOPayPOS(body []byte) ([]byte, http.Header) {
	h := http.Header{"Merchantid": {"256600000000002"}}
	if top, err := object(body, "the body"); err == nil {
		if d, err := sub(top, "data"); err == nil {
			h.Set("X-Opay-Tranid", text(d, "payNo"))
			if text(d, "payNo") == "" {
				h.Set("X-Opay-Tranid", text(d, "orderNo"))
			}
		}
	}
	return body, h
}

func signVesicash(body []byte) ([]byte, http.Header) {
	return body, http.Header{"X-Vesicash-Webhook-Secret": {macHex(sha256.New, vesicashKey, []byte(vesicashKey+":"+vesicashBusiness))}}
}

func FuzzCore(f *testing.F) {
	fuzzParser(f, &Core{Tenant: "t", Secret: "till-secret"}, signCore, "../notification/testdata/*.json")
}

func FuzzMonnify(f *testing.F) {
	fuzzParser(f, &Monnify{Secret: monnifySecret, Tenant: "t"}, signMonnify, "testdata/monnify/*.json")
}

func FuzzMoniepoint(f *testing.F) {
	fuzzParser(f, &Moniepoint{Secret: moniepointSecret, Tenant: "t", MaxSkew: 5 * time.Minute}, signMoniepoint, "testdata/moniepoint-pos/*.json")
}

func FuzzOPay(f *testing.F) {
	fuzzParser(f, &OPay{Secret: opayKey, Tenant: "t"}, signOPay, "testdata/opay/cashier_*.json")
}

func FuzzOPayPOS(f *testing.F) {
	fuzzParser(f, &OPayPOS{MerchantID: "256600000000002", Tenant: "t"}, signOPayPOS, "testdata/opay/offline_*.json")
}

func FuzzVesicash(f *testing.F) {
	fuzzParser(f, &Vesicash{Secret: vesicashKey, BusinessID: vesicashBusiness, Mode: "A", Tenant: "t"}, signVesicash, "testdata/vesicash/*.json")
}

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
