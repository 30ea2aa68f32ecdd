package daemon

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/fluxrelay/fluxrelay/admin"
	"github.com/fluxrelay/fluxrelay/relay"
)

// The status types live in package admin, which serves them.
type (
	Status         = admin.Status
	SourceStatus   = admin.SourceStatus
	ListenerStatus = admin.ListenerStatus
)

// States of the whole gateway.
const (
	StateOK           = admin.StateOK
	StateDelayed      = admin.StateDelayed
	StateActionNeeded = admin.StateActionNeeded
)

// maxSkew is how far the clock may be from Fluxvend's before status says so.
const maxSkew = 2 * time.Minute

// delayedAfter is how old the oldest waiting notification may be before
// the state says DELAYED.
const delayedAfter = 5 * time.Minute

// DeadLettersReason is the reason status gives while n dead letters wait.
func DeadLettersReason(n int64) string {
	return fmt.Sprintf("%d payment(s) could not be sent to Fluxvend and wait for a person — see fluxrelay dlq list: fix the cause, then fluxrelay dlq replay them (or record them in Fluxvend by hand and dlq drop them)", n)
}

// Status returns the daemon's state now.
func (d *Daemon) Status() Status {
	now := d.opts.Now()
	cfg := d.cfg.Load()
	st := d.store.Stats()
	rs := d.relay.Status()
	s := Status{
		State: StateOK, Reasons: []string{},
		QueueDepth: st.Pending, DeadLetters: st.Dead,
		DiskUsedBytes: st.DiskUsed, DiskFreeBytes: st.DiskFree,
		StoreCommits: st.Commits, StoreWrites: st.Writes,
		ClockOK: relay.ClockOK(now), Clock: now.UTC(),
		Sources: map[string]SourceStatus{}, Targets: []admin.TargetStatus{}, Listeners: map[string]ListenerStatus{},
		StoreMovedAside: d.store.MovedAside, Rejections: []admin.Rejection{},
		Version: d.opts.Version, StartedAt: d.started.UTC(), Location: d.loc.Load(),
	}
	if !rs.LastDeliveryAt.IsZero() {
		t := rs.LastDeliveryAt.UTC()
		s.LastDeliveryAt = &t
	}
	if s.UncleanRestarts = d.unclean.Count; s.UncleanRestarts > 0 {
		last := d.unclean.Last
		s.LastUncleanRestart = &last
	}
	if !st.OldestPending.IsZero() {
		s.OldestPendingAgeSeconds = int64(max(now.Sub(st.OldestPending), 0) / time.Second)
	}
	// Each cause has the technician's reason and, for the shop's staff,
	// one plain sentence: no config key, error text, URL or address.
	staff := func(sentence string) {
		if !slices.Contains(s.Staff, sentence) {
			s.Staff = append(s.Staff, sentence)
		}
	}
	need := func(reason, sentence string) {
		s.State = StateActionNeeded
		s.Reasons = append(s.Reasons, reason)
		staff(sentence)
	}
	delay := func(reason, sentence string) {
		if s.State == StateOK {
			s.State = StateDelayed
		}
		s.Reasons = append(s.Reasons, reason)
		staff(sentence)
	}
	const callTechnician = " Call your technician."
	for _, r := range d.intake.Stats.Rejections() {
		s.Rejections = append(s.Rejections, admin.Rejection(r))
	}
	for _, t := range rs.Targets {
		s.Targets = append(s.Targets, admin.TargetStatus{URL: t.URL, Mode: string(t.Mode), Reason: t.Reason, Since: t.Since,
			Reachable: t.Reachable, ClockSkewSeconds: t.ClockSkewSeconds, LastError: t.LastError})
		if t.LastError != "" {
			s.LastError = t.LastError
		}
		if t.Reachable != nil {
			s.CoreReachable = t.Reachable
		}
		if t.ClockSkewSeconds != nil && s.ClockSkewSeconds == nil {
			s.ClockSkewSeconds = t.ClockSkewSeconds
			if skew := time.Duration(*t.ClockSkewSeconds * float64(time.Second)); skew > maxSkew || skew < -maxSkew {
				delay(fmt.Sprintf("this gateway's clock is %s off Fluxvend's — enable NTP (timedatectl set-ntp true)", skew.Round(time.Second)),
					"The gateway's clock is wrong."+callTechnician)
			}
		}
		switch t.Mode {
		case relay.ModePaused:
			need(t.Reason, "Payments are kept safely but cannot be sent to Fluxvend."+callTechnician)
		case relay.ModeNotConfigured:
			need(t.Reason, "This gateway is not yet set up to send payments to Fluxvend."+callTechnician)
		case relay.ModeOutage:
			delay(fmt.Sprintf("%s (since %s)", t.Reason, t.Since.UTC().Format(time.RFC3339)),
				"Fluxvend cannot be reached right now. Payments are kept safely and will be sent when it is back.")
		}
	}
	if st.Dead > 0 {
		// What needs a person is never shown as OK.
		need(DeadLettersReason(st.Dead), fmt.Sprintf("%d %s could not be sent to Fluxvend.", st.Dead, plural(st.Dead, "payment", "payments"))+callTechnician)
	}
	if st.Full != "" {
		need("new notifications are being refused: "+st.Full+" — free disk space or raise store.max_disk",
			"The gateway is full and cannot take new payments."+callTechnician)
	}
	if st.Damaged > 0 {
		need(fmt.Sprintf("%d stored notifications could not be read back (damaged store files) and are not being delivered — check the disk (dmesg, fsck) and run fluxrelay doctor", st.Damaged),
			"Some payments stored on the gateway cannot be read."+callTechnician)
	}
	if d.store.MovedAside != "" {
		need("the store could not be opened and was moved aside to "+d.store.MovedAside+"; notifications in it are not being delivered — run the recovery step",
			"Some payments stored on the gateway cannot be read."+callTechnician)
	}
	if !s.ClockOK {
		need("the clock reads "+now.UTC().Format(time.RFC3339)+", which cannot be right — check NTP (timedatectl)",
			"The gateway's clock is wrong."+callTechnician)
	}
	d.mu.Lock()
	s.ConfigReload = d.reload
	for name, l := range d.listeners {
		s.Listeners[name] = ListenerStatus{Key: l.key, Addr: l.addr, Up: l.up, Error: l.err}
		switch {
		case l.up || l.err == "stopped":
		case name == "socket":
			need(fmt.Sprintf("admin.socket %s cannot be used (%s) — check that its folder exists and fluxrelay may write it, or change admin.socket", l.addr, l.err),
				"Part of the gateway is not working."+callTechnician)
		case name == "mqtt-broker":
			need(fmt.Sprintf("cannot reach the MQTT broker %s (%s) — check that it runs and is reachable from this gateway, and mqtt.username and mqtt.password", l.addr, l.err),
				"Payments from the card terminals cannot reach the gateway."+callTechnician)
		default:
			need(fmt.Sprintf("%s %s cannot be used (%s) — stop the program using that port or change %s, then restart", l.key, l.addr, l.err, l.key),
				"Part of the gateway is not working."+callTechnician)
		}
	}
	d.mu.Unlock()
	if !s.ConfigReload.At.IsZero() && !s.ConfigReload.OK {
		s.Reasons = append(s.Reasons, "the last config reload failed, the previous config is running: "+s.ConfigReload.Error)
	}
	if len(s.ConfigReload.RestartNeeded) > 0 {
		s.Reasons = append(s.Reasons, fmt.Sprintf("restart fluxrelay to apply %v", s.ConfigReload.RestartNeeded))
	}
	if s.State == StateOK && s.OldestPendingAgeSeconds > int64(delayedAfter/time.Second) {
		delay(fmt.Sprintf("the oldest waiting payment has waited %s", (time.Duration(s.OldestPendingAgeSeconds)*time.Second).String()),
			"Some payments are taking longer than usual to reach Fluxvend. They are kept safely.")
	}
	names := []string{}
	for _, src := range cfg.Sources {
		names = append(names, src.Name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := d.intake.Stats.Source(name)
		s.Sources[name] = SourceStatus{Received: c.Received.Load(), Queued: c.Queued.Load(), Duplicates: c.Duplicates.Load(),
			Ignored: c.Ignored.Load(), Held: c.Held.Load(), Rejected: c.Rejected.Load(), Delivered: rs.Delivered[name], ParserPanics: c.Panics.Load()}
	}
	if len(s.Staff) == 0 {
		s.Staff = []string{"All payments are reaching Fluxvend."}
	}
	return s
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
