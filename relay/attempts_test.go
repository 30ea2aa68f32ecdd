package relay

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

// TestEveryRequestIsAnAttempt: Fluxvend answers 500, 500, then 200. Each
// request is one attempt on the trail, in the metrics and in the record's
// count: three, with Fluxvend's three answers.
func TestEveryRequestIsAnAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var observed []string
		b := inBubble(t, func(n int, _ relaytest.Delivery) int {
			if n <= 2 {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		}, func(o *Options) {
			o.Observe = func(result string, _ time.Duration) {
				mu.Lock()
				observed = append(observed, result)
				mu.Unlock()
			}
		})
		r := b.enqueue("R1")
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		got := b.get(r.ID)
		if got.State != notification.Delivered {
			t.Fatalf("after 500, 500, 200 the notification is %s", got.State)
		}
		var statuses []int
		for _, a := range got.Trail {
			statuses = append(statuses, a.Status)
		}
		if !slices.Equal(statuses, []int{500, 500, 200}) || got.Attempts != 3 {
			t.Errorf("trail %v, %d attempts counted; want [500 500 200], 3", statuses, got.Attempts)
		}
		if n := len(b.core.Received()); n != 3 {
			t.Errorf("Fluxvend saw %d requests; want 3", n)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(observed, []string{"retry", "retry", "delivered"}) {
			t.Errorf("the metrics were told %v; want retry, retry, delivered", observed)
		}
		for i := 1; i < len(got.Trail); i++ {
			if !got.Trail[i].At.After(got.Trail[i-1].At) {
				t.Errorf("attempt %d at %v is not after attempt %d at %v: each retry waits for its backoff", i, got.Trail[i].At, i-1, got.Trail[i-1].At)
			}
		}
	})
}

// rawRecord is a notification from a provider source kept with the
// headers it arrived with.
func rawRecord(ref, provider string, received time.Time, headers ...notification.Header) *notification.Record {
	r := storetest.NewRecord(ref, 150050, received)
	r.Provider, r.Source, r.Headers = provider, "monnify", headers
	r.Raw = []byte(`{"eventType":"SUCCESSFUL_TRANSACTION","eventData":{"transactionReference":"` + ref + `"}}`)
	return r
}

// TestRawForwardSendsOnlySignedHeaders: a raw forward passes on the body
// as it arrived with its content type and the headers its provider signs
// with, and nothing else a sender put on the request.
func TestRawForwardSendsOnlySignedHeaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got http.Header
		var body []byte
		q := storetest.NewMemory()
		rl := New(q, Options{Concurrency: 1, Timeout: 10 * time.Second, RetryMaxWait: time.Minute, MaxAge: time.Hour, PauseProbe: time.Hour,
			Now: plausibleNow, Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
				got = req.Header.Clone()
				body, _ = io.ReadAll(req.Body)
				return &http.Response{StatusCode: 200, Body: http.NoBody, Request: req}, nil
			})})
		rl.SetTargets(target("fluxvend.test"), map[string]Target{"monnify": {URL: "http://shop.test/monnify-hook", Raw: true}})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { rl.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		rec := rawRecord("MNFY-1", "monnify", plausibleNow(),
			notification.Header{Name: "Content-Type", Value: "application/json; charset=utf-8"},
			notification.Header{Name: "Monnify-Signature", Value: "abc123"},
			notification.Header{Name: "X-Forwarded-For", Value: "10.0.0.9"},
			notification.Header{Name: "X-Till-Debug", Value: strings.Repeat("x", 1000)},
			notification.Header{Name: "Cookie", Value: notification.Redacted})
		if _, err := q.Enqueue(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if st, _ := q.Get(rec.ID); st.State != notification.Delivered {
			t.Fatalf("the raw forward is %s", st.State)
		}
		if string(body) != string(rec.Raw) {
			t.Errorf("forwarded body %q; want the body as it arrived", body)
		}
		want := map[string]string{"Content-Type": "application/json; charset=utf-8", "Monnify-Signature": "abc123", "Idempotency-Key": rec.ID}
		for name := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("the raw forward sent %s; only the content type, the provider's signature headers and Idempotency-Key may go", name)
			}
		}
		for name, v := range want {
			if got.Get(name) != v {
				t.Errorf("%s: got %q, want %q", name, got.Get(name), v)
			}
		}
	})
}

// TestUnsendableIsDeadLetterAtOnce: a stored header Go's client refuses (a
// line break in its value), or a forward URL it cannot use, makes a dead
// letter at once with the reason; it is no outage and no pause, and the
// notifications after it go out.
func TestUnsendableIsDeadLetterAtOnce(t *testing.T) {
	for _, c := range []struct {
		name   string
		url    string
		header notification.Header
		reason string
		todo   string
	}{
		{"a line break in a header", "http://fluxvend.test/hook", notification.Header{Name: "Monnify-Signature", Value: "abc\r\nX-Injected: 1"}, "control character", "by hand"},
		{"a URL Go refuses", "http://flux vend.test/hook", notification.Header{Name: "Monnify-Signature", Value: "abc"}, "webhook URL", "fix the URL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newWorld("fluxvend.test")
				q := storetest.NewMemory()
				raw := Target{URL: c.url, Raw: true}
				r := runWorld(t, q, w, Options{Concurrency: 1, Timeout: 10 * time.Second, RetryMaxWait: time.Minute, MaxAge: time.Hour, PauseProbe: time.Hour},
					target("fluxvend.test"), map[string]Target{"monnify": raw})
				bad := rawRecord("BAD-1", "monnify", plausibleNow(), c.header)
				if _, err := q.Enqueue(t.Context(), bad); err != nil {
					t.Fatal(err)
				}
				sale := r.enqueue("pos", "SALE-1", 150050, plausibleNow())
				time.Sleep(time.Minute)
				synctest.Wait()
				got, _ := q.Get(bad.ID)
				if got.State != notification.Dead || !strings.Contains(got.Reason, c.reason) || !strings.Contains(got.Reason, c.todo) {
					t.Errorf("unsendable: %s, %q; want a dead letter that says why and what to do", got.State, got.Reason)
				}
				if strings.Contains(got.Reason, "flux vend") {
					t.Errorf("the reason shows the webhook URL: %q", got.Reason)
				}
				for _, st := range r.relay.Status().Targets {
					if st.Mode != ModeOK {
						t.Errorf("target %s is %s (%s); an unsendable notification says nothing of the webhook", st.URL, st.Mode, st.Reason)
					}
				}
				if st := r.state(sale.ID); st != notification.Delivered {
					t.Errorf("the sale after it is %s", st)
				}
				if n := len(w.host("fluxvend.test").core.Received()); n != 1 {
					t.Errorf("%d requests; want only the sale's", n)
				}
			})
		})
	}
}
