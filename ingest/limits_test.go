package ingest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/provider"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

// TestInputLimits holds each limit to its refusal: what is over it is
// refused (400, or 413 for the size) with a message naming it, nothing is
// stored, and what is just within it is taken.
func TestInputLimits(t *testing.T) {
	ref256, ref257 := strings.Repeat("R", 256), strings.Repeat("R", 257)
	cases := []struct {
		name, body string
		header     http.Header
		outcome    ingest.Outcome
		says       string
	}{
		{"within every limit", `{"transactionRef":"` + ref256 + `","amount":5,"x":` + nested(63) + `}`, nil, ingest.Queued, ""},
		{"nested 10,000 deep in an unknown key", `{"transactionRef":"R1","amount":5,"x":` + nested(10000) + `}`, nil, ingest.BadInput, "more than 64 deep (at byte"},
		{"nested 65 deep", `{"transactionRef":"R1","amount":5,"x":` + nested(64) + `}`, nil, ingest.BadInput, "64 deep"},
		{"a duplicate top-level key", `{"transactionRef":"R1","amount":5,"amount":1}`, nil, ingest.BadInput, "amount: given twice"},
		{"a duplicate nested key", `{"transactionRef":"R1","amount":5,"customer":{"name":"A","name":"B"}}`, nil, ingest.BadInput, "customer.name: given twice"},
		{"a duplicate deep in an unknown key", `{"transactionRef":"R1","amount":5,"x":[{"k":1},{"k":1,"k":2}]}`, nil, ingest.BadInput, "x.k: given twice"},
		{"a duplicate spelled with an escape", `{"transactionRef":"R1","amount":5,"\u0061mount":1}`, nil, ingest.BadInput, "amount: given twice"},
		{"Amount beside amount", `{"transactionRef":"R1","amount":5,"Amount":1}`, nil, ingest.BadInput, `Amount: differs from the documented key "amount" only in case`},
		{"TenantId", `{"transactionRef":"R1","amount":5,"TenantId":"other"}`, nil, ingest.BadInput, `TenantId: differs from the documented key "tenantId"`},
		{"customer.Phone", `{"transactionRef":"R1","amount":5,"customer":{"Phone":"1"}}`, nil, ingest.BadInput, `customer.Phone: differs`},
		{"a case variant in a free key is no concern", `{"transactionRef":"R1","amount":5,"meta":{"Amount":1}}`, nil, ingest.Queued, ""},
		{"a transactionRef of 257 bytes", `{"transactionRef":"` + ref257 + `","amount":5}`, nil, ingest.BadInput, "transactionRef: 257 bytes, longer than the 256"},
		{"a paymentRef of 257 bytes", `{"transactionRef":"R1","paymentRef":"` + ref257 + `","amount":5}`, nil, ingest.BadInput, "paymentRef: 257 bytes"},
		{"a line break in a header value", `{"transactionRef":"R1","amount":5}`, http.Header{"X-Note": {"a\r\nX-Evil: 1"}}, ingest.BadInput, "header X-Note: its value holds a control character"},
		{"a header name that is no token", `{"transactionRef":"R1","amount":5}`, http.Header{"X Note": {"a"}}, ingest.BadInput, `header "X Note": not a valid HTTP header name`},
		{"too many header values", `{"transactionRef":"R1","amount":5}`, http.Header{"X-Many": make([]string, 101)}, ingest.BadInput, "101 header values, more than the 100"},
		{"headers too large", `{"transactionRef":"R1","amount":5}`, http.Header{"X-Big": {strings.Repeat("v", 70<<10)}}, ingest.BadInput, "more than the 65536"},
		{"a body over max_body", `{"transactionRef":"R1","amount":5,"pad":"` + strings.Repeat("p", 32<<10) + `"}`, nil, ingest.TooLarge, "larger than http.max_body (32768 bytes)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := storetest.NewMemory()
			in := ingest.NewIntake(mem, nil, time.Now)
			in.SetLimits(ingest.Limits{MaxBody: 32 << 10, DedupWindow: 24 * time.Hour})
			in.SetSources([]*ingest.Source{{Name: "till", Provider: "core", Verifier: &provider.Core{Tenant: "t"}}})
			h := c.header
			if h == nil {
				h = http.Header{}
			}
			a := in.Accept(context.Background(), "till", &provider.Request{Body: []byte(c.body), Header: h, Received: time.Now()}, ingest.Meta{})
			if a.Outcome != c.outcome || !strings.Contains(a.Error, c.says) {
				t.Fatalf("answered %s %q; want %s saying %q", a.Outcome, a.Error, c.outcome, c.says)
			}
			if stored := mem.Stats().Pending; c.outcome != ingest.Queued && stored != 0 {
				t.Errorf("a refused notification was stored")
			}
		})
	}
}

// fixtureProvider maps a provider fixture file to the provider it is for.
func fixtureProvider(path string) string {
	switch dir, base := filepath.Base(filepath.Dir(path)), filepath.Base(path); {
	case dir == "opay" && strings.HasPrefix(base, "offline_"):
		return "opay-pos"
	default:
		return dir
	}
}

func providerFixtures(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../provider/testdata/*/*.json")
	if err != nil || len(files) < 20 {
		t.Fatalf("found %d provider fixtures (%v)", len(files), err)
	}
	return files
}

// TestProviderFixturesWithinLimits: every body a provider really sends
// passes the checks; they refuse only what no provider sends.
func TestProviderFixturesWithinLimits(t *testing.T) {
	for _, file := range providerFixtures(t) {
		body, _ := os.ReadFile(file)
		if err := ingest.CheckBody(body, provider.DocumentedKeys(fixtureProvider(file))); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}

// TestCaseVariantOfEveryDocumentedKey: in every provider fixture, each key
// its adapter reads, spelled in another case where the adapter reads it,
// is refused and named.
func TestCaseVariantOfEveryDocumentedKey(t *testing.T) {
	tried := 0
	for _, file := range providerFixtures(t) {
		raw, _ := os.ReadFile(file)
		doc := provider.DocumentedKeys(fixtureProvider(file))
		var body any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatal(err)
		}
		variants(body, doc.Body, func(variant string) {
			changed, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			err = ingest.CheckBody(changed, doc)
			if err == nil || !strings.Contains(err.Error(), variant+": differs from the documented key") {
				t.Errorf("%s: %s: %v; want it refused and named", file, variant, err)
			}
			tried++
		})
	}
	if tried < 100 {
		t.Errorf("only %d keys tried", tried)
	}
}

// variants renames, in turn, each documented key of v found where its
// adapter reads it to another case, calls try with the new name while
// the change is in place, and puts it back.
func variants(v any, k *provider.Keys, try func(variant string)) {
	if k == nil {
		return
	}
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			variants(e, k, try)
		}
	case map[string]any:
		for name, child := range k.Fields {
			val, ok := v[name]
			if !ok {
				continue
			}
			variant := strings.ToUpper(name[:1]) + name[1:]
			if variant == name {
				variant = strings.ToLower(name[:1]) + name[1:]
			}
			delete(v, name)
			v[variant] = val
			try(variant)
			delete(v, variant)
			v[name] = val
			variants(val, child, try)
		}
	}
}

// TestHeaderChecksMatchWhatHTTPCanSend: headers the check takes can be put
// on an HTTP request by Go's client (a raw forward never fails to build),
// and headers with a line break are refused.
func TestHeaderChecksMatchWhatHTTPCanSend(t *testing.T) {
	for _, h := range []http.Header{
		{"X-A": {"plain"}}, {"X-A": {"tab\there"}}, {"X-A": {"naïve ✓"}}, {"X-A": {""}},
		{"X-A": {"a\nb"}}, {"X-A": {"a\rb"}}, {"X-A": {"a\x00b"}}, {"X-A": {"a\x7fb"}}, {"X A": {"v"}}, {"X:A": {"v"}}, {"": {"v"}}, {"X-Ä": {"v"}},
	} {
		err := ingest.CheckHeaders(h)
		if sendErr := sendable(h); (err == nil) != (sendErr == nil) {
			t.Errorf("%q: the check says %v, Go's client says %v", h, err, sendErr)
		}
	}
}

// sendable says whether Go's HTTP client would send a request with h: its
// transport checks the headers before it dials (here a port where nothing
// listens), so any other error means they were fine.
func sendable(h http.Header) error {
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", nil)
	if err != nil {
		return err
	}
	req.Header = h
	_, err = (&http.Transport{}).RoundTrip(req)
	if err != nil && strings.Contains(err.Error(), "invalid header field") {
		return err
	}
	return nil
}

func FuzzHeaders(f *testing.F) {
	f.Add("Monnify-Signature", "abc")
	f.Add("X-A", "a\r\nb")
	f.Add("X A", "v")
	f.Add("X-A", "\t")
	f.Fuzz(func(t *testing.T, name, value string) {
		h := http.Header{name: {value}}
		err := ingest.CheckHeaders(h)
		if err == nil {
			if sendErr := sendable(h); sendErr != nil {
				t.Fatalf("%q: %q passed the check, but Go's client cannot send it: %v", name, value, sendErr)
			}
		}
	})
}
