package daemon

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/ingest/httpingest"
	"github.com/fluxrelay/fluxrelay/provider"
	"github.com/fluxrelay/fluxrelay/store"
)

// TestFailedSyncThroughHTTP is hole 3 as a sender meets it: the real HTTP
// handler over a real store whose disk fails a sync. The notification
// whose sync failed is answered 503 with Retry-After; while the disk
// fails, so is its resend (earlier releases answered it "200 duplicate"
// with nothing synced) and any other notification; once the store has
// re-opened itself, the resend is stored again and answered "queued", and
// it is on disk.
func TestFailedSyncThroughHTTP(t *testing.T) {
	dir := t.TempDir()
	var failing atomic.Bool
	var syncs atomic.Int64
	fault := func(string) error {
		syncs.Add(1)
		if failing.Load() {
			return errors.New("input/output error")
		}
		return nil
	}
	st, err := store.Open(store.Options{Dir: dir, MinFree: 1, DedupWindow: time.Hour, SyncFault: fault})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()
	in := ingest.NewIntake(st, nil, time.Now)
	in.SetSources([]*ingest.Source{{Name: "till", Provider: "core", Verifier: &provider.Core{Tenant: "t"}}})
	srv := httptest.NewServer(httpingest.New(in, 1<<20, time.Now))
	defer srv.Close()
	send := func(ref string) (int, string, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/notify/till", "application/json", strings.NewReader(`{"transactionRef":"`+ref+`","amount":1500}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var a struct{ Status string }
		json.Unmarshal(raw, &a)
		return resp.StatusCode, a.Status, resp.Header.Get("Retry-After")
	}

	if code, status, _ := send("HTTP-SF-0"); code != 200 || status != "queued" {
		t.Fatalf("before the fault: %d %s", code, status)
	}
	failing.Store(true)
	if code, _, retry := send("HTTP-SF-1"); code != 503 || retry == "" {
		t.Fatalf("a notification whose sync failed: %d, Retry-After %q; want 503 with Retry-After", code, retry)
	}
	if code, status, retry := send("HTTP-SF-1"); code != 503 || retry == "" {
		t.Errorf("its resend while the disk fails: %d %s; want 503 with Retry-After, never duplicate", code, status)
	}
	if code, _, _ := send("HTTP-SF-2"); code != 503 {
		t.Errorf("another notification while the disk fails: %d; want 503", code)
	}
	if s := st.Stats(); s.WritesRefused == "" || s.SyncFailedAt.IsZero() {
		t.Errorf("the store's state does not say it refuses writes: %+v", s)
	}

	failing.Store(false)
	waitFor(t, "the store to re-open", func() bool { return st.Stats().WritesRefused == "" })
	before := syncs.Load()
	if code, status, _ := send("HTTP-SF-1"); code != 200 || status != "queued" {
		t.Errorf("the resend after the re-open: %d %s; want 200 queued", code, status)
	}
	if syncs.Load() == before {
		t.Error("the resend was answered without a sync")
	}
	if code, status, _ := send("HTTP-SF-1"); code != 200 || status != "duplicate" {
		t.Errorf("a second resend: %d %s; want 200 duplicate", code, status)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err = store.Open(store.Options{Dir: dir, MinFree: 1}); err != nil {
		t.Fatal(err)
	}
	if recs, err := st.FindRef("HTTP-SF-1"); err != nil || len(recs) != 1 {
		t.Errorf("after a reopen the notification is found %d times: %v", len(recs), err)
	}
}

// TestFailedSyncNeedsAPerson: while the store refuses writes after a
// failed sync, the daemon's state is ACTION NEEDED with the reason and
// what to check, and nothing goes out that could not be recorded; once the
// store has re-opened itself the state is OK again and each notification
// is delivered once.
func TestFailedSyncNeedsAPerson(t *testing.T) {
	var failing atomic.Bool
	e := newEnv(t, nil)
	r := e.startWith(func(o *Options) {
		o.SyncFault = func(string) error {
			if failing.Load() {
				return errors.New("input/output error")
			}
			return nil
		}
	})
	if a := post(t, r.url+"/notify/till", `{"transactionRef":"SF-OK","amount":"10.00"}`); a.Code != 200 {
		t.Fatalf("before the fault: %+v", a)
	}
	r.settled(t)
	failing.Store(true)
	if a := post(t, r.url+"/notify/till", `{"transactionRef":"SF-1","amount":"10.00"}`); a.Code != 503 {
		t.Fatalf("a notification whose sync failed: %+v; want 503", a)
	}
	s := r.status(t)
	if s.State != StateActionNeeded || s.StoreWritesRefused == "" || s.StoreSyncFailures == 0 ||
		!strings.Contains(strings.Join(s.Reasons, "\n"), "the disk may be failing") ||
		!strings.Contains(strings.Join(s.Staff, "\n"), "cannot save new payments") {
		t.Errorf("while the store refuses writes, status says %s: %q %q (refused %q, failures %d)", s.State, s.Reasons, s.Staff, s.StoreWritesRefused, s.StoreSyncFailures)
	}
	failing.Store(false)
	waitFor(t, "the store to re-open and the state to be OK", func() bool { return r.status(t).State == StateOK })
	if a := post(t, r.url+"/notify/till", `{"transactionRef":"SF-1","amount":"10.00"}`); a.Code != 200 || a.Status != "queued" {
		t.Errorf("the resend after the re-open: %+v; want 200 queued", a)
	}
	r.settled(t)
	if got := e.core.AcceptedCount(); got != 2 {
		var refs []string
		for _, d := range e.core.Accepted() {
			refs = append(refs, string(d.Body))
		}
		t.Errorf("the core received %d deliveries; want 2 (SF-OK, then SF-1 once): %q", got, refs)
	}
}
