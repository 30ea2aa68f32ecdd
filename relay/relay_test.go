package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

const apiKey, apiSecret = "FXK_test", "FXS_test_secret"

// clock is the real clock plus an offset a test can move forward.
type clock struct{ offset atomic.Int64 }

func newClock() *clock               { return &clock{} }
func (c *clock) Now() time.Time      { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Add(d time.Duration) { c.offset.Add(int64(d)) }

type harness struct {
	t     *testing.T
	q     *storetest.Memory
	core  *relaytest.Core
	srv   *httptest.Server
	relay *Relay
	clock *clock
	stop  func()
	dead  atomic.Int32 // writes that dead-lettered a notification
}

// watchedQueue is the in-memory queue with its writes watched: those that
// dead-letter a notification are counted in dead, and each write first
// waits delay, as on a busy disk.
type watchedQueue struct {
	*storetest.Memory
	dead  *atomic.Int32
	delay time.Duration
}

func (q watchedQueue) watch(fn func(*notification.Record) error) func(*notification.Record) error {
	time.Sleep(q.delay)
	return func(x *notification.Record) error {
		was := x.State
		err := fn(x)
		if err == nil && was != notification.Dead && x.State == notification.Dead {
			q.dead.Add(1)
		}
		return err
	}
}

func (q watchedQueue) Update(ctx context.Context, id string, fn func(*notification.Record) error) error {
	return q.Memory.Update(ctx, id, q.watch(fn))
}

func (q watchedQueue) UpdateFrom(ctx context.Context, read *notification.Record, fn func(*notification.Record) error) error {
	return q.Memory.UpdateFrom(ctx, read, q.watch(fn))
}

func start(t *testing.T, answer func(n int, d relaytest.Delivery) int, tweak func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, q: storetest.NewMemory(), clock: newClock()}
	h.core = &relaytest.Core{APIKey: apiKey, APISecret: apiSecret, Answer: answer}
	h.srv = httptest.NewServer(h.core)
	opts := Options{Concurrency: 2, Timeout: 2 * time.Second, RetryMaxWait: 100 * time.Millisecond, MaxAge: time.Hour,
		PauseProbe: time.Hour, Version: "test", Now: h.clock.Now}
	if tweak != nil {
		tweak(&opts)
	}
	h.relay = New(watchedQueue{Memory: h.q, dead: &h.dead}, opts)
	h.relay.SetTargets(Target{URL: h.srv.URL + "/webhooks/api/v1/i/acme/core", Tenant: "acme", SigningKey: apiSecret}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); h.relay.Run(ctx) }()
	h.stop = func() { cancel(); wg.Wait() }
	t.Cleanup(func() { h.stop(); h.srv.Close() })
	return h
}

func (h *harness) enqueue(ref string) *notification.Record {
	h.t.Helper()
	r := storetest.NewRecord(ref, 150050, h.clock.Now())
	r.Payload.TenantID = ""
	if _, err := h.q.Enqueue(context.Background(), r); err != nil {
		h.t.Fatal(err)
	}
	return r
}

// waitState waits until the record reaches state.
func (h *harness) waitState(id string, state notification.State) *notification.Record {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := h.q.Get(id)
		if err == nil && r.State == state {
			return r
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("notification %s: state %v, want %s (err %v)", id, r, state, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeliverSigned(t *testing.T) {
	h := start(t, nil, nil)
	r := h.enqueue("R1")
	got := h.waitState(r.ID, notification.Delivered)
	acc := h.core.Accepted()
	if len(acc) != 1 {
		t.Fatalf("core accepted %d deliveries; want 1", len(acc))
	}
	d := acc[0]
	if d.IdempotencyKey != r.ID || d.UserAgent != "fluxrelay/test" || d.ContentType != "application/json" {
		t.Errorf("headers: %+v", d)
	}
	var body map[string]any
	if err := json.Unmarshal(d.Body, &body); err != nil || body["tenantId"] != "acme" || !strings.Contains(string(d.Body), `"amount":1500.50,`) {
		t.Errorf("body %s: tenant not filled or amount not two decimals", d.Body)
	}
	if got.Attempts != 1 || got.DeliveredAt.IsZero() || got.LastStatus != 200 {
		t.Errorf("record after delivery: %+v", got)
	}
}

func TestRetryThenDeliver(t *testing.T) {
	h := start(t, func(n int, _ relaytest.Delivery) int {
		if n <= 4 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}, nil)
	r := h.enqueue("R1")
	h.waitState(r.ID, notification.Delivered)
	recv := h.core.Received()
	if len(recv) != 5 {
		t.Errorf("core saw %d requests; want 5 (4 refused, 1 accepted)", len(recv))
	}
	for _, d := range recv {
		if string(d.Body) != string(recv[0].Body) || d.IdempotencyKey != r.ID || !d.Valid {
			t.Fatalf("a retry differs from the first attempt: %s vs %s", d.Body, recv[0].Body)
		}
	}
}

func TestRejectIsDeadLetter(t *testing.T) {
	h := start(t, func(int, relaytest.Delivery) int { return http.StatusUnprocessableEntity }, nil)
	r := h.enqueue("R1")
	got := h.waitState(r.ID, notification.Dead)
	if got.LastStatus != 422 || !strings.Contains(got.Reason, "Fluxvend answered 422") {
		t.Errorf("dead letter: status %d reason %q", got.LastStatus, got.Reason)
	}
	if n := len(h.core.Received()); n != 1 {
		t.Errorf("a 422 was retried: %d requests", n)
	}
}

func TestRotatedSecretSignsQueued(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	h := start(t, func(int, relaytest.Delivery) int {
		if refuse.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}, nil)
	r := h.enqueue("R1")
	if !h.core.WaitFor(10*time.Second, func(d []relaytest.Delivery) bool { return len(d) > 0 }) {
		t.Fatal("the core received nothing")
	}
	h.core.SetSecret("FXS_rotated")                                                            // rotated in the portal…
	h.relay.SetTargets(Target{URL: h.srv.URL, Tenant: "acme", SigningKey: "FXS_rotated"}, nil) // …and in the config
	refuse.Store(false)
	h.waitState(r.ID, notification.Delivered)
	acc := h.core.Accepted()
	if !notification.Verify("FXS_rotated", acc[len(acc)-1].Body, acc[len(acc)-1].Signature) {
		t.Error("the queued notification was not signed with the rotated secret")
	}
}

func TestNotConfiguredStoresOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := storetest.NewMemory()
		rl := New(q, Options{Concurrency: 1, Timeout: time.Second, RetryMaxWait: time.Second, MaxAge: time.Hour, Now: plausibleNow})
		rl.SetTargets(Target{}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { rl.Run(ctx); close(done) }()
		r := storetest.NewRecord("R1", 100, plausibleNow())
		q.Enqueue(ctx, r)
		time.Sleep(time.Hour)
		synctest.Wait()
		cancel()
		<-done
		if got, _ := q.Get(r.ID); got.State != notification.Pending || got.Attempts != 0 {
			t.Errorf("with no core.url the notification is %s after %d attempts", got.State, got.Attempts)
		}
		if st := rl.Status().Targets[0]; st.Mode != ModeNotConfigured || !strings.Contains(st.Reason, "core.url is empty") {
			t.Errorf("status %+v", st)
		}
	})
}

func TestClassify(t *testing.T) {
	for code, want := range map[int]kind{200: delivered, 204: delivered, 409: delivered, 408: retry, 425: retry, 429: retry, 500: retry, 503: retry,
		401: pause, 403: pause, 404: pause, 410: pause, 301: pause, 400: reject, 422: reject} {
		if got := classify(code); got != want {
			t.Errorf("classify(%d) = %d; want %d", code, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: time.Second, 3: 4 * time.Second, 20: 5 * time.Minute} {
		for range 20 {
			if got := backoff(attempt, 5*time.Minute); got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %v; want within [%v, %v]", attempt, got, want/2, want)
			}
		}
	}
}

// While outcomes are being written the next notifications go out, but no
// notification goes out twice, and Fluxvend never has more than
// core.concurrency requests at once.
func TestDeliversWhileOutcomesAreWritten(t *testing.T) {
	const n, concurrency = 200, 4
	var now, peak atomic.Int64
	core := &relaytest.Core{APIKey: apiKey, APISecret: apiSecret}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := now.Add(1)
		defer now.Add(-1)
		for p := peak.Load(); c > p && !peak.CompareAndSwap(p, c); p = peak.Load() {
		}
		time.Sleep(time.Millisecond)
		core.ServeHTTP(w, r)
	}))
	defer srv.Close()
	q := watchedQueue{Memory: storetest.NewMemory(), dead: new(atomic.Int32), delay: 20 * time.Millisecond}
	for i := range n {
		r := storetest.NewRecord(fmt.Sprint("ref-", i), 150050, time.Now())
		r.Payload.TenantID = ""
		if _, err := q.Enqueue(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	rl := New(q, Options{Concurrency: concurrency, Timeout: 2 * time.Second, RetryMaxWait: time.Second, MaxAge: time.Hour})
	rl.SetTargets(Target{URL: srv.URL + "/hook", Tenant: "acme", SigningKey: apiSecret}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(20 * time.Second); q.Stats().Pending > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d still pending", q.Stats().Pending)
		}
	}
	seen := map[string]int{}
	for _, d := range core.Received() {
		seen[d.IdempotencyKey]++
	}
	for key, c := range seen {
		if c != 1 {
			t.Errorf("notification %s sent %d times; want once", key, c)
		}
	}
	if len(seen) != n {
		t.Errorf("%d notifications delivered; want %d", len(seen), n)
	}
	if p := peak.Load(); p > concurrency {
		t.Errorf("Fluxvend had %d requests at once; core.concurrency is %d", p, concurrency)
	}
}

// TestNoAnswerErrorHasNoURL: when the webhook cannot be reached, the error
// kept in the record and shown in status says why without the webhook's
// URL, which carries the tenant.
func TestNoAnswerErrorHasNoURL(t *testing.T) {
	client := newClient(time.Second, 1, nil)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there now
	req, _ := retryablehttp.NewRequest(http.MethodPost, closed.URL+"/webhooks/api/v1/i/tenant-secret-path/core", []byte(`{}`))
	_, err := client.Do(req)
	if err == nil {
		t.Fatal("a closed port answered")
	}
	got := cleanErr(err).Error()
	if strings.Contains(got, "tenant-secret-path") || strings.Contains(got, "Post") || !strings.Contains(got, "refused") {
		t.Errorf("cleanErr(%q) = %q; want the cause without the URL", err, got)
	}
}
