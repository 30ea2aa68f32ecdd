package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fluxrelay/fluxrelay/admin"
)

const replayUsage = `usage: fluxrelay replay --since TIME [--until TIME] [--source NAME] [--delivered] [--yes]
  TIME: 2026-03-14, "2026-03-14 09:30" (the gateway's time zone) or RFC 3339`

// cmdReplay queues again the dead letters received in a window — and with
// --delivered the delivered notifications too, for Fluxvend after it
// restored a backup. It says how many and asks first, unless --yes.
func cmdReplay(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, socket, addr := clientFlags(fs)
	since := fs.String("since", "", "replay what was received from this time")
	until := fs.String("until", "", "… until this time (default: now)")
	source := fs.String("source", "", "only this source")
	delivered := fs.Bool("delivered", false, "the delivered notifications too (each goes out again with its own Idempotency-Key)")
	yes := fs.Bool("yes", false, "do not ask")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *since == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, replayUsage)
		return exitUsage
	}
	c := newAdminClient(*cfg, *socket, *addr)
	w := admin.ReplayWindow{Since: *since, Until: *until, Source: *source, Delivered: *delivered, DryRun: true}
	var res admin.ReplayResult
	if err := c.send("POST", "/api/replay", w, &res); err != nil {
		fmt.Fprintln(stderr, "fluxrelay replay:", err)
		return exitFailure
	}
	what := fmt.Sprintf("%d dead letter(s)", res.DeadLetters)
	if *delivered {
		what += fmt.Sprintf(" and %d delivered notification(s)", res.Delivered)
	}
	fmt.Fprintf(stdout, "received from %s to %s%s: %s\n", res.Since.Format("2006-01-02 15:04 MST"), res.Until.Format("2006-01-02 15:04 MST"), sourceWords(*source), what)
	if res.Held > 0 {
		fmt.Fprintf(stdout, "%d held notification(s) cannot be sent as they are (no amount): record them by hand (fluxrelay dlq list)\n", res.Held)
	}
	if res.DeadLetters+res.Delivered == 0 {
		fmt.Fprintln(stdout, "nothing to replay")
		return exitOK
	}
	if !*yes {
		if f, ok := stdin.(*os.File); ok && !isTerminal(f) {
			fmt.Fprintln(stderr, "fluxrelay replay: not asked (no terminal); add --yes to queue them again")
			return exitUsage
		}
		fmt.Fprint(stdout, "queue them again for Fluxvend? [y/N] ")
		answer, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(stdout, "nothing replayed")
			return exitOK
		}
	}
	w.DryRun = false
	if err := c.send("POST", "/api/replay", w, &res); err != nil {
		fmt.Fprintln(stderr, "fluxrelay replay:", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%d queued again; fluxrelay status shows them go out\n", res.Replayed)
	return exitOK
}

func sourceWords(s string) string {
	if s == "" {
		return ""
	}
	return " from source " + s
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
