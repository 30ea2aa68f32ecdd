package health

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var now = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func dur(d time.Duration) *time.Duration { return &d }

// TestDecide holds every reason to a case: the snapshot that raises it, the
// state it gives, and words for each reader that a person can act on.
func TestDecide(t *testing.T) {
	cases := []struct {
		name  string
		snap  func(*Snapshot)
		state string
		codes []string
		// tech and staff are words the technician's reason and the staff's
		// sentence must hold.
		tech, staff string
	}{
		{"all well", func(*Snapshot) {}, OK, nil, "", AllWell},
		{"a young queue", func(s *Snapshot) { s.Pending, s.OldestPending = 3, now.Add(-DelayedAfter) }, OK, nil, "", AllWell},
		{"queue old", func(s *Snapshot) { s.Pending, s.OldestPending = 3, now.Add(-DelayedAfter-time.Second) }, Delayed,
			[]string{"queue_old"}, "has waited 5m1s", "taking longer than usual"},
		{"clock skew", func(s *Snapshot) { s.Targets = []Target{{Mode: ModeOK, Skew: dur(-3 * time.Minute)}} }, Delayed,
			[]string{"clock_skew"}, "-3m0s off Fluxvend's — enable NTP", "clock is wrong"},
		{"skew within bounds", func(s *Snapshot) { s.Targets = []Target{{Mode: ModeOK, Skew: dur(MaxSkew)}} }, OK, nil, "", AllWell},
		{"paused", func(s *Snapshot) {
			s.Targets = []Target{{Mode: ModePaused, Reason: "Fluxvend answered 403: whitelist"}}
		}, ActionNeeded,
			[]string{"paused"}, "answered 403", "cannot be sent to Fluxvend"},
		{"not configured", func(s *Snapshot) { s.Targets = []Target{{Mode: ModeNotConfigured, Reason: "core.url is empty"}} }, ActionNeeded,
			[]string{"not_configured"}, "core.url is empty", "not yet set up"},
		{"outage", func(s *Snapshot) {
			s.Targets = []Target{{Mode: ModeOutage, Reason: "Fluxvend is not taking notifications", Since: now.Add(-time.Hour)}}
			s.Pending, s.OldestPending = 9, now.Add(-2*time.Hour)
		}, Delayed, []string{"outage"}, "(since 2026-12-06T09:00:00Z)", "will be sent when it is back"},
		{"dead letters", func(s *Snapshot) { s.Dead = 2 }, ActionNeeded, []string{"dead_letters"}, "fluxrelay dlq list", "2 payments could not be sent"},
		{"one dead letter", func(s *Snapshot) { s.Dead = 1 }, ActionNeeded, []string{"dead_letters"}, "1 payment(s)", "1 payment could not be sent"},
		{"disk full", func(s *Snapshot) { s.Full = "the store uses 1.0 GiB of its store.max_disk = 1.0 GiB" }, ActionNeeded,
			[]string{"disk_full"}, "raise store.max_disk", "full and cannot take new payments"},
		{"sync failed", func(s *Snapshot) { s.WritesRefused = "the gateway could not write to its disk (input/output error)" }, ActionNeeded,
			[]string{"sync_failed"}, "could not write to its disk (input/output error) — the disk may be failing", "cannot save new payments"},
		{"evicted today", func(s *Snapshot) { s.Evicted, s.EvictedAt = 120, now.Add(-time.Hour) }, OK,
			[]string{"evicted"}, "evicted 120 delivered notification(s) older than store.keep_delivered (last at 2026-12-06T09:00:00Z)", AllWell},
		{"evicted long ago", func(s *Snapshot) { s.Evicted, s.EvictedAt = 120, now.Add(-25*time.Hour) }, OK, nil, "", AllWell},
		{"damaged", func(s *Snapshot) { s.Damaged = 4 }, ActionNeeded, []string{"damaged"}, "4 stored notifications", "cannot be read"},
		{"moved aside", func(s *Snapshot) { s.MovedAside = "/var/lib/fluxrelay/store.unreadable-x" }, ActionNeeded,
			[]string{"moved_aside"}, "run the recovery step", "cannot be read"},
		{"clock wrong", func(s *Snapshot) { s.Now = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC) }, ActionNeeded,
			[]string{"clock_wrong"}, "1970-01-01T00:00:00Z", "clock is wrong"},
		{"admin socket", func(s *Snapshot) {
			s.Listeners = map[string]Listener{"socket": {Key: "admin.socket", Addr: "/run/fluxrelay/admin.sock", Err: "permission denied"}}
		}, ActionNeeded, []string{"admin_socket"}, "admin.socket /run/fluxrelay/admin.sock cannot be used", "Part of the gateway"},
		{"mqtt broker", func(s *Snapshot) {
			s.Listeners = map[string]Listener{"mqtt-broker": {Key: "mqtt.broker", Addr: "tcp://10.0.0.2:1883", Err: "connection refused"}}
		}, ActionNeeded, []string{"mqtt_broker"}, "cannot reach the MQTT broker tcp://10.0.0.2:1883", "card terminals"},
		{"listener down", func(s *Snapshot) {
			s.Listeners = map[string]Listener{"http": {Key: "http.listen", Addr: "0.0.0.0:8088", Err: "address already in use"}}
		}, ActionNeeded, []string{"listener_down"}, "http.listen 0.0.0.0:8088 cannot be used (address already in use)", "Part of the gateway"},
		{"out of file descriptors", func(s *Snapshot) {
			s.Listeners = map[string]Listener{"mqtt": {Key: "mqtt.listen", Addr: "0.0.0.0:1883", Err: "accepting connections fails: accept tcp [::]:1883: accept4: too many open files"}}
		}, ActionNeeded, []string{"out_of_files"}, "mqtt.listen 0.0.0.0:1883 cannot take connections: fluxrelay has run out of file descriptors", "card terminals"},
		{"stopping listeners are no fault", func(s *Snapshot) {
			s.Listeners = map[string]Listener{"http": {Key: "http.listen", Err: "stopped"}, "admin": {Key: "admin.listen", Up: true}}
		}, OK, nil, "", AllWell},
		{"reload failed", func(s *Snapshot) { s.ReloadError = "core.url: bad" }, OK, []string{"reload_failed"}, "previous config is running: core.url: bad", AllWell},
		{"restart needed", func(s *Snapshot) { s.RestartNeeded = []string{"http.listen"} }, OK, []string{"restart_needed"}, "[http.listen]", AllWell},
		{"a note does not hide a slow queue", func(s *Snapshot) {
			s.RestartNeeded = []string{"http.listen"}
			s.Pending, s.OldestPending = 1, now.Add(-time.Hour)
		}, Delayed, []string{"restart_needed", "queue_old"}, "", "taking longer"},
		{"action needed hides a slow queue", func(s *Snapshot) {
			s.Dead, s.Pending, s.OldestPending = 1, 1, now.Add(-time.Hour)
		}, ActionNeeded, []string{"dead_letters"}, "", ""},
		{"action needed wins over delayed", func(s *Snapshot) {
			s.Targets = []Target{{Mode: ModeOutage, Reason: "down"}}
			s.Full = "free space is low"
		}, ActionNeeded, []string{"outage", "disk_full"}, "", "kept safely"},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := Snapshot{Now: now}
			c.snap(&s)
			v := Decide(s)
			if v.State != c.state {
				t.Errorf("state %q, want %q", v.State, c.state)
			}
			var codes []string
			for _, r := range v.Reasons {
				codes = append(codes, r.Code)
				seen[r.Code] = true
				if Codes[r.Code] == "" {
					t.Errorf("reason %q is not listed in Codes", r.Code)
				}
				if (r.State == "") != (r.Staff == "") {
					t.Errorf("reason %q: a reason that changes the state needs a staff sentence, and a note has none", r.Code)
				}
				if strings.ContainsAny(r.Staff, "_/:") || strings.Contains(r.Staff, "fluxrelay") {
					t.Errorf("staff sentence %q holds a config key, a path or a command", r.Staff)
				}
			}
			if diff := cmp.Diff(c.codes, codes); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
			if !strings.Contains(strings.Join(v.Technician(), "\n"), c.tech) {
				t.Errorf("technician's reasons %q lack %q", v.Technician(), c.tech)
			}
			if !strings.Contains(strings.Join(v.Staff(), "\n"), c.staff) {
				t.Errorf("staff sentences %q lack %q", v.Staff(), c.staff)
			}
		})
	}
	for code := range Codes {
		if !seen[code] {
			t.Errorf("no case gives the reason %q", code)
		}
	}
}

func TestClockOK(t *testing.T) {
	for y, want := range map[int]bool{1970: false, 2024: false, 2025: true, 2099: true, 2100: false} {
		if got := ClockOK(time.Date(y, 6, 1, 0, 0, 0, 0, time.UTC)); got != want {
			t.Errorf("ClockOK(%d) = %v, want %v", y, got, want)
		}
	}
}
