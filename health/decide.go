package health

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

const callTechnician = " Call your technician."

// keepSelling ends the sentences of a delay when nothing worse is wrong:
// the payments are safe on the gateway, so the shop need not stop. With
// ACTION NEEDED it is left out, since what is wrong may stop sales.
const keepSelling = " Keep selling."

// Decide is the verdict on a snapshot. Each cause adds one reason; the
// state is the worst any reason raises, and DELAYED for a slow queue only
// when nothing else is wrong.
func Decide(s Snapshot) Verdict {
	var v Verdict
	for _, check := range checks {
		v.Reasons = append(v.Reasons, check(s)...)
	}
	if worst(v.Reasons) == "" && s.Pending > 0 && !s.OldestPending.IsZero() && s.Now.Sub(s.OldestPending) > DelayedAfter {
		age := (s.Now.Sub(s.OldestPending) / time.Second) * time.Second
		v.Reasons = append(v.Reasons, Reason{Code: "queue_old", State: Delayed,
			Technician: fmt.Sprintf("the oldest waiting payment has waited %s", age),
			Staff:      "Some payments are taking longer than usual to reach Fluxvend. They are kept safely."})
	}
	v.State = worst(v.Reasons)
	if v.State == "" {
		v.State = OK
	}
	if v.State == Delayed {
		for i, r := range v.Reasons {
			if r.Code == "outage" || r.Code == "queue_old" {
				v.Reasons[i].Staff += keepSelling
			}
		}
	}
	return v
}

// worst is the most urgent state the reasons raise ("" when none does).
func worst(rs []Reason) string {
	w := ""
	for _, r := range rs {
		switch {
		case r.State == ActionNeeded:
			return ActionNeeded
		case r.State == Delayed:
			w = Delayed
		}
	}
	return w
}

// checks are the causes, in the order their reasons are shown.
var checks = []func(Snapshot) []Reason{
	targets, deadLetters, syncFailed, storeFull, damaged, movedAside, evicted, clock, listeners, reload,
}

func targets(s Snapshot) []Reason {
	var out []Reason
	skewTold := false
	for _, t := range s.Targets {
		if t.Skew != nil && !skewTold {
			skewTold = true
			if !SkewOK(*t.Skew) {
				out = append(out, Reason{Code: "clock_skew", State: Delayed,
					Technician: fmt.Sprintf("this gateway's clock is %s off Fluxvend's — enable NTP (timedatectl set-ntp true)", t.Skew.Round(time.Second)),
					Staff:      "The gateway's clock is wrong." + callTechnician})
			}
		}
		switch t.Mode {
		case ModePaused:
			out = append(out, Reason{Code: "paused", State: ActionNeeded, Technician: t.Reason,
				Staff: "Payments are kept safely but cannot be sent to Fluxvend." + callTechnician})
		case ModeNotConfigured:
			out = append(out, Reason{Code: "not_configured", State: ActionNeeded, Technician: t.Reason,
				Staff: "This gateway is not yet set up to send payments to Fluxvend." + callTechnician})
		case ModeOutage:
			out = append(out, Reason{Code: "outage", State: Delayed,
				Technician: fmt.Sprintf("%s (since %s)", t.Reason, t.Since.UTC().Format(time.RFC3339)),
				Staff:      "Fluxvend cannot be reached right now. Payments are kept safely and will be sent when it is back."})
		}
	}
	return out
}

func deadLetters(s Snapshot) []Reason {
	if s.Dead == 0 {
		return nil
	}
	// What needs a person is never shown as OK.
	return []Reason{{Code: "dead_letters", State: ActionNeeded, Technician: DeadLettersReason(s.Dead),
		Staff: fmt.Sprintf("%d %s could not be sent to Fluxvend.", s.Dead, plural(s.Dead, "payment", "payments")) + callTechnician}}
}

func storeFull(s Snapshot) []Reason {
	if s.Full == "" {
		return nil
	}
	return []Reason{{Code: "disk_full", State: ActionNeeded,
		Technician: "new notifications are being refused: " + s.Full + " — free disk space or raise store.max_disk",
		Staff:      "The gateway is full and cannot take new payments." + callTechnician}}
}

func syncFailed(s Snapshot) []Reason {
	if s.WritesRefused == "" {
		return nil
	}
	return []Reason{{Code: "sync_failed", State: ActionNeeded,
		Technician: "new notifications are being refused: " + s.WritesRefused + " — the disk may be failing: check dmesg and the disk's health (smartctl, or replace the SD card); fluxrelay re-opens its store by itself and takes payments again once that works",
		Staff:      "The gateway cannot save new payments right now." + callTechnician}}
}

// evictedNote is how long an eviction stays in the reasons.
const evictedNote = 24 * time.Hour

func evicted(s Snapshot) []Reason {
	if s.Evicted == 0 || s.EvictedAt.IsZero() || s.Now.Sub(s.EvictedAt) > evictedNote {
		return nil
	}
	return []Reason{{Code: "evicted",
		Technician: fmt.Sprintf("the store ran short of disk space and evicted %d delivered notification(s) older than store.keep_delivered (last at %s); nothing waiting was touched — if this repeats, raise store.max_disk or free disk space",
			s.Evicted, s.EvictedAt.UTC().Format(time.RFC3339))}}
}

func damaged(s Snapshot) []Reason {
	if s.Damaged == 0 {
		return nil
	}
	return []Reason{{Code: "damaged", State: ActionNeeded,
		Technician: fmt.Sprintf("%d stored notifications could not be read back (damaged store files) and are not being delivered — check the disk (dmesg, fsck) and run fluxrelay doctor", s.Damaged),
		Staff:      "Some payments stored on the gateway cannot be read." + callTechnician}}
}

func movedAside(s Snapshot) []Reason {
	if s.MovedAside == "" {
		return nil
	}
	return []Reason{{Code: "moved_aside", State: ActionNeeded,
		Technician: "the store could not be opened and was moved aside to " + s.MovedAside + "; notifications in it are not being delivered — run the recovery step",
		Staff:      "Some payments stored on the gateway cannot be read." + callTechnician}}
}

func clock(s Snapshot) []Reason {
	if ClockOK(s.Now) {
		return nil
	}
	return []Reason{{Code: "clock_wrong", State: ActionNeeded,
		Technician: "the clock reads " + s.Now.UTC().Format(time.RFC3339) + ", which cannot be right — check NTP (timedatectl)",
		Staff:      "The gateway's clock is wrong." + callTechnician}}
}

func listeners(s Snapshot) []Reason {
	names := make([]string, 0, len(s.Listeners))
	for name := range s.Listeners {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []Reason
	for _, name := range names {
		l := s.Listeners[name]
		switch {
		case l.Up || l.Err == "stopped":
		case OutOfFiles(l.Err):
			staff := "Part of the gateway is not working." + callTechnician
			if name == "mqtt" {
				staff = "Payments from the card terminals cannot reach the gateway." + callTechnician
			}
			out = append(out, Reason{Code: "out_of_files", State: ActionNeeded, Staff: staff,
				Technician: fmt.Sprintf("%s %s cannot take connections: fluxrelay has run out of file descriptors (%s) — raise LimitNOFILE (systemctl edit fluxrelay), look for a client holding many connections (ss -tnp), and restart fluxrelay if it does not recover by itself", l.Key, l.Addr, l.Err)})
		case name == "socket":
			out = append(out, Reason{Code: "admin_socket", State: ActionNeeded,
				Technician: fmt.Sprintf("admin.socket %s cannot be used (%s) — check that its folder exists and fluxrelay may write it, or change admin.socket", l.Addr, l.Err),
				Staff:      "Part of the gateway is not working." + callTechnician})
		case name == "mqtt-broker":
			out = append(out, Reason{Code: "mqtt_broker", State: ActionNeeded,
				Technician: fmt.Sprintf("cannot reach the MQTT broker %s (%s) — check that it runs and is reachable from this gateway, and mqtt.username and mqtt.password", l.Addr, l.Err),
				Staff:      "Payments from the card terminals cannot reach the gateway." + callTechnician})
		default:
			out = append(out, Reason{Code: "listener_down", State: ActionNeeded,
				Technician: fmt.Sprintf("%s %s cannot be used (%s) — stop the program using that port or change %s, then restart", l.Key, l.Addr, l.Err, l.Key),
				Staff:      "Part of the gateway is not working." + callTechnician})
		}
	}
	return out
}

// OutOfFiles reports whether a listener's error says the process ran out of
// file descriptors (EMFILE, or ENFILE for the whole system).
func OutOfFiles(err string) bool { return strings.Contains(err, "too many open files") }

func reload(s Snapshot) []Reason {
	var out []Reason
	if s.ReloadError != "" {
		out = append(out, Reason{Code: "reload_failed",
			Technician: "the last config reload failed, the previous config is running: " + s.ReloadError})
	}
	if len(s.RestartNeeded) > 0 {
		out = append(out, Reason{Code: "restart_needed",
			Technician: fmt.Sprintf("restart fluxrelay to apply %v", s.RestartNeeded)})
	}
	return out
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
