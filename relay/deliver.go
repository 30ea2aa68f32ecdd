package relay

import (
	"context"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
)

// deliver makes one attempt and records its outcome. It calls sent once
// the attempt is over, before the outcome is written.
func (r *Relay) deliver(ctx context.Context, rec *notification.Record, g *gate, sent func()) {
	r.mu.Lock()
	t, gen, client := g.cfg, g.gen, r.client
	r.mu.Unlock()
	res := r.send(ctx, client, rec, t)
	sent()
	if ctx.Err() != nil && res.kind != delivered && res.kind != unsendable {
		return // shutting down: the notification stays queued as it was
	}
	fn, refused := r.settle(rec, g, gen, res)
	if r.opts.Observe != nil && res.kind != unsendable { // no request was made
		outcome := res.kind
		if outcome == reject && !refused {
			outcome = pause // refused the way that paused deliveries: it stays queued
		}
		r.opts.Observe(outcomeName(outcome), r.opts.Now().Sub(rec.ReceivedAt))
	}
	// Record a delivery even while shutting down: the store closes last.
	bg := context.WithoutCancel(ctx)
	var deadReason string
	edit := func(x *notification.Record) error {
		err := fn(x)
		if err == nil && x.State == notification.Dead {
			deadReason = x.Reason
		}
		return err
	}
	if err := r.q.UpdateFrom(bg, rec, edit); err != nil {
		r.log.Error("recording a delivery outcome failed; it will be attempted again", "id", rec.ID, "err", err)
		return
	}
	if deadReason != "" {
		r.log.Warn("dead letter: a payment waits for a person (fluxrelay dlq list)", "id", rec.ID, "source", rec.Source, "transaction_ref", rec.TransactionRef(), "reason", deadReason)
	}
	if !refused {
		return
	}
	// Only now that this dead letter is written can it be counted: a
	// streak that pauses takes back exactly the dead letters already
	// written, whatever order concurrent deliveries finish in.
	for _, id := range r.countRefusal(g, gen, rec.ID, res) {
		var back bool
		err := r.q.Update(bg, id, func(x *notification.Record) error {
			if x.State == notification.Dead && x.LastStatus == res.status {
				x.State, x.Reason, x.NextAttempt, x.DeadAt = notification.Pending, "", r.opts.Now(), time.Time{}
				x.Attempts = max(x.Attempts-1, 0) // the webhook refused, not this notification
				back = true
			}
			return nil
		})
		if err != nil {
			r.log.Error("re-queueing a notification failed", "id", id, "err", err)
		} else if back {
			r.log.Info("dead letter taken back: the webhook refuses every notification the same way, so it waits with the others", "id", id)
		}
	}
}

// limits returns the settings the gates decide by. Call it with r.mu held.
func (r *Relay) limits() limits {
	return limits{RetryMaxWait: r.opts.RetryMaxWait, MaxAge: r.opts.MaxAge, PauseProbe: r.opts.PauseProbe}
}

// settle has the target's gate decide what one outcome means and returns
// the change to make to the notification, and whether that change
// dead-letters it for a refusal that must be counted once it is written.
func (r *Relay) settle(rec *notification.Record, g *gate, gen int, res result) (func(*notification.Record) error, bool) {
	now := r.opts.Now()
	r.mu.Lock()
	lim := r.limits()
	d := g.observe(rec.ID, gen, res, now, lim)
	if d.write == writeDelivered {
		r.lastOK = now
		r.delivered[rec.Source]++
	}
	url, reason, since := g.cfg.URL, g.reason, g.since
	r.mu.Unlock()
	r.logChange(d.change, url, reason, d.was, now.Sub(since), res)
	return d.edit(res, now, lim), d.counts
}

// countRefusal has the gate count a refusal's dead letter, now written,
// and returns the dead letters to take back if the streak paused
// deliveries.
func (r *Relay) countRefusal(g *gate, gen int, id string, res result) []string {
	now := r.opts.Now()
	r.mu.Lock()
	takeBack, c := g.recorded(id, gen, res.status, res.body, now, r.limits())
	url, reason := g.cfg.URL, g.reason
	r.mu.Unlock()
	r.logChange(c, url, reason, "", 0, res)
	return takeBack
}

// logChange says in the log what a gate's transition means.
func (r *Relay) logChange(c change, url, reason, was string, after time.Duration, res result) {
	switch c {
	case outageBegan:
		r.log.Warn("Fluxvend unreachable; deliveries wait", "url", url, "last", res.describe())
	case reachableAgain:
		r.log.Info("Fluxvend reachable again", "after", after.Round(time.Second).String(), "url", url)
	case pauseBegan:
		r.log.Error("deliveries paused: ACTION NEEDED", "reason", reason)
	case resumed:
		r.log.Info("deliveries resumed", "was", was)
	}
}

func outcomeName(k kind) string {
	return [...]string{delivered: "delivered", retry: "retry", unreachable: "unreachable", pause: "paused", reject: "dead_letter"}[k]
}
