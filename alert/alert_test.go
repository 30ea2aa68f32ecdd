package alert

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// receiver is a fake alert receiver that records what it is sent and
// checks it is JSON.
type receiver struct {
	t      *testing.T
	mu     sync.Mutex
	bodies []map[string]any
	fail   atomic.Int32 // answer 500 to this many requests first
	got    chan struct{}
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	r := &receiver{t: t, got: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("alert sent as %s %s", req.Method, req.Header.Get("Content-Type"))
		}
		if r.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		raw, _ := io.ReadAll(req.Body)
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Errorf("an alert is not JSON: %s", raw)
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, m)
		r.mu.Unlock()
		r.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) wait(n int) []map[string]any {
	r.t.Helper()
	for range n {
		select {
		case <-r.got:
		case <-time.After(10 * time.Second):
			r.t.Fatalf("the receiver got %d alerts; want %d", len(r.all()), n)
		}
	}
	return r.all()
}

func (r *receiver) all() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.bodies...)
}

func running(t *testing.T, rs ...Receiver) *Alerter {
	a := New(Options{Timeout: 500 * time.Millisecond, RetryWait: 10 * time.Millisecond, Tries: 4})
	a.SetReceivers(rs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func event(kind, state, previous string, at time.Duration) Event {
	return Event{Kind: kind, Gateway: "shop-1", State: state, PreviousState: previous, Reasons: []string{"1 payment(s) could not be sent"},
		QueueDepth: 2, DeadLetters: 1, At: t0.Add(at)}
}

func TestJSONAndTelegram(t *testing.T) {
	js, jsSrv := newReceiver(t)
	tg, tgSrv := newReceiver(t)
	a := running(t, Receiver{URL: jsSrv.URL, Format: "json", MinInterval: time.Minute},
		Receiver{URL: tgSrv.URL + "/bot123:secret-token/sendMessage", Format: "telegram", ChatID: "4242", MinInterval: time.Minute})
	a.Send(event(KindState, "action_needed", "ok", 0))
	got := js.wait(1)[0]
	for _, k := range []string{"gateway", "state", "previous_state", "reasons", "queue_depth", "dead_letters", "at", "kind"} {
		if _, ok := got[k]; !ok {
			t.Errorf("the JSON event lacks %q: %v", k, got)
		}
	}
	if got["state"] != "action_needed" || got["kind"] != "state" {
		t.Errorf("JSON event %v", got)
	}
	msg := tg.wait(1)[0]
	if msg["chat_id"] != "4242" || !strings.Contains(msg["text"].(string), "fluxrelay on shop-1: ACTION NEEDED (was OK)") || !strings.Contains(msg["text"].(string), "could not be sent") {
		t.Errorf("telegram message %v", msg)
	}
}

// TestMinIntervalAndBackToOK: one alert of a kind per interval, but "back
// to OK" always.
func TestMinIntervalAndBackToOK(t *testing.T) {
	js, srv := newReceiver(t)
	a := running(t, Receiver{URL: srv.URL, Format: "json", MinInterval: 15 * time.Minute})
	a.Send(event(KindState, "action_needed", "ok", 0))
	a.Send(event(KindState, "delayed", "action_needed", time.Minute))    // within the interval: not sent
	a.Send(event(KindState, "ok", "delayed", 2*time.Minute))             // back to OK: sent
	a.Send(event(KindDeadLetter, "action_needed", "ok", 3*time.Minute))  // another kind: sent
	a.Send(event(KindState, "action_needed", "ok", 20*time.Minute))      // after the interval: sent
	a.Send(event(KindDeadLetter, "action_needed", "ok", 10*time.Minute)) // within its kind's interval: not sent
	a.Send(event(KindState, "ok", "action_needed", 21*time.Minute))      // back to OK, last: all before it has arrived
	got := js.wait(5)
	var seen []string
	for _, e := range got {
		seen = append(seen, e["kind"].(string)+":"+e["state"].(string))
	}
	if strings.Join(seen, " ") != "state:action_needed state:ok dead_letter:action_needed state:action_needed state:ok" {
		t.Errorf("sent %v", seen)
	}
}

func TestRetries(t *testing.T) {
	js, srv := newReceiver(t)
	js.fail.Store(2)
	a := running(t, Receiver{URL: srv.URL, Format: "json", MinInterval: time.Minute})
	a.Send(event(KindDisk, "action_needed", "ok", 0))
	if got := js.wait(1); got[0]["kind"] != "disk" {
		t.Errorf("after two failures: %v", got)
	}
}

// TestHangingReceiver: a receiver that never answers neither blocks Send
// nor delays the other receivers.
func TestHangingReceiver(t *testing.T) {
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer hanging.Close()
	defer close(release)
	js, srv := newReceiver(t)
	a := running(t, Receiver{URL: hanging.URL, Format: "json", MinInterval: time.Minute}, Receiver{URL: srv.URL, Format: "json", MinInterval: time.Minute})
	sent := make(chan struct{})
	go func() {
		for i := range 200 { // far more than a queue holds
			a.Send(event(KindState, "action_needed", "ok", time.Duration(i)*time.Hour))
		}
		close(sent)
	}()
	select {
	case <-sent:
	case <-time.After(5 * time.Second):
		t.Fatal("Send blocked behind a receiver that hangs")
	}
	if got := js.wait(1); got[0]["kind"] != "state" {
		t.Errorf("the working receiver got %v", got)
	}
}

// TestNoAnswerHidesTheURL: the error logged for a receiver that cannot be
// reached says why without its URL, which carries the bot's token.
func TestNoAnswerHidesTheURL(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	a := New(Options{})
	err := a.post(context.Background(), closed.URL+"/bot123:secret-token/sendMessage", []byte(`{}`))
	if err == nil || strings.Contains(err.Error(), "secret-token") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("post to a closed port: %v", err)
	}
}

// TestHeartbeat: only the receivers that ask for a heartbeat get one, at
// the first Beat and then once per interval whatever the other alerts;
// a reload that keeps a receiver keeps its rhythm; the Telegram text names
// the gateway.
func TestHeartbeat(t *testing.T) {
	beats, beatSrv := newReceiver(t)
	quiet, quietSrv := newReceiver(t)
	tg, tgSrv := newReceiver(t)
	rs := []Receiver{
		{URL: beatSrv.URL, Format: "json", MinInterval: time.Minute, Heartbeat: 24 * time.Hour},
		{URL: quietSrv.URL, Format: "json", MinInterval: time.Minute},
		{URL: tgSrv.URL, Format: "telegram", ChatID: "42", MinInterval: time.Minute, Heartbeat: 24 * time.Hour},
	}
	a := running(t, rs...)
	ev := event(KindState, "ok", "", 0)
	ev.Gateway = "Ikeja City Mall"
	for _, at := range []time.Duration{0, time.Minute, 23 * time.Hour, 24 * time.Hour, 30 * time.Hour} {
		ev.At = t0.Add(at)
		a.Beat(ev)
		if at == time.Minute {
			beats.wait(1)
			tg.wait(1)
			a.SetReceivers(rs) // a reload
		}
	}
	got := beats.wait(1)
	for i, want := range []time.Time{t0, t0.Add(24 * time.Hour)} {
		if got[i]["kind"] != "heartbeat" || got[i]["gateway"] != "Ikeja City Mall" || got[i]["at"] != want.Format(time.RFC3339) {
			t.Errorf("heartbeat %d: %v; want one at %s", i, got[i], want)
		}
	}
	msg := tg.wait(1)[0]["text"].(string)
	if !strings.HasPrefix(msg, "fluxrelay on Ikeja City Mall is alive: OK") {
		t.Errorf("telegram heartbeat %q", msg)
	}
	a.Send(event(KindDisk, "action_needed", "ok", 31*time.Hour)) // goes after any heartbeat still queued
	if got := beats.wait(1); len(got) != 3 || got[2]["kind"] != "disk" {
		t.Errorf("the heartbeat receiver got %v; want two heartbeats, then the disk alert", got)
	}
	if got := quiet.wait(1); len(got) != 1 || got[0]["kind"] != "disk" {
		t.Errorf("the receiver without heartbeat got %v", got)
	}
}
