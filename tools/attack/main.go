// Command attack runs, against a fluxrelay daemon it starts on loopback
// ports, what a hostile or broken client on a shop's LAN would try: a
// huge or endless MQTT packet, idle and flooding connections, a stolen
// client id, login floods, running the daemon out of file descriptors, an
// unsigned till posting under a signed app's reference, keys that dodge
// the checks, a replayed signed notification, a web page calling the
// admin API, and more. It prints one row per attack — what it does, what
// must happen, what happened — and exits 1 if any row fails. Every attack
// is bounded in count and time; the whole run takes about two minutes.
//
// Usage (make attack):
//
//	go run ./tools/attack [-bin path/to/fluxrelay] [-out dir]
//
// Without -bin it builds the daemon from this tree. It needs Linux (it
// reads /proc and lowers the daemon's RLIMIT_NOFILE) and the loopback
// addresses 127.0.0.0/8.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one attack: the issue item it belongs to, what it does, what must
// happen, and the attack itself, which says what happened and whether that
// is what must.
type row struct {
	item, does, must string
	run              func(*env) (string, bool)
}

type result struct {
	row
	happened string
	ok       bool
}

// rssLimit is the most anonymous memory the daemon may hold through the
// hostile MQTT rows.
const rssLimit = 150 << 10 // kB

func main() {
	bin := flag.String("bin", "", "the fluxrelay binary to attack (default: built from this tree)")
	out := flag.String("out", "", "folder for the daemon's data, config and log (default: a temporary one, removed after)")
	flag.Parse()
	if err := run(*bin, *out); err != nil {
		fmt.Fprintln(os.Stderr, "attack:", err)
		os.Exit(1)
	}
}

func run(bin, out string) error {
	dir := out
	if dir == "" {
		d, err := os.MkdirTemp("", "fluxrelay-attack-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if bin == "" {
		bin = filepath.Join(dir, "fluxrelay")
		build := exec.Command("go", "build", "-o", bin, "./cmd/fluxrelay")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building the daemon: %w", err)
		}
	}
	start0 := time.Now()
	e, err := start(bin, dir)
	if err != nil {
		return err
	}
	defer e.stop()
	var results []result
	do := func(rs []row) {
		for _, r := range rs {
			happened, ok := r.run(e)
			results = append(results, result{row: r, happened: happened, ok: ok})
			fmt.Fprintf(os.Stderr, "  %s %s\n", mark(ok), r.does)
		}
	}
	do(httpRows())
	peak := e.sample()
	do(mqttRows())
	results = append(results, descriptorRows(e)...)
	rss := peak()
	results = append(results, result{row: row{item: "1", does: "RssAnon through the hostile MQTT rows above", must: "under 150 MB"},
		happened: fmt.Sprintf("peak %d MB", rss>>10), ok: rss > 0 && rss < rssLimit})
	do(adminRows())
	do([]row{{"27", "after every attack, each source's counters", "received = queued + duplicates + ignored + held + rejected", countersAddUp}})
	if e.gone() {
		results = append(results, result{row: row{item: "-", does: "the daemon after all the attacks", must: "still running"}, happened: "it exited (see daemon.log)"})
	}
	return report(results, time.Since(start0))
}

func mark(ok bool) string {
	if ok {
		return "pass"
	}
	return "FAIL"
}

// report prints the table and fails when a row did.
func report(results []result, took time.Duration) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "item\tattack\tmust\thappened\tresult")
	failed := 0
	for _, r := range results {
		if !r.ok {
			failed++
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.item, cell(r.does), cell(r.must), cell(r.happened), mark(r.ok))
	}
	w.Flush()
	fmt.Printf("%d attacks, %d failed, in %s\n", len(results), failed, took.Round(time.Second))
	if failed > 0 {
		return fmt.Errorf("%d of %d attacks were not stopped", failed, len(results))
	}
	return nil
}

func cell(s string) string { return strings.ReplaceAll(s, "\t", " ") }
