package ingest_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/provider"
	"github.com/fluxrelay/fluxrelay/store"
)

const fuzzMonnifySecret = "fuzz-monnify-secret"

// FuzzAcceptedIsDeliverable: whatever the intake acknowledges, the
// delivery path can read back and map. Each input goes through the intake
// into a real store in a temporary folder, as an unsigned core body or as
// a Monnify body signed with the source's key (so that it reaches the
// parser as a provider's own would); whatever is stored is read back from
// the store, and its raw body and rendered payload must be exactly what
// was accepted.
func FuzzAcceptedIsDeliverable(f *testing.F) {
	files, _ := filepath.Glob("../provider/testdata/monnify/*.json")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(true, b, "X-Note", "n")
	}
	for _, seed := range []string{
		`{"transactionRef":"R-1","amount":"8200.00","customer":{"name":"A"},"extra":{"b":[1,2,{"c":null}]}}`,
		`{"transactionRef":"R-2","amount":1,"x":` + nested(63) + `}`,
		`{"transactionRef":"R-3","amount":1,"x":` + nested(10000) + `}`,
		`{"transactionRef":"R-4","amount":1,"amount":2}`,
		`{"transactionRef":"R-5","amount":1,"Amount":2}`,
		`{"transactionRef":"R-6","amount":1e400}`,
		`{"transactionRef":"\ud800","amount":1,"k":"\udfff"}`,
	} {
		f.Add(false, []byte(seed), "X-Note", "a\r\nb")
	}
	st, err := store.Open(store.Options{Dir: memoryDir(f), DedupWindow: time.Hour, Retention: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	in := ingest.NewIntake(st, nil, time.Now)
	in.SetLimits(ingest.Limits{MaxBody: 256 << 10, DedupWindow: time.Hour})
	in.SetSources([]*ingest.Source{
		{Name: "till", Provider: "core", Verifier: &provider.Core{Tenant: "t"}},
		{Name: "monnify", Provider: "monnify", Verifier: provider.Holding(&provider.Monnify{Secret: fuzzMonnifySecret, Tenant: "t"}, "t")},
	})
	f.Fuzz(func(t *testing.T, signed bool, body []byte, name, value string) {
		header := http.Header{name: {value}}
		source := "till"
		if signed {
			source = "monnify"
			m := hmac.New(sha512.New, []byte(fuzzMonnifySecret))
			m.Write(body)
			header.Set("monnify-signature", hex.EncodeToString(m.Sum(nil)))
		}
		req := &provider.Request{Body: append([]byte(nil), body...), Header: header, Received: time.Now()}
		a := in.Accept(context.Background(), source, req, ingest.Meta{})
		if !a.Outcome.Stored() {
			if a.Error == "" {
				t.Fatalf("refused (%s) without a message", a.Outcome)
			}
			return
		}
		if a.Outcome == ingest.Duplicate {
			return
		}
		got, err := st.Get(a.ID)
		if err != nil {
			t.Fatalf("acknowledged as %s, then the store cannot read it back: %v", a.Outcome, err)
		}
		if !bytes.Equal(got.Raw, body) {
			t.Fatalf("the raw body read back differs from the one accepted")
		}
		if got.Payload == nil {
			if a.Outcome == ingest.Queued {
				t.Fatal("queued without a payload to deliver")
			}
			return
		}
		parsed, err := in.Source(source).Verifier.Parse(req)
		if err != nil || parsed.Payload == nil {
			t.Fatalf("accepted, but the provider cannot parse it again: %v", err)
		}
		want, rendered := parsed.Payload.Render(), got.Payload.Render()
		if !bytes.Equal(rendered, want) {
			t.Fatalf("the payload read back renders\n%s\nnot what was accepted:\n%s", rendered, want)
		}
	})
}

// memoryDir is a temporary folder in memory (/dev/shm) when the system has
// one: the fuzzer stores every input it generates, and a sync to a disk
// shared with other work can take seconds.
func memoryDir(f *testing.F) string {
	dir, err := os.MkdirTemp("/dev/shm", "fluxrelay-fuzz-")
	if err != nil {
		return f.TempDir()
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
