package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fluxrelay/fluxrelay/admin"
)

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, socket, addr := clientFlags(fs)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if code, stop := parseOnlyFlags(fs, args, stdout, stderr); stop {
		return code
	}
	var st admin.Status
	if err := newAdminClient(*cfg, *socket, *addr).do("GET", "/api/status", &st); err != nil {
		fmt.Fprintln(stderr, "fluxrelay status:", err)
		return exitFailure
	}
	if *asJSON {
		printJSON(stdout, st)
		return exitOK
	}
	printStatus(stdout, st)
	return exitOK
}

var stateWords = map[string]string{admin.StateOK: "OK", admin.StateDelayed: "DELAYED", admin.StateActionNeeded: "ACTION NEEDED"}

func printStatus(w io.Writer, st admin.Status) {
	loc := zoneNamed(st.Timezone)
	fmt.Fprintf(w, "%s — fluxrelay %s: %s\n", st.Gateway, st.Version, stateWords[st.State])
	for _, r := range st.Reasons {
		fmt.Fprintf(w, "  ! %s\n", oneLine(r))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	oldest := ""
	if st.QueueDepth > 0 {
		oldest = ", the oldest for " + (time.Duration(st.OldestPendingAgeSeconds) * time.Second).String()
	}
	fmt.Fprintf(tw, "queue:\t%d waiting%s\n", st.QueueDepth, oldest)
	fmt.Fprintf(tw, "dead letters:\t%d (fluxrelay dlq list)\n", st.DeadLetters)
	last := "none yet"
	if st.LastDeliveryAt != nil {
		last = fmt.Sprintf("%s (%s ago)", stamp(*st.LastDeliveryAt, loc), st.Clock.Sub(*st.LastDeliveryAt).Round(time.Second))
	}
	fmt.Fprintf(tw, "last delivery:\t%s\n", last)
	if st.LastError != "" {
		fmt.Fprintf(tw, "last error:\t%s\n", oneLine(st.LastError))
	}
	reach := "not tried yet"
	if st.CoreReachable != nil {
		reach = map[bool]string{true: "yes", false: "NO"}[*st.CoreReachable]
	}
	fmt.Fprintf(tw, "Fluxvend reachable:\t%s\n", reach)
	fmt.Fprintf(tw, "disk:\t%.1f GiB free, the store uses %.1f MiB\n", float64(st.DiskFreeBytes)/(1<<30), float64(st.DiskUsedBytes)/(1<<20))
	clock := "ok"
	if !st.ClockOK {
		clock = "WRONG — check NTP"
	}
	fmt.Fprintf(tw, "clock:\t%s (%s)\n", stamp(st.Clock, loc), clock)
	if st.UncleanRestarts > 0 && st.LastUncleanRestart != nil {
		fmt.Fprintf(tw, "unclean restarts:\t%d (last %s) — power cuts? a UPS spares the SD card\n", st.UncleanRestarts, stampMinute(*st.LastUncleanRestart, loc))
	}
	rl := st.ConfigReload
	cfgLine := fmt.Sprintf("loaded %s", stamp(rl.At, loc))
	if !rl.OK {
		cfgLine += ", LAST RELOAD FAILED: " + oneLine(rl.Error)
	}
	if len(rl.RestartNeeded) > 0 {
		cfgLine += "; restart to apply " + strings.Join(rl.RestartNeeded, ", ")
	}
	fmt.Fprintf(tw, "config:\t%s\n", cfgLine)
	for _, rw := range st.RemoteWrite {
		fmt.Fprintf(tw, "remote write %d:\t%s\n", rw.Endpoint, remoteWriteLine(rw, st.Clock))
	}
	names := make([]string, 0, len(st.Listeners))
	for n := range st.Listeners {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		l := st.Listeners[n]
		state := "up"
		if !l.Up {
			state = "DOWN: " + oneLine(l.Error)
		}
		fmt.Fprintf(tw, "%s:\t%s %s\n", l.Key, l.Addr, state)
	}
	tw.Flush()
	printRejections(w, st.Rejections, loc)
	if len(st.Sources) == 0 {
		fmt.Fprintln(w, "\nno sources configured")
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SOURCE\tRECEIVED\tQUEUED\tDUPLICATES\tIGNORED\tHELD\tREJECTED\tDELIVERED\t")
	names = names[:0]
	for n := range st.Sources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := st.Sources[n]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", n, s.Received, s.Queued, s.Duplicates, s.Ignored, s.Held, s.Rejected, s.Delivered)
	}
	tw.Flush()
	for _, n := range names {
		if p := st.Sources[n].ParserPanics; p > 0 {
			fmt.Fprintf(w, "\n%s: fluxrelay's parser failed on %d notification(s), which were refused: a fluxrelay bug. Send the daemon's log to your fluxrelay supplier.\n", n, p)
		}
	}
}

// shownRejections is how many of the latest refused notifications status
// prints (--json has them all).
const shownRejections = 5

// printRejections shows the latest refused notifications: what was said
// to the sender, with anything taken from the input made harmless.
func printRejections(w io.Writer, rs []admin.Rejection, loc *time.Location) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(w, "\nrecent refusals (%d; the latest %d):\n", len(rs), min(len(rs), shownRejections))
	for _, r := range rs[max(len(rs)-shownRejections, 0):] {
		from := r.Peer
		if r.Terminal != "" {
			from = "terminal " + r.Terminal
		}
		fmt.Fprintf(w, "  %s  %s from %s: %s: %s\n", stamp(r.At, loc), oneLine(r.Source), oneLine(from), r.Outcome, oneLine(r.Error))
	}
}

// remoteWriteLine says how pushing to one [[remote_write]] goes.
func remoteWriteLine(rw admin.RemoteWriteStatus, now time.Time) string {
	line := "to " + rw.Host + ": "
	switch {
	case rw.OK && rw.LastSuccess != nil:
		line += fmt.Sprintf("pushing, last %s ago", now.Sub(*rw.LastSuccess).Round(time.Second))
	case rw.LastErrorAt != nil:
		line += "FAILING: " + oneLine(rw.LastError)
	default:
		line += "not pushed yet"
	}
	line += fmt.Sprintf("; %d waiting", rw.Waiting)
	if rw.Refused > 0 || rw.Dropped > 0 {
		line += fmt.Sprintf(", %d refused by the receiver, %d dropped", rw.Refused, rw.Dropped)
	}
	return line
}
