package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// result is one round, as the table and results.json show it.
type result struct {
	Round int    `json:"round"`
	Disk  string `json:"disk"`
	Aimed bool   `json:"aimed"`
	Cut   string `json:"cut"`
	// Control rounds must lose: the disk ignores flushes, or (Hole1) the
	// daemon's log sync can lose track of the memtable.
	Control bool `json:"control"`
	Hole1   bool `json:"hole1,omitempty"`
	// Upgrade is the earlier release whose store the round started from;
	// Collected says a value-log collection deleted a file before the cut;
	// WantDead is how many dead letters that store held.
	Upgrade   string `json:"upgrade,omitempty"`
	Collected bool   `json:"collected,omitempty"`
	WantDead  int    `json:"want_dead_letters,omitempty"`
	// Acked were acknowledged (and recorded on the host) before the cut;
	// Present of them were delivered, before the cut or after it; Lost
	// were not. Extra were delivered though no acknowledgement reached
	// the host (in flight at the cut); Redelivered were delivered twice.
	Acked       int `json:"acked"`
	Present     int `json:"present"`
	Lost        int `json:"lost"`
	Extra       int `json:"extra"`
	Redelivered int `json:"redelivered"`
	// Resent were delivered by the earlier release before the upgrade and
	// reached the core again after it: never allowed.
	Resent      int      `json:"resent,omitempty"`
	Store       string   `json:"store"`
	Unclean     int      `json:"unclean_restarts"`
	DeadLetters int64    `json:"dead_letters"`
	Fsck        string   `json:"fsck"`
	Problems    []string `json:"problems,omitempty"`
}

func (r *result) problem(format string, a ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, a...))
}

// count compares the acknowledgements with the deliveries, from the
// files the serial ports wrote, and in an upgrade round the files the
// harness wrote of what the earlier release acknowledged and delivered.
func (r *result) count(dir string) {
	acked := refs(filepath.Join(dir, "acked-load.log"), "A ")
	for ref, n := range refs(filepath.Join(dir, "acked-before.log"), "A ") {
		acked[ref] += n
	}
	before := refs(filepath.Join(dir, "delivered-before.log"), "D ")
	delivered := map[string]int{}
	for _, phase := range []string{"load", "verify"} {
		for ref, n := range refs(filepath.Join(dir, "delivered-"+phase+".log"), "D ") {
			delivered[ref] += n
		}
	}
	r.Acked = len(acked)
	for ref := range acked {
		if delivered[ref] > 0 {
			r.Present++
		} else {
			r.Lost++
		}
	}
	for ref, n := range delivered {
		switch {
		case before[ref] > 0:
			r.Resent++
			continue
		case acked[ref] == 0:
			r.Extra++
		}
		if n > 1 {
			r.Redelivered++
		}
	}
}

// refs reads the complete lines of a serial log that start with prefix:
// a line cut short by the power cut has no newline and does not count.
func refs(path, prefix string) map[string]int {
	out := map[string]int{}
	raw, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	text := string(raw)
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	} else {
		return out
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if ref, ok := strings.CutPrefix(strings.TrimRight(sc.Text(), "\r"), prefix); ok && ref != "" {
			out[ref]++
		}
	}
	return out
}

// passed says whether the round showed what it should: a real disk loses
// nothing acknowledged, opens its store as it was, survives fsck and
// shows the unclean restart; the control loses something. An upgrade
// round, the control included, must have seen a value-log collection
// before the cut; a real one also resends nothing the earlier release
// delivered and keeps its dead letters.
func (r result) passed() bool {
	if r.Upgrade != "" && !r.Collected {
		return false
	}
	if r.Control {
		return r.Acked > 0 && r.Lost > 0
	}
	return len(r.Problems) == 0 && r.Acked > 0 && r.Lost == 0 &&
		r.Store == "opened" && r.Fsck == "clean" && r.Unclean > 0 &&
		r.Resent == 0 && (r.Upgrade == "" || int(r.DeadLetters) == r.WantDead)
}

func (r result) verdict() string {
	switch {
	case r.passed() && r.Control:
		return "ok (the control lost, as it must)"
	case r.passed():
		return "ok"
	case r.Upgrade != "" && !r.Collected:
		return "FAIL: no value-log collection ran before the cut, so this round did not test one"
	case r.Control:
		return "FAIL: the control lost nothing, so this run cannot see a loss"
	case r.Acked == 0:
		return "FAIL: nothing was acknowledged before the cut"
	case r.Lost > 0:
		return "FAIL: acknowledged notifications were lost"
	case r.Resent > 0:
		return "FAIL: what the earlier release had delivered was delivered again"
	case r.Upgrade != "" && int(r.DeadLetters) != r.WantDead:
		return fmt.Sprintf("FAIL: %d dead letters after the upgrade; the earlier release left %d", r.DeadLetters, r.WantDead)
	case r.Unclean == 0 && r.Store == "opened":
		return "FAIL: status does not show the unclean restart"
	default:
		return "FAIL"
	}
}

// scenario says what the round started from and ran.
func (r result) scenario() string {
	switch {
	case r.Upgrade != "" && r.Hole1:
		return "upgrade from " + r.Upgrade + ", log sync with hole 1"
	case r.Upgrade != "":
		return "upgrade from " + r.Upgrade
	}
	return "fresh store"
}

// line is the one-line progress report of a round.
func (r result) line() string {
	s := fmt.Sprintf("round %d (%s, %s, cut %s): acked %d, lost %d, extra %d, redelivered %d, resent %d, store %s, fsck %s: %s",
		r.Round, r.Disk, r.scenario(), r.Cut, r.Acked, r.Lost, r.Extra, r.Redelivered, r.Resent, orDash(r.Store), orDash(r.Fsck), r.verdict())
	for _, p := range r.Problems {
		s += "\n    " + p
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// render is the results table.
func render(results []result, accel string, seed uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "power cuts: %d rounds under %s, seed %d\n\n", len(results), accel, seed)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "round\tdisk\tscenario\tcut\tacked\tpresent\tlost\textra\tredelivered\tresent\tstore\tunclean\tfsck\tverdict")
	var acked, lost int
	for _, r := range results {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%s\t%s\n", r.Round, r.Disk, r.scenario(), r.Cut, r.Acked, r.Present, r.Lost,
			r.Extra, r.Redelivered, r.Resent, orDash(r.Store), r.Unclean, orDash(r.Fsck), r.verdict())
		if !r.Control {
			acked += r.Acked
			lost += r.Lost
		}
	}
	w.Flush()
	fmt.Fprintf(&b, "\nreal rounds: %d acknowledged, %d lost\n", acked, lost)
	return b.String()
}
