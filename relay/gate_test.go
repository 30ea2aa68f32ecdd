package relay

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
)

var (
	gateNow = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	gateLim = limits{RetryMaxWait: 5 * time.Minute, MaxAge: 2 * time.Hour, PauseProbe: 3 * time.Minute}
)

func answered(status int) result {
	return result{kind: classify(status), status: status, body: "answer"}
}

var noAnswer = result{kind: unreachable, err: errors.New("connection refused")}

// step is one attempt's outcome as the gate sees it, and what it must
// decide.
type step struct {
	id       string
	res      result
	gen      int // the settings the attempt was sent with (0: the gate's)
	recorded bool
	// want
	write    write
	counts   bool
	change   change
	mode     Mode
	takeBack []string
}

// TestGate drives a gate through sequences of outcomes, as table rows: no
// HTTP, no goroutines, no clock.
func TestGate(t *testing.T) {
	for _, c := range []struct {
		name  string
		start Mode
		steps []step
	}{
		{"a delivery", ModeOK, []step{
			{id: "a", res: answered(200), write: writeDelivered, mode: ModeOK},
		}},
		{"409 is delivered", ModeOK, []step{
			{id: "a", res: answered(409), write: writeDelivered, mode: ModeOK},
		}},
		{"no answer begins an outage, and a delivery ends it", ModeOK, []step{
			{id: "a", res: noAnswer, write: writeNote, change: outageBegan, mode: ModeOutage},
			{id: "a", res: noAnswer, write: writeNote, mode: ModeOutage},
			{id: "a", res: answered(200), write: writeDelivered, change: reachableAgain, mode: ModeOK},
		}},
		{"5xx from three different notifications is an outage", ModeOK, []step{
			{id: "a", res: answered(503), write: writeRetry, mode: ModeOK},
			{id: "b", res: answered(503), write: writeRetry, mode: ModeOK},
			{id: "c", res: answered(503), write: writeRetry, change: outageBegan, mode: ModeOutage},
		}},
		{"one notification refused with 500 again and again is not an outage", ModeOK, []step{
			{id: "poison", res: answered(500), write: writeRetry, mode: ModeOK},
			{id: "poison", res: answered(500), write: writeRetry, mode: ModeOK},
			{id: "poison", res: answered(500), write: writeRetry, mode: ModeOK},
			{id: "poison", res: answered(500), write: writeRetry, mode: ModeOK},
		}},
		{"a delivery between failures starts the count again", ModeOK, []step{
			{id: "a", res: answered(503), write: writeRetry, mode: ModeOK},
			{id: "b", res: answered(503), write: writeRetry, mode: ModeOK},
			{id: "x", res: answered(200), write: writeDelivered, mode: ModeOK},
			{id: "c", res: answered(503), write: writeRetry, mode: ModeOK},
		}},
		{"401 pauses; a delivery resumes", ModeOK, []step{
			{id: "a", res: answered(401), write: writeNote, change: pauseBegan, mode: ModePaused},
			{id: "a", res: answered(200), write: writeDelivered, change: resumed, mode: ModeOK},
		}},
		{"a pause answer to older settings says nothing", ModeOK, []step{
			{id: "a", res: answered(401), gen: -1, write: writeNote, mode: ModeOK},
		}},
		{"another 4xx is a dead letter that counts", ModeOK, []step{
			{id: "a", res: answered(422), write: writeDead, counts: true, mode: ModeOK},
		}},
		{"the same 4xx for three notifications pauses and takes their dead letters back", ModeOK, []step{
			{id: "a", res: answered(422), write: writeDead, counts: true, mode: ModeOK},
			{id: "a", res: answered(422), recorded: true, mode: ModeOK},
			{id: "b", res: answered(422), write: writeDead, counts: true, mode: ModeOK},
			{id: "b", res: answered(422), recorded: true, mode: ModeOK},
			{id: "c", res: answered(422), write: writeDead, counts: true, mode: ModeOK},
			{id: "c", res: answered(422), recorded: true, change: pauseBegan, mode: ModePaused, takeBack: []string{"a", "b", "c"}},
			// still refused that way: the pause goes on, this stays queued
			{id: "d", res: answered(422), write: writeNote, mode: ModePaused},
		}},
		{"different 4xx do not make a streak", ModeOK, []step{
			{id: "a", res: answered(422), recorded: true, mode: ModeOK},
			{id: "b", res: answered(400), recorded: true, mode: ModeOK},
			{id: "c", res: answered(422), recorded: true, mode: ModeOK},
		}},
		{"in an outage an answered probe is retried behind the next probe", ModeOutage, []step{
			{id: "a", res: answered(500), write: writeRetry, mode: ModeOutage},
		}},
		{"not configured", ModeNotConfigured, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGate(Target{URL: "http://core"})
			switch c.start {
			case ModeOutage:
				g.mode, g.nextProbe = ModeOutage, gateNow
			case ModeNotConfigured:
				g = newGate(Target{})
				if g.admit("a", gateNow) || !strings.Contains(g.reason, "core.url is empty") {
					t.Errorf("a gate with no URL admits, or says %q", g.reason)
				}
				return
			}
			for i, s := range c.steps {
				gen := g.gen
				if s.gen != 0 {
					gen = g.gen + s.gen
				}
				if s.recorded {
					back, ch := g.recorded(s.id, gen, s.res.status, s.res.body, gateNow, gateLim)
					if !slices.Equal(back, s.takeBack) || ch != s.change || g.mode != s.mode {
						t.Fatalf("step %d (%s recorded): take back %v, change %d, mode %s; want %v, %d, %s", i, s.id, back, ch, g.mode, s.takeBack, s.change, s.mode)
					}
					continue
				}
				d := g.observe(s.id, gen, s.res, gateNow, gateLim)
				if d.write != s.write || d.counts != s.counts || d.change != s.change || g.mode != s.mode {
					t.Fatalf("step %d (%s, %d): write %d counts %v change %d mode %s; want %d %v %d %s", i, s.id, s.res.status, d.write, d.counts, d.change, g.mode, s.write, s.counts, s.change, s.mode)
				}
				if d.write == writeRetry && g.mode == ModeOutage && d.notBefore.Before(g.nextProbe) {
					t.Fatalf("step %d: an answered probe in an outage may be retried before the next probe", i)
				}
			}
		})
	}
}

// TestGateAdmit: OK admits everything; outside OK, one probe at a time and
// not before its time, held by its notification until its outcome is
// observed or it is released.
func TestGateAdmit(t *testing.T) {
	g := newGate(Target{URL: "http://core"})
	for i := range 3 {
		if !g.admit(fmt.Sprint(i), gateNow) || g.probe != "" {
			t.Fatalf("an OK gate refused delivery %d, or reserved a probe for it", i)
		}
	}
	g.observe("a", g.gen, noAnswer, gateNow, gateLim)
	if g.admit("b", gateNow) {
		t.Fatal("an outage admitted a delivery before its next probe")
	}
	at := g.nextProbe
	if g.wakeAt() != at {
		t.Fatalf("wakeAt %v; want the next probe %v", g.wakeAt(), at)
	}
	if !g.admit("a", at) || g.probe != "a" || !g.mayStart("a") {
		t.Fatal("no probe for a at the probe's time")
	}
	if g.admit("b", at) || g.mayStart("b") || !g.wakeAt().IsZero() {
		t.Fatal("a second probe while one is under way")
	}
	g.release("b") // not b's: nothing changes
	if g.probe != "a" {
		t.Fatal("a release by another notification gave back a's probe")
	}
	g.observe("a", g.gen, noAnswer, at, gateLim)
	if g.probe != "" || !g.nextProbe.After(at) {
		t.Fatalf("after a failed probe: probe held by %q, next %v", g.probe, g.nextProbe)
	}
	next := g.nextProbe
	if !g.admit("b", next) {
		t.Fatal("no probe at the next probe's time")
	}
	g.release("b") // b was forgotten from the read-ahead
	if !g.admit("c", next) {
		t.Fatal("a released probe was not given to the next notification")
	}
}

// TestGateReload: a reload to the same webhook keeps the gate and its
// outage but makes the next probe due at once; it lifts a pause; another
// URL is a new gate.
func TestGateReload(t *testing.T) {
	g := newGate(Target{URL: "http://core"})
	g.observe("a", g.gen, noAnswer, gateNow, gateLim)
	same, lifted := g.reload(Target{URL: "http://core", SigningKey: "new"})
	if same != g || lifted != "" || g.mode != ModeOutage || !g.admits(gateNow) {
		t.Fatalf("a reload in an outage: same gate %v, lifted %q, mode %s, admits now %v", same == g, lifted, g.mode, g.admits(gateNow))
	}
	g.observe("a", g.gen, answered(401), gateNow, gateLim)
	if g.mode != ModePaused {
		t.Fatalf("after a 401: %s", g.mode)
	}
	if _, lifted := g.reload(Target{URL: "http://core"}); lifted == "" || g.mode != ModeOK {
		t.Fatalf("a reload did not lift the pause: %s", g.mode)
	}
	if other, _ := g.reload(Target{URL: "http://other"}); other == g || other.mode != ModeOK {
		t.Fatal("another URL kept the old gate")
	}
}

// TestGateUnsendable: a notification no request can be made of is a dead
// letter at once, and says nothing of the webhook.
func TestGateUnsendable(t *testing.T) {
	g := newGate(Target{URL: "http://core"})
	g.observe("a", g.gen, noAnswer, gateNow, gateLim)
	g.admit("x", g.nextProbe)
	d := g.observe("x", g.gen, result{kind: unsendable, err: errors.New("bad header")}, g.nextProbe, gateLim)
	if d.write != writeUnsendable || d.counts || g.mode != ModeOutage || g.probe != "" {
		t.Fatalf("unsendable: write %d counts %v mode %s probe %q", d.write, d.counts, g.mode, g.probe)
	}
	r := &notification.Record{Delivery: notification.Delivery{State: notification.Pending, NextAttempt: gateNow}}
	d.edit(result{kind: unsendable, err: errors.New("bad header")}, gateNow, gateLim)(r)
	if r.State != notification.Dead || r.Reason != "bad header" || len(r.Trail) != 0 || r.Attempts != 0 {
		t.Errorf("unsendable record: %+v", r.Delivery)
	}
}

// TestDecisionEdit: what each decision writes to the record.
func TestDecisionEdit(t *testing.T) {
	rec := func() *notification.Record {
		return &notification.Record{Delivery: notification.Delivery{State: notification.Pending, NextAttempt: gateNow, Attempts: 1, LastAttempt: gateNow.Add(-time.Hour)}}
	}
	res := answered(503)

	r := rec()
	decision{write: writeNote}.edit(res, gateNow, gateLim)(r)
	if r.Attempts != 1 || !r.NextAttempt.Equal(gateNow) || r.LastStatus != 503 {
		t.Errorf("a note changed the count or the schedule: %+v", r.Delivery)
	}

	r = rec()
	later := gateNow.Add(time.Hour)
	decision{write: writeRetry, notBefore: later}.edit(res, gateNow, gateLim)(r)
	if r.Attempts != 2 || r.NextAttempt.Before(later) || r.FailingFor != 0 {
		t.Errorf("a retry: %+v; want 2 attempts, not before %v, no failing time (nothing else went out)", r.Delivery, later)
	}

	r = rec()
	r.FailingFor = gateLim.MaxAge - time.Minute
	decision{write: writeRetry, lastSuccess: gateNow.Add(-time.Minute)}.edit(res, gateNow, gateLim)(r)
	if r.State != notification.Dead || !strings.Contains(r.Reason, "core.max_age") {
		t.Errorf("failing past max_age while others went out: %s %q", r.State, r.Reason)
	}

	r = rec()
	decision{write: writeDead}.edit(answered(422), gateNow, gateLim)(r)
	if r.State != notification.Dead || r.LastStatus != 422 || !strings.Contains(r.Reason, "422") {
		t.Errorf("a refusal: %s %d %q", r.State, r.LastStatus, r.Reason)
	}

	r = rec()
	decision{write: writeDelivered}.edit(answered(200), gateNow, gateLim)(r)
	if r.State != notification.Delivered || !r.DeliveredAt.Equal(gateNow) || r.Attempts != 2 {
		t.Errorf("a delivery: %+v", r.Delivery)
	}
}
