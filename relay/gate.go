package relay

import (
	"fmt"
	"slices"
	"time"

	"github.com/fluxrelay/fluxrelay/health"
	"github.com/fluxrelay/fluxrelay/notification"
)

// gate is one target's delivery state, as a state machine, and the only
// code that changes it: admit says whether a delivery may start, observe
// what an attempt's outcome means for the target and for the notification,
// recorded what a refusal means once its dead letter is written, release
// gives back a probe that ends without an outcome, reload takes new
// settings. It does no I/O, reads no clock and takes no lock (the Relay's
// mutex guards it), so it is tested table by table.
type gate struct {
	cfg       Target
	gen       int // bumped when cfg changes, to tell answers to older settings
	mode      Mode
	reason    string
	since     time.Time
	nextProbe time.Time
	// probe is the notification the probe is reserved for while the
	// target is not OK, from admit until its outcome is observed or it is
	// released; empty when none is.
	probe  string
	probes int // failed probes in this outage, for its backoff
	// failing are the notifications refused with retryable answers in a
	// row: three different ones say the webhook is in an outage; one
	// failing again and again says nothing of the others.
	failing     []string
	lastSuccess time.Time
	reachable   *bool
	skew        *time.Duration
	lastError   string
	streak      []string // ids refused with the same other 4xx, in a row
	streakCode  int
	pauseCode   int // the other 4xx that paused deliveries, if one did
}

func newGate(t Target) *gate {
	g := &gate{cfg: t, mode: ModeOK}
	if t.URL == "" {
		g.mode = ModeNotConfigured
		g.reason = "core.url is empty: notifications are stored but not delivered. Copy the Fluxvend Core webhook URL, tenant id, API key and secret from the Fluxvend portal into the [core] section and reload"
	}
	return g
}

// admit reports whether a delivery of the notification id may start now.
// While the target is not OK one delivery at a time goes, as a probe:
// admit reserves it for id until observe takes id's outcome or release
// gives it back.
func (g *gate) admit(id string, now time.Time) bool {
	if !g.admits(now) {
		return false
	}
	if g.mode != ModeOK {
		g.probe = id
	}
	return true
}

// admits reports whether admit would let a delivery through now.
func (g *gate) admits(now time.Time) bool {
	switch g.mode {
	case ModeOK:
		return true
	case ModeNotConfigured:
		return false
	}
	return g.probe == "" && !now.Before(g.nextProbe)
}

// mayStart reports whether id, admitted earlier and not yet sent, may
// still go: the target is OK, or id holds the probe.
func (g *gate) mayStart(id string) bool {
	return g.mode == ModeOK || (g.mode != ModeNotConfigured && g.probe == id)
}

// release gives back the probe when id holds it: id's delivery ended
// without an outcome for the gate (forgotten from the read-ahead, stopped
// by a shutdown, settled without a request).
func (g *gate) release(id string) {
	if g.probe == id {
		g.probe = ""
	}
}

// stopped gives back the probe, whoever holds it: the relay stopped, and
// what was under way stays queued.
func (g *gate) stopped() { g.probe = "" }

// wakeAt is when the next probe falls due, or zero when none waits.
func (g *gate) wakeAt() time.Time {
	if (g.mode == ModeOutage || g.mode == ModePaused) && g.probe == "" {
		return g.nextProbe
	}
	return time.Time{}
}

// reload returns the gate for the target's new settings t: g itself when
// t is the same webhook, else a new gate. The new settings are tried at
// once: a pause is lifted (lifted is its reason) and in an outage the next
// probe is due now.
func (g *gate) reload(t Target) (next *gate, lifted string) {
	if g == nil || g.cfg.URL != t.URL || g.mode == ModeNotConfigured || t.URL == "" {
		return newGate(t), ""
	}
	g.cfg = t
	g.gen++
	g.nextProbe = time.Time{}
	if g.mode == ModePaused {
		lifted = g.reason
		g.mode, g.reason, g.streak, g.pauseCode = ModeOK, "", nil, 0
	}
	return g, lifted
}

// limits are the settings the gate's decisions depend on.
type limits struct {
	RetryMaxWait, MaxAge, PauseProbe time.Duration
}

// write is what an attempt's outcome does to the notification's record.
type write int

const (
	writeDelivered write = iota
	// writeRetry counts the attempt and schedules the next (or, failing
	// for core.max_age while others are delivered, dead-letters it).
	writeRetry
	// writeNote notes the attempt; its count and schedule stay, since the
	// outcome says nothing of this notification.
	writeNote
	// writeDead dead-letters it: Fluxvend refuses this notification.
	writeDead
	// writeUnsendable dead-letters it without an attempt: no request can
	// be made of it.
	writeUnsendable
)

// change is a transition of the gate worth a line in the log.
type change int

const (
	noChange change = iota
	outageBegan
	reachableAgain
	pauseBegan
	resumed
)

// decision is what the gate makes of one attempt's outcome.
type decision struct {
	write write
	// notBefore bounds a retry's next attempt from below.
	notBefore time.Time
	// lastSuccess is when the target last took a notification, for
	// core.max_age: failing counts only while others go out.
	lastSuccess time.Time
	// counts says a dead letter counts toward a refusal streak once it
	// is written (recorded).
	counts bool
	change change
	// was is the reason the target was not OK, for resumed and
	// reachableAgain.
	was string
}

// observe takes the outcome res of an attempt to deliver the notification
// id, sent with the settings of generation gen, at now.
func (g *gate) observe(id string, gen int, res result, now time.Time, lim limits) decision {
	g.release(id)
	if res.kind == unsendable {
		// No request could be made: nothing is known of the webhook, and
		// nothing will change for this notification by trying again.
		return decision{write: writeUnsendable}
	}
	if res.kind == pause && gen != g.gen {
		// Sent with the settings a reload has since replaced (a rotated
		// secret, say): it says nothing about the new ones. Try again.
		return decision{write: writeNote}
	}
	reachable := res.err == nil
	g.reachable = &reachable
	if res.skew != nil {
		g.skew = res.skew
	}
	if res.kind != delivered {
		g.lastError = res.describe()
	}
	d := decision{}
	if res.kind == delivered || res.kind == reject {
		g.failing = nil
		if g.mode == ModeOutage {
			d.change, d.was = reachableAgain, g.reason
			g.mode, g.reason, g.probes = ModeOK, "", 0
		}
	}
	switch res.kind {
	case delivered:
		if g.mode == ModePaused {
			d.change, d.was = resumed, g.reason
			g.mode, g.reason = ModeOK, ""
		}
		g.streak, g.lastSuccess = nil, now
		d.write = writeDelivered
		return d
	case retry, unreachable:
		g.streak = nil
		if !slices.Contains(g.failing, id) {
			g.failing = append(g.failing, id)
		}
		wait := func(n int) time.Duration {
			return max(backoff(n, lim.RetryMaxWait), min(res.retryAfter, lim.RetryMaxWait))
		}
		if g.mode == ModeOutage {
			g.probes++
			g.nextProbe = now.Add(wait(g.probes))
		} else if g.mode == ModeOK && (res.kind == unreachable || len(g.failing) >= 3) {
			g.mode, g.since, g.probes = ModeOutage, now, 1
			g.reason = "Fluxvend is not taking notifications (" + res.describe() + "); they are kept and will be delivered when it is back"
			g.nextProbe = now.Add(wait(1))
			d.change = outageBegan
		}
		switch {
		case g.mode == ModeOutage && res.kind == retry:
			// Fluxvend answered, so the fault may be this notification's
			// (a 500 for one payload): it is retried like any other, no
			// sooner than the next probe, so that the next probe is another
			// notification and one that is always refused cannot hold up
			// all the others (nor escape max_age while they go out).
			d.write, d.notBefore = writeRetry, g.nextProbe
		case g.mode == ModeOutage:
			// No answer at all: the webhook is the problem, not this
			// notification. Its schedule and attempts stay, so the oldest
			// is always the probe and all go out in order of age when
			// Fluxvend is back.
			d.write = writeNote
		default:
			d.write = writeRetry
		}
		d.lastSuccess = g.lastSuccess
		return d
	case pause:
		d.write, d.change = writeNote, g.pause(now, 0, pauseReason(res), lim)
		return d
	default: // reject
		if g.mode == ModePaused && g.pauseCode == res.status {
			// Paused because the webhook refuses everything this way,
			// and it still does: the pause goes on and this stays queued.
			g.pause(now, g.pauseCode, g.reason, lim)
			d.write = writeNote
			return d
		}
		d.write, d.counts = writeDead, true
		return d
	}
}

// recorded counts a dead letter just written for an "other 4xx" status.
// The same status for 3 different notifications in a row says the webhook
// refuses everything, not those notifications: deliveries pause, and the
// dead letters of the streak are returned, to be taken back. So is a dead
// letter of the status that paused deliveries meanwhile. Counting only
// what is written takes back exactly the dead letters that exist, whatever
// order concurrent deliveries finish in.
func (g *gate) recorded(id string, gen, status int, body string, now time.Time, lim limits) (takeBack []string, c change) {
	if gen != g.gen {
		return nil, noChange // sent with settings a reload has since replaced
	}
	if g.mode == ModePaused && g.pauseCode == status {
		return []string{id}, noChange
	}
	if status != g.streakCode {
		g.streak, g.streakCode = nil, status
	}
	g.streak = append(g.streak, id)
	if len(g.streak) < 3 {
		return nil, noChange
	}
	streak := g.streak
	c = g.pause(now, status, fmt.Sprintf("Fluxvend answered %d to 3 different notifications in a row (%s): the webhook is refusing everything, not one notification — check core.tenant_id, core.url and the webhook in the portal, then reload", status, body), lim)
	return streak, c
}

// pause stops deliveries but for a probe every PauseProbe. code is the
// "other 4xx" refused 3 times in a row that paused them, if one did.
func (g *gate) pause(now time.Time, code int, reason string, lim limits) change {
	c := noChange
	if g.mode != ModePaused {
		c, g.since = pauseBegan, now
	}
	g.mode, g.reason, g.nextProbe, g.streak, g.pauseCode = ModePaused, reason, now.Add(lim.PauseProbe), nil, code
	return c
}

// edit returns the change a decision makes to the notification's record,
// the attempt noted in its trail.
func (d decision) edit(res result, now time.Time, lim limits) func(*notification.Record) error {
	change := d.record(res, now, lim)
	if d.write == writeUnsendable {
		return change // no request was made: nothing for the trail
	}
	return func(x *notification.Record) error {
		a := notification.Attempt{At: now, Status: res.status, Took: res.took}
		if res.kind != delivered {
			a.Error = res.describe()
		}
		x.Note(a)
		return change(x)
	}
}

// record is the change to the record itself.
func (d decision) record(res result, now time.Time, lim limits) func(*notification.Record) error {
	switch d.write {
	case writeDelivered:
		return func(x *notification.Record) error {
			x.State, x.DeliveredAt, x.LastAttempt, x.LastStatus, x.LastError = notification.Delivered, now, now, res.status, ""
			x.Attempts++
			return nil
		}
	case writeDead:
		return func(x *notification.Record) error {
			x.State, x.DeadAt, x.LastAttempt, x.LastStatus = notification.Dead, now, now, res.status
			x.Attempts++
			x.Reason, x.LastError = res.describe(), res.describe()
			return nil
		}
	case writeUnsendable:
		return func(x *notification.Record) error {
			x.State, x.DeadAt, x.NextAttempt = notification.Dead, now, time.Time{}
			x.Reason = res.describe()
			return nil
		}
	case writeRetry:
		return func(x *notification.Record) error {
			// Time spent failing counts toward core.max_age only while
			// other notifications were delivered meanwhile, and only
			// while the clock is plausible.
			if !x.LastAttempt.IsZero() && d.lastSuccess.After(x.LastAttempt) && now.After(x.LastAttempt) {
				x.FailingFor += now.Sub(x.LastAttempt)
			}
			x.Attempts++
			x.LastAttempt, x.LastStatus, x.LastError = now, res.status, res.describe()
			if x.FailingFor >= lim.MaxAge && health.ClockOK(now) {
				x.State, x.DeadAt = notification.Dead, now
				x.Reason = fmt.Sprintf("failed for %s while other notifications were delivered (core.max_age); last: %s", x.FailingFor.Round(time.Minute), res.describe())
				return nil
			}
			x.NextAttempt = now.Add(max(backoff(x.Attempts, lim.RetryMaxWait), min(res.retryAfter, lim.RetryMaxWait)))
			if x.NextAttempt.Before(d.notBefore) {
				x.NextAttempt = d.notBefore
			}
			return nil
		}
	default: // writeNote
		return func(x *notification.Record) error {
			x.LastAttempt, x.LastStatus, x.LastError = now, res.status, res.describe()
			return nil
		}
	}
}
