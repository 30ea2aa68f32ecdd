package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/relay"
)

// States of the whole gateway, as the status page colours them.
const (
	StateOK           = "ok"
	StateDelayed      = "delayed"
	StateActionNeeded = "action_needed"
)

// SourceStatus counts one source's notifications since the start.
type SourceStatus struct {
	Received   int64 `json:"received"`
	Queued     int64 `json:"queued"`
	Duplicates int64 `json:"duplicates"`
	Ignored    int64 `json:"ignored"`
	Rejected   int64 `json:"rejected"`
	Delivered  int64 `json:"delivered"`
}

// ListenerStatus says whether a listener is up.
type ListenerStatus struct {
	Key   string `json:"key"`
	Addr  string `json:"addr,omitempty"`
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`
}

// Status is what `fluxrelay status --json` prints and /api/status serves.
type Status struct {
	State                   string                    `json:"state"`
	Reasons                 []string                  `json:"reasons"`
	QueueDepth              int64                     `json:"queue_depth"`
	OldestPendingAgeSeconds int64                     `json:"oldest_pending_age_seconds"`
	DeadLetters             int64                     `json:"dead_letters"`
	LastDeliveryAt          *time.Time                `json:"last_delivery_at"`
	LastError               string                    `json:"last_error"`
	CoreReachable           *bool                     `json:"core_reachable"`
	DiskUsedBytes           int64                     `json:"disk_used_bytes"`
	DiskFreeBytes           int64                     `json:"disk_free_bytes"`
	ClockOK                 bool                      `json:"clock_ok"`
	Clock                   time.Time                 `json:"clock"`
	ConfigReload            ReloadResult              `json:"config_reload"`
	Sources                 map[string]SourceStatus   `json:"sources"`
	Targets                 []relay.TargetStatus      `json:"targets"`
	Listeners               map[string]ListenerStatus `json:"listeners"`
	StoreMovedAside         string                    `json:"store_moved_aside,omitempty"`
	Rejections              []ingest.Rejection        `json:"recent_rejections"`
	Version                 string                    `json:"version"`
	StartedAt               time.Time                 `json:"started_at"`
}

// delayedAfter is how old the oldest waiting notification may be before
// the state says DELAYED.
const delayedAfter = 5 * time.Minute

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
		ClockOK: relay.ClockOK(now), Clock: now.UTC(),
		Sources: map[string]SourceStatus{}, Targets: rs.Targets, Listeners: map[string]ListenerStatus{},
		StoreMovedAside: d.store.MovedAside, Rejections: d.intake.Stats.Rejections(),
		Version: d.opts.Version, StartedAt: d.started.UTC(),
	}
	if !rs.LastDeliveryAt.IsZero() {
		t := rs.LastDeliveryAt.UTC()
		s.LastDeliveryAt = &t
	}
	if !st.OldestPending.IsZero() {
		s.OldestPendingAgeSeconds = int64(max(now.Sub(st.OldestPending), 0) / time.Second)
	}
	need := func(reason string) { s.State = StateActionNeeded; s.Reasons = append(s.Reasons, reason) }
	delay := func(reason string) {
		if s.State == StateOK {
			s.State = StateDelayed
		}
		s.Reasons = append(s.Reasons, reason)
	}
	for _, t := range rs.Targets {
		if t.LastError != "" {
			s.LastError = t.LastError
		}
		if t.Reachable != nil {
			s.CoreReachable = t.Reachable
		}
		switch t.Mode {
		case relay.ModePaused, relay.ModeNotConfigured:
			need(t.Reason)
		case relay.ModeOutage:
			delay(fmt.Sprintf("%s (since %s)", t.Reason, t.Since.UTC().Format(time.RFC3339)))
		}
	}
	if st.Full != "" {
		need("new notifications are being refused: " + st.Full + " — free disk space or raise store.max_disk")
	}
	if d.store.MovedAside != "" {
		need("the store could not be opened and was moved aside to " + d.store.MovedAside + "; notifications in it are not being delivered — run the recovery step")
	}
	if !s.ClockOK {
		need("the clock reads " + now.UTC().Format(time.RFC3339) + ", which cannot be right — check NTP (timedatectl)")
	}
	d.mu.Lock()
	s.ConfigReload = d.reload
	for name, l := range d.listeners {
		s.Listeners[name] = ListenerStatus{Key: l.key, Addr: l.addr, Up: l.up, Error: l.err}
		switch {
		case l.up || l.err == "stopped":
		case name == "mqtt-broker":
			need(fmt.Sprintf("cannot reach the MQTT broker %s (%s) — check that it runs and is reachable from this gateway, and mqtt.username and mqtt.password", l.addr, l.err))
		default:
			need(fmt.Sprintf("%s %s cannot be used (%s) — stop the program using that port or change %s, then restart", l.key, l.addr, l.err, l.key))
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
		delay(fmt.Sprintf("the oldest waiting payment has waited %s", (time.Duration(s.OldestPendingAgeSeconds) * time.Second).String()))
	}
	names := []string{}
	for _, src := range cfg.Sources {
		names = append(names, src.Name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := d.intake.Stats.Source(name)
		s.Sources[name] = SourceStatus{Received: c.Received.Load(), Queued: c.Queued.Load(), Duplicates: c.Duplicates.Load(),
			Ignored: c.Ignored.Load(), Rejected: c.Rejected.Load(), Delivered: rs.Delivered[name]}
	}
	return s
}

// adminHandler serves the admin API.
func (d *Daemon) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		st := d.Status()
		code := http.StatusOK
		if !d.ready.Load() {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]any{"ready": code == http.StatusOK, "listeners": st.Listeners, "core_reachable": st.CoreReachable})
	})
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, d.Status())
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
