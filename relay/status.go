package relay

import (
	"maps"
	"time"
)

// TargetStatus is one target's delivery state.
type TargetStatus struct {
	URL       string    `json:"url"`
	Mode      Mode      `json:"mode"`
	Reason    string    `json:"reason,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	Reachable *bool     `json:"reachable"`
	// ClockSkewSeconds is this gateway's clock minus the webhook's, from
	// the Date header of its last answer.
	ClockSkewSeconds *float64 `json:"clock_skew_seconds,omitempty"`
	LastError        string   `json:"last_error,omitempty"`
}

// Status is the relay's state for the status API.
type Status struct {
	Targets        []TargetStatus   `json:"targets"`
	LastDeliveryAt time.Time        `json:"last_delivery_at,omitzero"`
	Delivered      map[string]int64 `json:"delivered"`
}

// Status returns the relay's current state.
func (r *Relay) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Status{LastDeliveryAt: r.lastOK, Delivered: maps.Clone(r.delivered)}
	for _, g := range r.gates() {
		ts := TargetStatus{URL: g.cfg.URL, Mode: g.mode, Reason: g.reason, Since: g.since, Reachable: g.reachable, LastError: g.lastError}
		if g.skew != nil {
			s := g.skew.Seconds()
			ts.ClockSkewSeconds = &s
		}
		st.Targets = append(st.Targets, ts)
	}
	return st
}
