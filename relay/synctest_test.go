package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

// These tests run in a testing/synctest bubble: the relay's clock, its
// timers and the HTTP client's timeouts are all
// the bubble's, and the core is served in-process (relaytest.Transport).
// Days pass in milliseconds, and what a test sees does not depend on the
// machine's speed or load.

// bubbleEpoch moves the bubble's clock, which starts in 2000, to a
// plausible date (the relay dead-letters nothing by age before 2025).
var bubbleEpoch = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC).Sub(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))

func plausibleNow() time.Time { return time.Now().Add(bubbleEpoch) }

// bubbled is a relay over an in-memory queue in a synctest bubble.
type bubbled struct {
	t     *testing.T
	q     *storetest.Memory
	core  *relaytest.Core
	relay *Relay
	now   func() time.Time // the relay's clock
	down  atomic.Bool      // the core gives no answer at all
	tries atomic.Int64     // requests that got no answer
	dead  atomic.Int32     // writes that dead-lettered a notification
	stop  func()
}

// inBubble builds a relay to a core that answers as answer says (nil: 200)
// and starts it; call it inside synctest.Test. The relay is stopped, and
// its goroutines have ended, when the test function returns.
func inBubble(t *testing.T, answer func(n int, d relaytest.Delivery) int, tweak func(*Options)) *bubbled {
	b := &bubbled{t: t, q: storetest.NewMemory()}
	b.core = &relaytest.Core{APIKey: apiKey, APISecret: apiSecret, Answer: answer}
	opts := Options{Concurrency: 1, Timeout: 10 * time.Second, RetryMaxWait: 5 * time.Minute, MaxAge: time.Hour,
		PauseProbe: time.Hour, Version: "test", Now: plausibleNow,
		Transport: relaytest.Transport(b.core, func() bool {
			if b.down.Load() {
				b.tries.Add(1)
				return true
			}
			return false
		})}
	if tweak != nil {
		tweak(&opts)
	}
	b.relay, b.now = New(watchedQueue{Memory: b.q, dead: &b.dead}, opts), opts.Now
	b.relay.SetTargets(Target{URL: "http://fluxvend.test/webhooks/api/v1/i/acme/core", Tenant: "acme", SigningKey: apiSecret}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.relay.Run(ctx); close(done) }()
	b.stop = func() { cancel(); <-done }
	t.Cleanup(b.stop)
	return b
}

func (b *bubbled) enqueue(ref string) *notification.Record {
	b.t.Helper()
	r := storetest.NewRecord(ref, 150050, b.now())
	if _, err := b.q.Enqueue(context.Background(), r); err != nil {
		b.t.Fatal(err)
	}
	return r
}

func (b *bubbled) get(id string) *notification.Record {
	b.t.Helper()
	r, err := b.q.Get(id)
	if err != nil {
		b.t.Fatal(err)
	}
	return r
}

// TestOutageThenInOrderOfAge: 72 hours without Fluxvend, then it is back:
// no attempt is burned meanwhile, nothing accumulates through hundreds of
// probes, and everything is delivered in the order it was received.
func TestOutageThenInOrderOfAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ids []string
		// Received a minute apart, before the relay first tries.
		b := inBubble(t, nil, nil)
		b.down.Store(true)
		for i := range 30 {
			ids = append(ids, b.enqueue(fmt.Sprintf("AGE-%02d", i)).ID)
			time.Sleep(time.Minute)
		}
		time.Sleep(6 * time.Hour)
		synctest.Wait()
		tries0, goroutines0 := b.tries.Load(), fewestRelayGoroutines()
		time.Sleep(66 * time.Hour)
		synctest.Wait()
		if st := b.relay.Status().Targets[0]; st.Mode != ModeOutage {
			t.Fatalf("after 72 h without answers the target is %s", st.Mode)
		}
		n := b.tries.Load() - tries0
		// One probe every 2.5 to 5 minutes: retry_max_wait with its
		// jitter.
		if n < 66*60/5 || n > 66*60*2/5+1 {
			t.Errorf("%d requests from hour 6 to 72; want one probe every 2.5 to 5 minutes", n)
		}
		if g := fewestRelayGoroutines(); g > goroutines0 {
			t.Errorf("goroutines grew from %d to %d over %d probes", goroutines0, g, n)
		}
		burned := 0
		for _, id := range ids {
			r := b.get(id)
			if r.State != notification.Pending || r.FailingFor != 0 {
				t.Errorf("%s: %s, failing for %v; an outage must count nothing", r.TransactionRef(), r.State, r.FailingFor)
			}
			burned += r.Attempts
		}
		if burned > 3 {
			t.Errorf("%d attempts counted during the outage; want at most the few before it was recognised", burned)
		}

		b.down.Store(false)
		time.Sleep(10 * time.Minute) // the next probe, then the rest
		synctest.Wait()
		var order []string
		for _, d := range b.core.Accepted() {
			var p struct{ TransactionRef string }
			json.Unmarshal(d.Body, &p)
			order = append(order, p.TransactionRef)
		}
		if len(order) != 30 {
			t.Fatalf("%d of 30 delivered 10 minutes after the outage", len(order))
		}
		for i, ref := range order {
			if want := fmt.Sprintf("AGE-%02d", i); ref != want {
				t.Fatalf("delivery %d was %s; want %s (in order of age): %v", i, ref, want, order)
			}
		}
	})
}

// TestOutageDeadLettersNothing: three days with Fluxvend unreachable and a
// one-minute max_age: nothing is dead-lettered and no failure is counted.
func TestOutageDeadLettersNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := inBubble(t, nil, func(o *Options) { o.MaxAge = time.Minute })
		b.down.Store(true)
		var recs []*notification.Record
		for _, ref := range []string{"R1", "R2", "R3"} {
			recs = append(recs, b.enqueue(ref))
		}
		time.Sleep(90 * time.Hour)
		synctest.Wait()
		if st := b.relay.Status().Targets[0]; st.Mode != ModeOutage || st.Reachable == nil || *st.Reachable {
			t.Errorf("target state %+v; want an outage, unreachable", st)
		}
		for _, r := range recs {
			got := b.get(r.ID)
			if got.State != notification.Pending || got.FailingFor != 0 {
				t.Errorf("%s after 90 h of outage: %s, failing for %v; an outage must count nothing", got.TransactionRef(), got.State, got.FailingFor)
			}
		}
	})
}

// poisonOn answers 500 to the notification POISON and 200 to the others.
func poisonOn(_ int, d relaytest.Delivery) int {
	if strings.Contains(string(d.Body), `"POISON"`) {
		return http.StatusInternalServerError
	}
	return http.StatusOK
}

// TestMaxAgeCountsOnlyWhileOthersDeliver: a notification refused with 500
// while others are delivered is dead-lettered once it has failed for
// core.max_age, with a reason that says so.
func TestMaxAgeCountsOnlyWhileOthersDeliver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := inBubble(t, poisonOn, func(o *Options) { o.MaxAge = 2 * time.Hour })
		poison := b.enqueue("POISON")
		for i := range 180 { // 6 hours, a sale every 2 minutes
			b.enqueue(fmt.Sprintf("OK-%d", i))
			time.Sleep(2 * time.Minute)
		}
		synctest.Wait()
		r := b.get(poison.ID)
		if r.State != notification.Dead || !strings.Contains(r.Reason, "while other notifications were delivered") {
			t.Fatalf("refused with 500 for 6 h while others were delivered: %s, failing for %v (%q)", r.State, r.FailingFor, r.Reason)
		}
		if r.FailingFor < 2*time.Hour || r.FailingFor > 2*time.Hour+5*time.Minute {
			t.Errorf("dead-lettered after failing for %v; want just past max_age (2h)", r.FailingFor)
		}
		// The others went out meanwhile, none held up by the one refused.
		if n := len(b.core.Accepted()); n != 180 {
			t.Errorf("%d of 180 others delivered while one was refused with 500", n)
		}
		if st := b.relay.Status().Targets[0]; st.Mode != ModeOK {
			t.Errorf("one notification refused with 500 put the target in %s", st.Mode)
		}
	})
}

// TestNoAgeDeadLetterWhileClockImplausible: with the clock in 2020 (never
// synced), failing for longer than max_age dead-letters nothing.
func TestNoAgeDeadLetterWhileClockImplausible(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in2020 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Sub(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
		b := inBubble(t, poisonOn, func(o *Options) {
			o.MaxAge = 2 * time.Hour
			o.Now = func() time.Time { return time.Now().Add(in2020) }
		})
		poison := b.enqueue("POISON")
		for i := range 180 {
			b.enqueue(fmt.Sprintf("OK-%d", i))
			time.Sleep(2 * time.Minute)
		}
		synctest.Wait()
		r := b.get(poison.ID)
		if r.State != notification.Pending || r.FailingFor < 3*time.Hour {
			t.Fatalf("with the clock in 2020, after failing for %v the notification is %s (%s); want still pending", r.FailingFor, r.State, r.Reason)
		}
	})
}

// TestRetryAfterIsCapped: a Retry-After of an hour holds a notification no
// longer than core.retry_max_wait.
func TestRetryAfterIsCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		b := inBubble(t, nil, func(o *Options) {
			inner := o.Transport
			o.Transport = roundTripFunc(func(req *http.Request) (*http.Response, error) {
				if calls.Add(1) == 1 {
					return &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"3600"}},
						Body: http.NoBody, Request: req}, nil
				}
				return inner.RoundTrip(req)
			})
		})
		r := b.enqueue("R1")
		time.Sleep(5*time.Minute + time.Second) // retry_max_wait, and a little
		synctest.Wait()
		if got := b.get(r.ID); got.State != notification.Delivered {
			t.Fatalf("Retry-After: 3600 held the notification past retry_max_wait: %s", got.State)
		}
	})
}

// relayGoroutines counts the goroutines running the relay's code. (The
// process's total moves with goroutines other tests left winding down.)
func relayGoroutines() int {
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 2)
	n := 0
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, "github.com/fluxrelay/fluxrelay/relay.") {
			n++
		}
	}
	return n
}

// fewestRelayGoroutines is the least relayGoroutines over samples spread
// across a few minutes of the bubble's time: a probe under way has a
// goroutine of its own for a while; a leak stays.
// Call it in a bubble.
func fewestRelayGoroutines() int {
	n := relayGoroutines()
	for range 8 {
		time.Sleep(37 * time.Second)
		synctest.Wait()
		n = min(n, relayGoroutines())
	}
	return n
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestUnauthorizedPausesUntilReload: a 403 pauses deliveries (nothing more
// is sent, nothing dead-lettered) until a reload, which resumes them.
func TestUnauthorizedPausesUntilReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var refuse atomic.Bool
		refuse.Store(true)
		b := inBubble(t, func(int, relaytest.Delivery) int {
			if refuse.Load() {
				return http.StatusForbidden
			}
			return http.StatusOK
		}, func(o *Options) { o.Concurrency = 2 })
		a, c := b.enqueue("R1"), b.enqueue("R2")
		synctest.Wait()
		st := b.relay.Status().Targets[0]
		if st.Mode != ModePaused || !strings.Contains(st.Reason, "not whitelisted") {
			t.Fatalf("after a 403: %+v", st)
		}
		sent := len(b.core.Received())
		time.Sleep(30 * time.Minute) // half the pause probe's interval
		synctest.Wait()
		if n := len(b.core.Received()); n > 2 || n != sent {
			t.Errorf("paused, yet %d requests were sent; want only those already under way (at most 2)", n)
		}
		for _, r := range []*notification.Record{a, c} {
			if got := b.get(r.ID); got.State != notification.Pending {
				t.Errorf("%s is %s; a 403 must not dead-letter", r.TransactionRef(), got.State)
			}
		}
		refuse.Store(false)
		b.relay.SetTargets(Target{URL: "http://fluxvend.test/webhooks/api/v1/i/acme/core", Tenant: "acme", SigningKey: apiSecret}, nil) // a reload
		synctest.Wait()
		for _, r := range []*notification.Record{a, c} {
			if got := b.get(r.ID); got.State != notification.Delivered {
				t.Errorf("after the reload %s is %s", r.TransactionRef(), got.State)
			}
		}
	})
}

// TestSameRefusalThreeTimesPauses: the same 400 for three different
// notifications pauses deliveries and takes their dead letters back; the
// probes refused the same way keep the pause, dead-letter nothing and burn
// no attempt; an accepted probe resumes everything.
func TestSameRefusalThreeTimesPauses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var accept atomic.Bool
		var observedDead atomic.Int32
		b := inBubble(t, func(int, relaytest.Delivery) int {
			if accept.Load() {
				return http.StatusOK
			}
			return http.StatusBadRequest
		}, func(o *Options) {
			o.Concurrency, o.PauseProbe = 2, 3*time.Minute
			o.Observe = func(result string, _ time.Duration) {
				if result == "dead_letter" {
					observedDead.Add(1)
				}
			}
		})
		var recs []*notification.Record
		for _, ref := range []string{"R1", "R2", "R3", "R4", "R5", "R6"} {
			recs = append(recs, b.enqueue(ref))
		}
		synctest.Wait()
		if st := b.relay.Status().Targets[0]; st.Mode != ModePaused || !strings.Contains(st.Reason, "3 different notifications") {
			t.Fatalf("after three 400s: %+v", st)
		}
		dead, observed, sent := b.dead.Load(), observedDead.Load(), len(b.core.Received())
		time.Sleep(16 * time.Minute) // five probes
		synctest.Wait()
		if st := b.relay.Status().Targets[0]; st.Mode != ModePaused || len(b.core.Received()) < sent+5 {
			t.Fatalf("after %d probes answered 400: %+v", len(b.core.Received())-sent, st)
		}
		if n := b.dead.Load() - dead; n != 0 {
			t.Errorf("%d probes refused with the same 400 were dead-lettered; while paused for it, none may be, even for a moment", n)
		}
		if n := observedDead.Load() - observed; n != 0 {
			t.Errorf("%d probes refused with the same 400 were reported to the metrics as dead letters", n)
		}
		for _, r := range recs {
			if got := b.get(r.ID); got.State != notification.Pending || got.Attempts != 0 {
				t.Errorf("%s is %s after %d attempts (%s); the same refusal for 3 notifications must dead-letter none and burn no attempts", r.TransactionRef(), got.State, got.Attempts, got.Reason)
			}
		}
		accept.Store(true)
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		for _, r := range recs {
			if got := b.get(r.ID); got.State != notification.Delivered {
				t.Errorf("after a probe was accepted %s is %s", r.TransactionRef(), got.State)
			}
		}
		if st := b.relay.Status().Targets[0]; st.Mode != ModeOK {
			t.Errorf("after a probe was accepted: %+v", st)
		}
	})
}
