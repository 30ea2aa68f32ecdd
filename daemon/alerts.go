package daemon

import (
	"context"
	"time"

	"github.com/fluxrelay/fluxrelay/alert"
	"github.com/fluxrelay/fluxrelay/config"
	"github.com/fluxrelay/fluxrelay/store"
)

// delayedAlertAfter is how long the state must stay DELAYED before an
// alert says so: a short outage mends itself.
const delayedAlertAfter = 15 * time.Minute

// receivers turns the [[alert]] tables into the alerter's receivers.
func receivers(cfg *config.Config) []alert.Receiver {
	var out []alert.Receiver
	for _, a := range cfg.Alerts {
		out = append(out, alert.Receiver{URL: a.URL.Value(), Format: a.Format, ChatID: a.ChatID, MinInterval: a.MinInterval.D(),
			Heartbeat: a.Heartbeat.D()})
	}
	return out
}

// watch looks at the state every few seconds and tells the alerter what a
// person needs to know: a change to ACTION NEEDED at once, to DELAYED once
// it has lasted 15 minutes, back to OK after either; each new dead letter;
// free space below twice the reserve; a start after an unclean stop; and
// to the receivers that asked, a heartbeat. Each carries the gateway's
// name as configured now.
func (d *Daemon) watch(ctx context.Context) error {
	every := d.opts.WatchEvery
	if every == 0 {
		every = 5 * time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	alerted := StateOK // the state the last state alert told
	var delayedSince time.Time
	var dead int64
	diskLow := false
	toldUnclean := !d.uncleanNow
	var line string // the last STATUS= told to the service manager
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		st, now := d.Status(), d.opts.Now()
		if l := st.Line(); l != line {
			d.notify("STATUS=" + l)
			line = l
		}
		event := func(kind, previous string) alert.Event {
			return alert.Event{Kind: kind, Gateway: st.Gateway, State: st.State, PreviousState: previous,
				Reasons: st.Reasons, QueueDepth: st.QueueDepth, DeadLetters: st.DeadLetters, At: now.UTC()}
		}
		send := func(kind, previous string) { d.alerter.Send(event(kind, previous)) }
		d.alerter.Beat(event(alert.KindHeartbeat, st.State))
		if st.State != StateDelayed {
			delayedSince = time.Time{}
		} else if delayedSince.IsZero() {
			delayedSince = now
		}
		switch {
		case st.State == alerted:
		case st.State == StateDelayed && now.Sub(delayedSince) < delayedAlertAfter:
		default:
			send(alert.KindState, alerted)
			alerted = st.State
		}
		if !toldUnclean {
			send(alert.KindUncleanRestart, st.State)
			toldUnclean = true
		}
		if st.DeadLetters > dead {
			send(alert.KindDeadLetter, st.State)
		}
		dead = st.DeadLetters
		low := st.DiskFreeBytes > 0 && st.DiskFreeBytes < 2*store.DefaultMinFree
		if low && !diskLow {
			send(alert.KindDisk, st.State)
		}
		diskLow = low
	}
}
