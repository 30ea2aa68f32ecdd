package daemon

import (
	"sort"
	"time"

	"github.com/fluxrelay/fluxrelay/admin"
	"github.com/fluxrelay/fluxrelay/health"
)

// The status types live in package admin, which serves them.
type (
	Status         = admin.Status
	SourceStatus   = admin.SourceStatus
	ListenerStatus = admin.ListenerStatus
)

// States of the whole gateway.
const (
	StateOK           = health.OK
	StateDelayed      = health.Delayed
	StateActionNeeded = health.ActionNeeded
)

// DeadLettersReason is the reason status gives while n dead letters wait.
func DeadLettersReason(n int64) string { return health.DeadLettersReason(n) }

// Status returns the daemon's state now: a snapshot is gathered, the
// verdict decided from it (package health), and both reported.
func (d *Daemon) Status() Status {
	now := d.opts.Now()
	cfg := d.cfg.Load()
	st := d.store.Stats()
	rs := d.relay.Status()
	snap := health.Snapshot{Now: now, Pending: st.Pending, Dead: st.Dead, Damaged: st.Damaged, OldestPending: st.OldestPending,
		Full: st.Full, MovedAside: d.store.MovedAside, WritesRefused: st.WritesRefused, Evicted: st.Evicted, EvictedAt: st.EvictedAt,
		Listeners: map[string]health.Listener{}}
	s := Status{
		QueueDepth: st.Pending, DeadLetters: st.Dead,
		DiskUsedBytes: st.DiskUsed, DiskFreeBytes: st.DiskFree,
		StoreCommits: st.Commits, StoreWrites: st.Writes, StoreSyncFailures: st.SyncFailures, StoreWritesRefused: st.WritesRefused,
		StoreEvicted: st.Evicted, StoreMigrating: st.Migrating,
		ClockOK: health.ClockOK(now), Clock: now.UTC(),
		Sources: map[string]SourceStatus{}, Targets: []admin.TargetStatus{}, Listeners: map[string]ListenerStatus{},
		StoreMovedAside: d.store.MovedAside, Rejections: []admin.Rejection{},
		Version: d.opts.Version, StartedAt: d.started.UTC(), Location: d.loc.Load(),
		Gateway: cfg.GatewayName(), RemoteWrite: d.remoteWriteStatus(),
	}
	if !rs.LastDeliveryAt.IsZero() {
		t := rs.LastDeliveryAt.UTC()
		s.LastDeliveryAt = &t
	}
	if s.UncleanRestarts = d.unclean.Count; s.UncleanRestarts > 0 {
		last := d.unclean.Last
		s.LastUncleanRestart = &last
	}
	if !st.EvictedAt.IsZero() {
		t := st.EvictedAt.UTC()
		s.StoreLastEviction = &t
	}
	if !st.OldestPending.IsZero() {
		s.OldestPendingAgeSeconds = int64(max(now.Sub(st.OldestPending), 0) / time.Second)
	}
	for _, r := range d.intake.Stats.Rejections() {
		s.Rejections = append(s.Rejections, admin.Rejection(r))
	}
	for _, t := range rs.Targets {
		s.Targets = append(s.Targets, admin.TargetStatus{URL: t.URL, Mode: string(t.Mode), Reason: t.Reason, Since: t.Since,
			Reachable: t.Reachable, ClockSkewSeconds: t.ClockSkewSeconds, LastError: t.LastError})
		ht := health.Target{Mode: string(t.Mode), Reason: t.Reason, Since: t.Since}
		if t.LastError != "" {
			s.LastError = t.LastError
		}
		if t.Reachable != nil {
			s.CoreReachable = t.Reachable
		}
		if t.ClockSkewSeconds != nil {
			skew := time.Duration(*t.ClockSkewSeconds * float64(time.Second))
			ht.Skew = &skew
			if s.ClockSkewSeconds == nil {
				s.ClockSkewSeconds = t.ClockSkewSeconds
			}
		}
		snap.Targets = append(snap.Targets, ht)
	}
	d.mu.Lock()
	s.ConfigReload = d.reload
	for name, l := range d.listeners {
		s.Listeners[name] = ListenerStatus{Key: l.key, Addr: l.addr, Up: l.up, Error: l.err}
		snap.Listeners[name] = health.Listener{Key: l.key, Addr: l.addr, Up: l.up, Err: l.err}
	}
	d.mu.Unlock()
	if !s.ConfigReload.At.IsZero() && !s.ConfigReload.OK {
		snap.ReloadError = s.ConfigReload.Error
	}
	snap.RestartNeeded = s.ConfigReload.RestartNeeded
	v := health.Decide(snap)
	s.State, s.Reasons, s.Staff = v.State, v.Technician(), v.Staff()
	s.ReasonsDetail = append([]health.Reason{}, v.Reasons...)
	if s.Location != nil {
		s.Timezone = s.Location.String()
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
	return s
}
