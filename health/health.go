// Package health decides the gateway's state — OK, DELAYED or ACTION
// NEEDED — and says why, for the technician and for the shop's staff. The
// daemon gathers a Snapshot; Decide is a pure function of it, so that
// status, the page, the alerts, the metrics and the doctor all tell the
// same thing, and every reason is tested in one table.
package health

import (
	"fmt"
	"slices"
	"time"
)

// States of the whole gateway.
const (
	OK           = "ok"
	Delayed      = "delayed"
	ActionNeeded = "action_needed"
)

// Thresholds the verdict decides by; the doctor uses the same ones.
const (
	// MaxSkew is how far the clock may be from Fluxvend's before the
	// state says so.
	MaxSkew = 2 * time.Minute
	// DelayedAfter is how old the oldest waiting notification may be
	// before the state says DELAYED.
	DelayedAfter = 5 * time.Minute
)

// ClockOK reports whether the clock reads a plausible date. Before the
// gateway has synced its clock it may read 1970 or its build date.
func ClockOK(now time.Time) bool {
	return now.Year() >= 2025 && now.Year() < 2100
}

// SkewOK reports whether a clock skew to Fluxvend's is within MaxSkew.
func SkewOK(skew time.Duration) bool { return skew <= MaxSkew && skew >= -MaxSkew }

// Target modes, as the relay names them.
const (
	ModeOK            = "ok"
	ModeOutage        = "outage"
	ModePaused        = "paused"
	ModeNotConfigured = "not_configured"
)

// Snapshot is everything the verdict is decided from, gathered at one
// moment. It has no behaviour of its own.
type Snapshot struct {
	Now time.Time
	// Store.
	Pending, Dead, Damaged int64
	OldestPending          time.Time // zero when nothing waits
	// Full says why new input is refused (disk budget or free space), or
	// is empty.
	Full string
	// MovedAside names where an unreadable store was moved at start.
	MovedAside string
	// WritesRefused says why the store refuses every write after a failed
	// sync of its files (until it has re-opened itself), or is empty.
	WritesRefused string
	// Evicted counts the delivered records evicted for disk space since
	// the start; EvictedAt is when that last happened.
	Evicted   int64
	EvictedAt time.Time
	Targets   []Target
	Listeners map[string]Listener
	// ReloadError is why the last config reload failed, or empty;
	// RestartNeeded lists the keys that only a restart applies.
	ReloadError   string
	RestartNeeded []string
}

// Target is one webhook's delivery state.
type Target struct {
	Mode   string
	Reason string
	Since  time.Time
	// Skew is this clock minus the webhook's, when an answer said.
	Skew *time.Duration
}

// Listener is one listening address or connection and whether it is up.
type Listener struct {
	Key, Addr string
	Up        bool
	// Err says why it is down; "stopped" while shutting down.
	Err string
}

// Reason is one cause of the state, in words for each reader.
type Reason struct {
	// Code names the cause, for tests and machines.
	Code string `json:"code"`
	// State is what the cause makes the gateway: Delayed, ActionNeeded,
	// or empty for a note that changes nothing.
	State string `json:"state,omitempty"`
	// Technician says what is wrong and what to do.
	Technician string `json:"technician"`
	// Staff is one plain sentence for the shop's staff: no config key,
	// error text, URL or address. Empty for a note.
	Staff string `json:"staff,omitempty"`
}

// Verdict is the state and its reasons, most urgent cause first in the
// order they were found.
type Verdict struct {
	State   string
	Reasons []Reason
}

// Technician returns the reasons for the technician, in order.
func (v Verdict) Technician() []string {
	out := make([]string, 0, len(v.Reasons))
	for _, r := range v.Reasons {
		out = append(out, r.Technician)
	}
	return out
}

// Staff returns the staff's sentences, each once, or the one that says
// all is well.
func (v Verdict) Staff() []string {
	var out []string
	for _, r := range v.Reasons {
		if r.Staff != "" && !slices.Contains(out, r.Staff) {
			out = append(out, r.Staff)
		}
	}
	if len(out) == 0 {
		out = []string{AllWell}
	}
	return out
}

// Has reports whether a reason with this code was found.
func (v Verdict) Has(code string) bool {
	return slices.ContainsFunc(v.Reasons, func(r Reason) bool { return r.Code == code })
}

// Codes lists every reason Decide can give, with what it means. A test
// holds Decide to it, and every code to a case of its table.
var Codes = map[string]string{
	"clock_skew":     "the clock is more than MaxSkew off Fluxvend's (DELAYED)",
	"paused":         "Fluxvend refuses the gateway (401/403/404, or one 4xx for 3 notifications): deliveries paused (ACTION NEEDED)",
	"not_configured": "core.url is empty: nothing is delivered (ACTION NEEDED)",
	"outage":         "Fluxvend does not answer, or answers only retryable errors (DELAYED)",
	"dead_letters":   "dead letters wait for a person (ACTION NEEDED)",
	"disk_full":      "new input is refused: disk budget or free space (ACTION NEEDED)",
	"damaged":        "stored notifications cannot be read back (ACTION NEEDED)",
	"moved_aside":    "the store could not be opened and was moved aside (ACTION NEEDED)",
	"clock_wrong":    "the clock reads an implausible date (ACTION NEEDED)",
	"sync_failed":    "a sync of the store's files failed: nothing is acknowledged until the store has re-opened (ACTION NEEDED)",
	"evicted":        "delivered notifications were evicted for disk space within the last day (a note)",
	"admin_socket":   "the admin socket cannot be used (ACTION NEEDED)",
	"mqtt_broker":    "the external MQTT broker cannot be reached (ACTION NEEDED)",
	"listener_down":  "a listening address cannot be bound (ACTION NEEDED)",
	"out_of_files":   "a listener cannot accept connections: out of file descriptors (ACTION NEEDED)",
	"reload_failed":  "the last config reload failed; the previous config runs (a note)",
	"restart_needed": "a reload changed keys that only a restart applies (a note)",
	"queue_old":      "the oldest waiting notification is older than DelayedAfter and nothing else is wrong (DELAYED)",
}

// AllWell is what the staff read when nothing is wrong.
const AllWell = "All payments are reaching Fluxvend."

// DeadLettersReason is the technician's reason while n dead letters wait.
func DeadLettersReason(n int64) string {
	return fmt.Sprintf("%d payment(s) could not be sent to Fluxvend and wait for a person — see fluxrelay dlq list: fix the cause, then fluxrelay dlq replay them (or record them in Fluxvend by hand and dlq drop them)", n)
}
