package main

import (
	"fmt"

	"github.com/fluxrelay/fluxrelay/health"
)

// reasonLine names the doctor's line for each reason the daemon gives
// (health.Codes). A reason another check already reports from the same
// status has no line of its own here.
var reasonLine = map[string]string{
	"paused": "deliveries", "not_configured": "deliveries", "outage": "deliveries",
	"dead_letters": "dead letters", "damaged": "store", "disk_full": "disk",
	"reload_failed": "config", "restart_needed": "config", "queue_old": "queue",
	"sync_failed": "store", "evicted": "disk", "out_of_files": "listen",
	// told by other checks
	"clock_skew": "", "clock_wrong": "", "listener_down": "", "mqtt_broker": "", "moved_aside": "",
	"admin_socket": "listen",
}

// levelOf is a reason's line: FAIL for what needs a person, WARN for a
// delay or a note.
func levelOf(r health.Reason) string {
	if r.State == health.ActionNeeded {
		return "FAIL"
	}
	return "WARN"
}

// probeDaemon asks the running daemon for its state; every reason is a
// line, by its code.
func probeDaemon(e *doctorEnv) []check {
	if e.st == nil {
		return []check{{"WARN", "daemon", e.stErr.Error()}}
	}
	st := e.st
	out := []check{{"OK", "daemon", fmt.Sprintf("fluxrelay %s is running: %s, %d waiting", st.Version, stateWords[st.State], st.QueueDepth)}}
	if st.UncleanRestarts > 0 && st.LastUncleanRestart != nil {
		out = append(out, check{"WARN", "restarts", fmt.Sprintf("%d unclean restart(s), the last %s: power cuts or kills — nothing acknowledged is lost, but a UPS spares the SD card",
			st.UncleanRestarts, stampMinute(*st.LastUncleanRestart, zoneNamed(st.Timezone)))})
	}
	dead := false
	for _, r := range st.ReasonsDetail {
		name, known := reasonLine[r.Code]
		switch {
		case !known:
			name = "daemon"
		case name == "":
			continue
		}
		msg := r.Technician
		if r.Code == "paused" {
			msg = "paused: " + msg
		}
		dead = dead || r.Code == "dead_letters"
		out = append(out, check{levelOf(r), name, msg})
	}
	if !dead {
		out = append(out, check{"OK", "dead letters", "none waiting"})
	}
	return out
}
