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
	LastError string    `json:"last_error,omitempty"`
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
		st.Targets = append(st.Targets, TargetStatus{URL: g.cfg.URL, Mode: g.mode, Reason: g.reason, Since: g.since, Reachable: g.reachable, LastError: g.lastError})
	}
	return st
}
