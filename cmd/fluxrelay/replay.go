package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

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
	rest, code, stop := parseFlags(fs, args, stdout)
	if stop {
		return code
	}
	if *since == "" || len(rest) > 0 {
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
	loc := c.zone()
	fmt.Fprintf(stdout, "received from %s to %s%s: %s\n", stampMinute(res.Since, loc), stampMinute(res.Until, loc), sourceWords(*source), what)
	if res.Held > 0 {
		fmt.Fprintf(stdout, "%d held notification(s) cannot be sent as they are and are left out: after a fix, fluxrelay dlq replay ID maps one again; or record it by hand (fluxrelay dlq list)\n", res.Held)
	}
	if res.DeadLetters+res.Delivered == 0 {
		fmt.Fprintln(stdout, "nothing to replay")
		return exitOK
	}
	if !*yes {
		if ok, code := confirm(stdin, stdout, stderr, "replay", "queue them again for Fluxvend?"); !ok {
			if code == exitOK {
				fmt.Fprintln(stdout, "nothing replayed")
			}
			return code
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

// confirm asks a yes/no question of the person at the terminal. Without
// a terminal it does not ask: the answer is no, with exit code 2 and a
// hint to add --yes.
func confirm(stdin io.Reader, stdout, stderr io.Writer, cmd, question string) (yes bool, code int) {
	if f, ok := stdin.(*os.File); ok && !isTerminal(f) {
		fmt.Fprintf(stderr, "fluxrelay %s: not asked (no terminal); add --yes to go ahead\n", cmd)
		return false, exitUsage
	}
	fmt.Fprintf(stdout, "%s [y/N] ", question)
	answer, _ := bufio.NewReader(stdin).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(answer))
	return a == "y" || a == "yes", exitOK
}

// isTerminal says whether f is a terminal a person types at (not
// /dev/null, which is a character device too).
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
