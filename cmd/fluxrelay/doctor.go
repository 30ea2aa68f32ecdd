package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fluxrelay/fluxrelay/admin"
	"github.com/fluxrelay/fluxrelay/config"
)

// check is one line of `fluxrelay doctor`.
type check struct {
	level string // OK, WARN, FAIL
	name  string
	msg   string
}

// doctorEnv is what the checks look at: the config (nil when it cannot be
// used), the running daemon's status (nil when it does not answer, stErr
// says why) and this machine's clock.
type doctorEnv struct {
	path   string
	cfg    *config.Config
	cfgErr error
	st     *admin.Status
	stErr  error
	now    time.Time
	mounts string
}

// probe is one named check of the doctor. does says what it does, for
// `fluxrelay doctor --help`: what it reads, and what it sends to whom.
type probe struct {
	name string
	does string
	run  func(*doctorEnv) []check
}

// probes are the doctor's checks, in the order their lines are printed.
// Each decides OK, WARN or FAIL and says the fix; the state and the clock's
// thresholds are package health's, through the daemon's status. None
// sends Fluxvend a request or opens a connection to a broker that the
// broker would log as a fault.
var probes = []probe{
	{"config", "reads the config file and checks every key, as check-config does", probeConfig},
	{"data dir", "checks that data_dir is a folder and writes a small file in it (then removes it), measures the free space on its disk against the reserve below which input is refused, and looks for stores moved aside", probeDataDir},
	{"filesystem", "reads the mount table for the filesystem under data_dir: memory (tmpfs), FAT, nobarrier, data=writeback", probeFilesystem},
	{"clock", "reads this machine's clock, and the skew to Fluxvend's clock that the running daemon measured from Fluxvend's last answer", probeClock},
	{"core", "looks up Fluxvend's host in DNS, opens a TCP connection to its port and, for https, completes a TLS handshake, then closes: no HTTP request is sent, so nothing reaches Fluxvend's logs", probeCore},
	{"mqtt", "asks the running daemon whether its broker or its subscription is up; without a running daemon, checks that mqtt.listen can be bound, or logs in to the external broker with mqtt.username under a client id of its own and disconnects cleanly", probeMQTT},
	{"listen", "asks the running daemon whether each listening address is up; without a running daemon, checks that each can be bound (it connects to none)", probeListen},
	{"daemon", "asks the running daemon for its state (GET /api/status on the admin socket): each reason it gives is a line, FAIL when it needs a person", probeDaemon},
}

func init() {
	var b strings.Builder
	b.WriteString("doctor [-c FILE]\n\nCheck the gateway and say how to fix what is wrong: one line per check, OK, WARN or FAIL; exit 1 when any FAILs. The checks:\n")
	for _, p := range probes {
		fmt.Fprintf(&b, "  %-10s %s\n", p.name, p.does)
	}
	synopsis["doctor"] = strings.TrimRight(b.String(), "\n")
}

// cmdDoctor runs every check it can and prints one line per finding, with
// the fix for anything that is not OK. Exit 1 if any check fails.
func cmdDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFlag := configFlag(fs)
	if code, stop := parseOnlyFlags(fs, args, stdout, stderr); stop {
		return code
	}
	env := &doctorEnv{path: configPath(*cfgFlag), now: time.Now(), mounts: readMounts()}
	env.cfg, env.cfgErr = config.Load(env.path)
	var st admin.Status
	if env.stErr = newAdminClient(*cfgFlag, "", "").do("GET", "/api/status", &st); env.stErr == nil {
		env.st = &st
	}
	code := exitOK
	for _, p := range probes {
		for _, c := range p.run(env) {
			fmt.Fprintf(stdout, "%-4s  %-9s %s\n", c.level, c.name, oneLine(c.msg))
			if c.level == "FAIL" {
				code = exitFailure
			}
		}
	}
	fmt.Fprintln(stdout, "(fluxrelay doctor --help says what each check does; none sent Fluxvend a request)")
	return code
}

func probeConfig(e *doctorEnv) []check {
	var problems config.Problems
	switch {
	case errors.As(e.cfgErr, &problems):
		return []check{{"FAIL", "config", fmt.Sprintf("%s has %d problem(s), the first: %s — run fluxrelay check-config -c %s", e.path, len(problems), problems[0], e.path)}}
	case e.cfgErr != nil:
		return []check{{"FAIL", "config", e.cfgErr.Error()}}
	}
	out := []check{{"OK", "config", e.path + " is valid"}}
	for _, w := range e.cfg.Warnings {
		out = append(out, check{"WARN", "config", w.String()})
	}
	return out
}

func probeFilesystem(e *doctorEnv) []check {
	if e.cfg == nil {
		return nil
	}
	if c, ok := filesystemCheck(e.cfg.DataDir, e.mounts); ok {
		return []check{c}
	}
	return nil
}
