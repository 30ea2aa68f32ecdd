package relay

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

// A world is what a relay under test delivers to, inside a synctest
// bubble: webhooks on several hosts, each a verifying relaytest.Core, that
// answer as the test says at each moment — a status, no answer at all, or
// nothing until the request's timeout — and can hold requests until the
// test lets them go.

// behaviour is how a host treats the requests it gets.
type behaviour struct {
	status  int  // answer this status to a validly signed request (0: 200)
	down    bool // no answer at all, at once (connection refused)
	timeout bool // no answer until the request's own deadline
	// slow, when set, is how long the answer takes.
	slow time.Duration
}

type host struct {
	core *relaytest.Core
	mu   sync.Mutex
	b    behaviour
	hold chan struct{} // when set, each request first takes a token from it
}

type world struct {
	mu    sync.Mutex
	hosts map[string]*host
	// inRequest counts the requests under way per notification id, for
	// invariants that look at what is in flight.
	inRequest map[string]int
}

func newWorld(hosts ...string) *world {
	w := &world{hosts: map[string]*host{}, inRequest: map[string]int{}}
	for _, name := range hosts {
		h := &host{}
		h.core = &relaytest.Core{APIKey: apiKey, APISecret: apiSecret, Answer: func(int, relaytest.Delivery) int {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.b.status != 0 {
				return h.b.status
			}
			return http.StatusOK
		}}
		w.hosts[name] = h
	}
	return w
}

func (w *world) host(name string) *host { return w.hosts[name] }

func (h *host) set(b behaviour) {
	h.mu.Lock()
	h.b = b
	h.mu.Unlock()
}

func (h *host) behaviour() behaviour {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.b
}

// holdRequests makes every request wait for a token from the returned
// channel; release closes it.
func (h *host) holdRequests() chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hold = make(chan struct{})
	return h.hold
}

// inFlight counts the requests under way for the notification id.
func (w *world) inFlight(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inRequest[id]
}

// RoundTrip serves a request in-process, as its host behaves.
func (w *world) RoundTrip(req *http.Request) (*http.Response, error) {
	h := w.hosts[req.URL.Host]
	if h == nil {
		return nil, relaytest.ErrNoAnswer
	}
	id := req.Header.Get("Idempotency-Key")
	w.mu.Lock()
	w.inRequest[id]++
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		if w.inRequest[id]--; w.inRequest[id] == 0 {
			delete(w.inRequest, id)
		}
		w.mu.Unlock()
	}()
	h.mu.Lock()
	hold := h.hold
	h.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	b := h.behaviour()
	if b.slow > 0 {
		select {
		case <-time.After(b.slow):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	switch {
	case b.down:
		return nil, relaytest.ErrNoAnswer
	case b.timeout:
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	return relaytest.Transport(h.core, nil).RoundTrip(req)
}

// running is a relay over an in-memory queue, delivering into a world.
type running struct {
	t     *testing.T
	q     *storetest.Memory
	w     *world
	relay *Relay
	opts  Options
	stop  func()
}

// runWorld starts a relay into w over q with opts (the clock and the
// transport filled in); call it inside synctest.Test.
func runWorld(t *testing.T, q *storetest.Memory, w *world, opts Options, def Target, bySource map[string]Target) *running {
	opts.Now, opts.Transport, opts.Version = plausibleNow, w, "test"
	r := &running{t: t, q: q, w: w, opts: opts}
	r.start(def, bySource)
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *running) start(def Target, bySource map[string]Target) {
	r.relay = New(r.q, r.opts)
	r.relay.SetTargets(def, bySource)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.relay.Run(ctx); close(done) }()
	var once sync.Once
	r.stop = func() { once.Do(func() { cancel(); <-done }) }
}

// restart stops the relay and starts a new one over the same queue, as a
// restart of the daemon would.
func (r *running) restart(def Target, bySource map[string]Target) {
	r.stop()
	r.start(def, bySource)
}

// enqueue stores a notification for source, received at received.
func (r *running) enqueue(source, ref string, amount notification.Amount, received time.Time) *notification.Record {
	r.t.Helper()
	rec := storetest.NewRecord(ref, amount, received)
	rec.Source = source
	rec.Payload.TenantID = ""
	if _, err := r.q.Enqueue(context.Background(), rec); err != nil {
		r.t.Fatal(err)
	}
	return rec
}

func (r *running) state(id string) notification.State {
	r.t.Helper()
	rec, err := r.q.Get(id)
	if err != nil {
		r.t.Fatal(err)
	}
	return rec.State
}

func target(hostName string) Target {
	return Target{URL: "http://" + hostName + "/webhooks/api/v1/i/acme/core", Tenant: "acme", SigningKey: apiSecret}
}
