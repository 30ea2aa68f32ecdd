package httpingest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/provider"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

func newHandler(t *testing.T) (*Handler, *storetest.Memory) {
	t.Helper()
	q := storetest.NewMemory()
	in := ingest.NewIntake(q, nil, time.Now)
	in.SetSources([]*ingest.Source{{
		Name: "monnify", Provider: "core", Verifier: &provider.Core{Tenant: "t"},
		Allow: []netip.Prefix{netip.MustParsePrefix("35.242.133.146/32")},
	}})
	h := New(in, 1024, time.Now)
	h.SetTrustedProxies([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")})
	return h, q
}

// TestPeerAndAllow checks which address `allow` is applied to: the TCP
// peer, or the last untrusted X-Forwarded-For hop behind a trusted proxy.
func TestPeerAndAllow(t *testing.T) {
	for _, c := range []struct {
		name, remote, xff string
		code              int
	}{
		{"direct from Monnify", "35.242.133.146:40000", "", 200},
		{"direct from elsewhere", "203.0.113.9:40000", "", 403},
		{"spoofed header from an untrusted peer", "203.0.113.9:40000", "35.242.133.146", 403},
		{"through the local tunnel", "127.0.0.1:5000", "35.242.133.146", 200},
		{"through two trusted proxies", "127.0.0.1:5000", "35.242.133.146, 10.1.2.3", 200},
		{"client-forged first hop behind the tunnel", "127.0.0.1:5000", "35.242.133.146, 203.0.113.9", 403},
		{"tunnel without a header", "127.0.0.1:5000", "", 403},
		{"garbage hop", "127.0.0.1:5000", "not-an-ip", 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, q := newHandler(t)
			body := `{"transactionRef":"R-` + strings.ReplaceAll(c.name, " ", "-") + `","amount":1}`
			req := httptest.NewRequest(http.MethodPost, "/notify/monnify", strings.NewReader(body))
			req.RemoteAddr = c.remote
			if c.xff != "" {
				req.Header.Set("X-Forwarded-For", c.xff)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != c.code {
				t.Fatalf("got %d %s; want %d", w.Code, w.Body, c.code)
			}
			var a map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
				t.Fatalf("answer is not JSON: %s", w.Body)
			}
			if c.code != 200 && a["error"] == "" {
				t.Errorf("refusal without an error message: %s", w.Body)
			}
			if want := int64(0); c.code != 200 && q.Stats().Pending != want {
				t.Errorf("a refused request stored something")
			}
			if c.code == 200 {
				r, err := q.Get(a["id"])
				if err != nil || r.Peer != "35.242.133.146" {
					t.Errorf("stored peer %v, %v; want the provider's address", r, err)
				}
			}
		})
	}
}

func TestMethodSizeAndFullStore(t *testing.T) {
	h, q := newHandler(t)
	do := func(method, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/notify/monnify", strings.NewReader(body))
		req.RemoteAddr = "35.242.133.146:1"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	if w := do(http.MethodGet, ""); w.Code != 405 || w.Header().Get("Allow") != "POST" {
		t.Errorf("GET: %d %v", w.Code, w.Header())
	}
	if w := do(http.MethodPost, `{"transactionRef":"X","amount":1,"pad":"`+strings.Repeat("p", 2000)+`"}`); w.Code != 413 || !strings.Contains(w.Body.String(), "http.max_body (1024 bytes)") {
		t.Errorf("oversize body: %d %s", w.Code, w.Body)
	}
	q.Full = true
	w := do(http.MethodPost, `{"transactionRef":"FULL","amount":1}`)
	if w.Code != 503 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "disk") {
		t.Errorf("full store: %d %v %s; want 503 with Retry-After", w.Code, w.Header(), w.Body)
	}
	if _, err := q.Get(notification.NewID("monnify", "core", "t", "FULL")); err == nil {
		t.Error("a refused notification was stored")
	}
}

func TestCredentialHeadersRedacted(t *testing.T) {
	h, q := newHandler(t)
	req := httptest.NewRequest(http.MethodPost, "/notify/monnify", strings.NewReader(`{"transactionRef":"H1","amount":1}`))
	req.RemoteAddr = "35.242.133.146:1"
	req.Header.Set("X-Vesicash-Webhook-Secret", "abc123secret")
	req.Header.Set("VESI_SEC", "vesi-secret")
	req.Header.Set("Authorization", "Basic Zm9vOmJhcg==")
	req.Header.Set("Monnify-Signature", "deadbeef")
	req.Header.Set("mor-signature", "vesicash-constant")
	req.Header.Set("X-Api-Key", "key-123")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var a map[string]string
	json.Unmarshal(w.Body.Bytes(), &a)
	r, err := q.Get(a["id"])
	if err != nil {
		t.Fatal(err)
	}
	saw := map[string]string{}
	for _, hd := range r.Headers {
		saw[hd.Name] = hd.Value
	}
	for _, name := range []string{"X-Vesicash-Webhook-Secret", "Vesi_sec", "Authorization", "Mor-Signature", "X-Api-Key"} {
		if saw[http.CanonicalHeaderKey(name)] != "[redacted]" {
			t.Errorf("%s stored as %q; want [redacted]", name, saw[http.CanonicalHeaderKey(name)])
		}
	}
	if saw["Monnify-Signature"] != "deadbeef" {
		t.Errorf("a signature header (no credential) was not kept: %v", saw)
	}
}

// TestEveryOutcomeHasAStatus: an outcome the HTTP listener cannot
// translate would be answered 500.
func TestEveryOutcomeHasAStatus(t *testing.T) {
	for o := ingest.Queued; o <= ingest.TooLarge; o++ {
		code, ok := statusFor[o]
		if !ok || o.String() == "unknown" {
			t.Errorf("outcome %d (%s) has no HTTP status", o, o)
		}
		if (code == http.StatusOK) != o.Stored() {
			t.Errorf("outcome %s: %d, but stored is %v", o, code, o.Stored())
		}
	}
}

// TestTrailingSlashAndCounts: /notify/{source}/ is the same route (Vesicash's
// dashboard tells merchants to add the slash), and every request that
// reaches a source is counted so that received = queued + duplicates +
// ignored + held + rejected, an oversize body included.
func TestTrailingSlashAndCounts(t *testing.T) {
	h, q := newHandler(t)
	do := func(path, body string) int {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.RemoteAddr = "35.242.133.146:1"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	for _, c := range []struct {
		path, body string
		code       int
	}{
		{"/notify/monnify/", `{"transactionRef":"S1","amount":1}`, 200},
		{"/notify/monnify", `{"transactionRef":"S1","amount":1}`, 200},
		{"/notify/monnify/", `{"transactionRef":"S1","amount":2}`, 409},
		{"/notify/monnify/", `{"transactionRef":"S2","amount":1,"pad":"` + strings.Repeat("p", 2000) + `"}`, 413},
		{"/notify/monnify/", `{"transactionRef":"S3","Amount":1,"amount":1}`, 400},
		{"/notify/monnify/extra", `{"transactionRef":"S4","amount":1}`, 404},
	} {
		if got := do(c.path, c.body); got != c.code {
			t.Errorf("POST %s %.30s: %d; want %d", c.path, c.body, got, c.code)
		}
	}
	if q.Stats().Pending != 1 {
		t.Errorf("%d stored; want 1", q.Stats().Pending)
	}
	c := h.intake.Stats.Source("monnify")
	if sum := c.Queued.Load() + c.Duplicates.Load() + c.Ignored.Load() + c.Held.Load() + c.Rejected.Load(); c.Received.Load() != 5 || sum != 5 {
		t.Errorf("received %d, outcomes %d; want 5 and 5", c.Received.Load(), sum)
	}
}
