package health

import (
	"strings"
	"testing"
	"time"
)

// TestKeepSelling checks that a delay tells staff to keep selling, and that
// nothing does while the gateway needs a person (it may not take payments).
func TestKeepSelling(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	outage := []Target{{Mode: ModeOutage, Reason: "connection refused", Since: now.Add(-time.Hour)}}
	for _, c := range []struct {
		name string
		snap Snapshot
		want bool
	}{
		{"outage", Snapshot{Now: now, Targets: outage}, true},
		{"slow queue", Snapshot{Now: now, Pending: 3, OldestPending: now.Add(-time.Hour)}, true},
		{"outage and a full disk", Snapshot{Now: now, Targets: outage, Full: "free space is low"}, false},
		{"outage and a dead letter", Snapshot{Now: now, Targets: outage, Dead: 1}, false},
		{"all well", Snapshot{Now: now}, false},
	} {
		staff := strings.Join(Decide(c.snap).Staff(), " ")
		if got := strings.Contains(staff, "Keep selling."); got != c.want {
			t.Errorf("%s: %q; want Keep selling: %v", c.name, staff, c.want)
		}
		if c.want && !strings.Contains(staff, "kept safely") {
			t.Errorf("%s: %q does not say the payments are safe", c.name, staff)
		}
	}
}
