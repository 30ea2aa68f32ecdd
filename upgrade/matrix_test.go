package upgrade

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/oldbuild"
)

// release is the end of one development round, and what its build knows.
type release struct {
	commit string
	ended  string
	// holds: it stores a verified notification it cannot map as held
	// (provider, ingest: 90f5cef).
	holds bool
	// cleanMark: it leaves a clean-stop marker, so the current build can
	// tell its kill from its stop (daemon: 860d91e).
	cleanMark bool
	// dropAsks: dlq drop needs --yes without a terminal (ede0e8b).
	dropAsks bool
	// valueLog: records of 512 bytes or more went to the value log
	// (until 42f1a23), so collection has old files to move.
	valueLog bool
}

// releases are the last commit of each development round so far.
var releases = []release{
	{commit: "e10d3dc", ended: "2026-11-22 15:34", valueLog: true},
	{commit: "6076410", ended: "2026-12-01 05:58", holds: true, valueLog: true},
	{commit: "b8f9d70", ended: "2026-12-01 20:37", holds: true, cleanMark: true, dropAsks: true},
	{commit: "b4ff716", ended: "2026-12-02 02:02", holds: true, cleanMark: true, dropAsks: true},
}

// matrix is each release stopped cleanly, and the oldest and the newest
// also killed.
var matrix = []struct {
	release
	stop syscall.Signal
}{
	{releases[0], syscall.SIGTERM},
	{releases[0], syscall.SIGKILL},
	{releases[1], syscall.SIGTERM},
	{releases[2], syscall.SIGTERM},
	{releases[3], syscall.SIGTERM},
	{releases[3], syscall.SIGKILL},
}

// current is the daemon built from this tree, as `make build` builds it.
var current string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fluxrelay-upgrade-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	current = filepath.Join(dir, "fluxrelay")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestUpgradeMatrix writes a store with each earlier build over several
// runs (sales delivered, dead letters, some dropped, ignored and held
// notifications, and some left waiting while the core is down), stops it,
// opens the store with the current build (first while the core is still
// down), forces value-log collection, then lets the current build deliver:
// each waiting notification reaches the core exactly once, nothing the
// earlier build delivered is sent again, and dead letters, held
// notifications, find's trails and report's counts survive.
func TestUpgradeMatrix(t *testing.T) {
	oldbuild.Wanted(t)
	began := time.Now()
	buildCurrent(t)
	for _, c := range matrix {
		name := fmt.Sprintf("%s-%s", c.commit, map[syscall.Signal]string{syscall.SIGTERM: "stopped", syscall.SIGKILL: "killed"}[c.stop])
		t.Run(name, func(t *testing.T) {
			steps := &stopwatch{t: t, last: time.Now()}
			old := oldbuild.ForTest(t, c.commit, oldbuild.Options{})
			steps.lap("build " + c.commit)
			co := newCore(t)
			g := newGateway(t, co)
			l := newLedger(t, g, uint64(len(name)))
			writeWithOldBuild(t, c.release, c.stop, g, co, l, old)
			steps.lap(fmt.Sprintf("%d runs of %s, %d notifications", g.runs, c.commit, len(l.all)))
			unclean := firstStart(t, c.release, c.stop, g, l)
			steps.lap("the current build's first start, the core down")
			collect(t, c.release, g)
			steps.lap("value-log collection")
			deliverAndCheck(t, g, co, l, unclean)
			steps.lap("delivery and the checks")
		})
	}
	t.Logf("the whole matrix took %s", time.Since(began).Round(time.Second))
}

// stopwatch logs how long each step took.
type stopwatch struct {
	t    *testing.T
	last time.Time
}

func (s *stopwatch) lap(what string) {
	now := time.Now()
	s.t.Logf("step: %-60s %6.1fs", what, now.Sub(s.last).Seconds())
	s.last = now
}

func buildCurrent(t *testing.T) {
	if _, err := os.Stat(current); err == nil {
		return
	}
	start := time.Now()
	cmd := exec.Command("go", "build", "-trimpath", "-o", current, "../cmd/fluxrelay")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the current daemon: %v\n%s", err, out)
	}
	t.Logf("step: %-60s %6.1fs", "build the current daemon", time.Since(start).Seconds())
}

// sessions is how many times the earlier build is started. Badger flushes
// its memtable to a level-0 table at every clean stop; the releases that
// kept records in the value log compacted level 0 at 8 tables, and only a
// compaction records what in the value log is garbage. Nine runs make one,
// so collection has something to move.
func sessions(r release) int {
	if r.valueLog {
		return 9
	}
	return 3
}

// writeWithOldBuild runs the earlier build for several sessions, each a
// start, a mix of notifications, and a clean stop; the last one leaves
// notifications waiting (the core down) and stops with stop.
func writeWithOldBuild(t *testing.T, r release, stop syscall.Signal, g *gateway, co *core, l *ledger, old string) {
	n := sessions(r)
	for s := 1; s <= n; s++ {
		tables := ssts(g)
		g.start(old)
		co.down.Store(false)
		by := fmt.Sprintf("%s-%d", r.commit, s)
		for i := range 20 {
			k := sale
			if i%5 == 4 {
				k = dead // one in five, never three in a row: a streak would pause deliveries
			}
			l.sale(k, by, s == 1 && (i == 0 || i == 4))
		}
		l.monnify(ignored, by)
		if r.holds {
			l.monnify(held, by)
		}
		want := l.waitingPersons()
		g.waitStatus(fmt.Sprintf("run %d's sales delivered and %d waiting for a person", s, want),
			func(st status) bool { return st.QueueDepth == 0 && st.DeadLetters == want })
		if r.valueLog && s == n {
			waitCompacted(t, g, tables)
		}
		if s == n-1 {
			drop(t, r, g, l, old)
		}
		if s == n {
			co.down.Store(true)
			for i := range 12 {
				l.sale(pending, by, i == 0)
			}
			waiting := int64(len(l.of(pending)))
			g.waitStatus("the waiting notifications stored", func(st status) bool { return st.QueueDepth == waiting })
			g.stop(stop)
			return
		}
		g.stop(syscall.SIGTERM)
	}
}

// drop deletes every other dead letter with the earlier build's own CLI:
// all their versions become garbage in the value log.
func drop(t *testing.T, r release, g *gateway, l *ledger, old string) {
	t.Helper()
	args := []string{"dlq", "drop"}
	if r.dropAsks {
		args = append(args, "--yes")
	}
	for i, s := range l.of(dead) {
		if i%2 == 0 {
			args = append(args, s.id)
			s.dropped = true
		}
	}
	if out, code := g.cli(old, args...); code != 0 {
		t.Fatalf("%s dlq drop: exit %d: %s", r.commit, code, out)
	}
	want := l.waitingPersons()
	g.waitStatus("the dropped dead letters gone", func(st status) bool { return st.DeadLetters == want })
}

// firstStart starts the current build on the earlier store while the core
// is still down, as after an upgrade during an outage, and checks what it
// found: the store in place, the queue and dead letters counted, and the
// earlier build's clean stop not taken for a power cut.
func firstStart(t *testing.T, r release, stop syscall.Signal, g *gateway, l *ledger) (unclean int) {
	g.start(current)
	st, err := g.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.StoreMovedAside != "" || len(g.movedAside()) > 0 {
		t.Errorf("the current build moved the store of %s aside (%s %v)", r.commit, st.StoreMovedAside, g.movedAside())
	}
	if want := int64(len(l.of(pending))); st.QueueDepth != want {
		t.Errorf("after the upgrade the queue holds %d; %s left %d waiting", st.QueueDepth, r.commit, want)
	}
	if want := l.waitingPersons(); st.DeadLetters != want {
		t.Errorf("after the upgrade %d dead letters; %s left %d (dead letters and held)", st.DeadLetters, r.commit, want)
	}
	switch {
	case stop == syscall.SIGTERM && st.UncleanRestarts != 0:
		t.Errorf("%s was stopped cleanly, but the current build counts %d unclean restart(s)", r.commit, st.UncleanRestarts)
	case stop == syscall.SIGKILL && r.cleanMark && st.UncleanRestarts != 1:
		t.Errorf("%s was killed; the current build counts %d unclean restarts, want 1", r.commit, st.UncleanRestarts)
	case stop == syscall.SIGKILL && !r.cleanMark:
		t.Logf("%s left no clean-stop marker, so its kill cannot be told from a stop: %d unclean restart(s) counted", r.commit, st.UncleanRestarts)
	}
	g.stop(syscall.SIGTERM)
	return st.UncleanRestarts
}

// ssts lists the table files of the gateway's store.
func ssts(g *gateway) []string {
	found, _ := filepath.Glob(filepath.Join(g.data, "store", "*.sst"))
	return found
}

// waitCompacted waits until the earlier build has compacted its level 0:
// one of the tables it started the run with is gone. Only a compaction
// records what in the value log is garbage; a run too short to finish one
// would leave collection nothing to move. With fewer than 8 tables at the
// start, the compaction already ran, as the last stop flushed the eighth.
func waitCompacted(t *testing.T, g *gateway, tables []string) {
	t.Helper()
	if len(tables) < 8 {
		return
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		for _, f := range tables {
			if _, err := os.Stat(f); os.IsNotExist(err) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the earlier build did not compact its level 0 (%d tables) within two minutes", len(tables))
		}
	}
}

// vlogs lists the value-log files of the gateway's store.
func vlogs(g *gateway) []string {
	found, _ := filepath.Glob(filepath.Join(g.data, "store", "*.vlog"))
	for i, f := range found {
		found[i] = filepath.Base(f)
	}
	return found
}

func without(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !strings.Contains(" "+strings.Join(b, " ")+" ", " "+x+" ") {
			out = append(out, x)
		}
	}
	return out
}
