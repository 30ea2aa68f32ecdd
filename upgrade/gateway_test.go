package upgrade

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/loopback"
)

// gateway is one data folder and the config every build runs it with: an
// upgrade keeps both. The config uses only keys the first round's build
// already knew.
type gateway struct {
	t              *testing.T
	dir, cfg, data string
	ingest, admin  string
	logPath        string
	cmd            *exec.Cmd
	exited         chan struct{}
	runs           int
}

const monnifySecret = "UPGRADECLIENTSECRET000000000001"

func newGateway(t *testing.T, c *core) *gateway {
	dir := t.TempDir()
	g := &gateway{t: t, dir: dir, cfg: filepath.Join(dir, "fluxrelay.toml"), data: filepath.Join(dir, "data"),
		ingest: loopback.FreeAddr(t), admin: loopback.FreeAddr(t), logPath: filepath.Join(dir, "daemons.log")}
	doc := fmt.Sprintf(`version = 1
data_dir = %q
[core]
url = "%s/hook"
tenant_id = %q
api_key = %q
api_secret = %q
retry_max_wait = "1s"
[http]
listen = %q
[mqtt]
mode = "off"
[admin]
socket = ""
listen = %q
[log]
level = "info"
[[source]]
name = "till"
provider = "core"
[[source]]
name = "monnify"
provider = "monnify"
secret = %q
allow = ["127.0.0.1/32"]
`, g.data, c.url, tenant, coreKey, coreSecret, g.ingest, g.admin, monnifySecret)
	if err := os.WriteFile(g.cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.kill()
		if t.Failed() {
			b, _ := os.ReadFile(g.logPath)
			t.Logf("the daemons' log (%s):\n%s", g.logPath, tail(string(b), 200))
		}
	})
	return g
}

// start runs bin on the gateway and waits until it takes requests and
// answers on its admin listener.
func (g *gateway) start(bin string) {
	g.t.Helper()
	g.runs++
	logf, err := os.OpenFile(g.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		g.t.Fatal(err)
	}
	fmt.Fprintf(logf, "==== start %d: %s\n", g.runs, bin)
	cmd := exec.Command(bin, "run", "-c", g.cfg)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		g.t.Fatal(err)
	}
	logf.Close()
	g.cmd, g.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(g.exited)
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-g.exited:
			g.t.Fatalf("%s exited at start: %v", filepath.Base(filepath.Dir(bin)), cmd.ProcessState)
		case <-time.After(20 * time.Millisecond):
		}
		if c, err := net.Dial("tcp", g.ingest); err == nil {
			c.Close()
			if _, err := g.status(); err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%s did not start listening within a minute", bin)
		}
	}
}

// stop sends sig and waits for the daemon to exit.
func (g *gateway) stop(sig syscall.Signal) {
	g.t.Helper()
	if g.cmd == nil {
		return
	}
	_ = g.cmd.Process.Signal(sig)
	select {
	case <-g.exited:
	case <-time.After(time.Minute):
		g.t.Fatalf("the daemon did not stop within a minute of %v", sig)
	}
	if sig == syscall.SIGTERM && !g.cmd.ProcessState.Success() {
		g.t.Fatalf("the daemon's clean stop failed: %v", g.cmd.ProcessState)
	}
	g.cmd = nil
}

func (g *gateway) kill() {
	if g.cmd != nil {
		_ = g.cmd.Process.Kill()
		<-g.exited
		g.cmd = nil
	}
}

// status is what every build's /api/status has.
type status struct {
	State           string `json:"state"`
	QueueDepth      int64  `json:"queue_depth"`
	DeadLetters     int64  `json:"dead_letters"`
	StoreMovedAside string `json:"store_moved_aside"`
	UncleanRestarts int    `json:"unclean_restarts"`
}

func (g *gateway) status() (status, error) {
	var st status
	resp, err := http.Get("http://" + g.admin + "/api/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// waitStatus polls the status until cond holds, for up to two minutes.
func (g *gateway) waitStatus(what string, cond func(status) bool) status {
	g.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := g.status()
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("waited two minutes for %s; last status %+v (%v)", what, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cli runs a command of bin against the running daemon, as a technician
// would, and returns what it printed and its exit code.
func (g *gateway) cli(bin string, args ...string) (string, int) {
	g.t.Helper()
	var out, errb bytes.Buffer
	// -c right after the command: the first round's dlq took its flags
	// only before its arguments
	cmd := exec.Command(bin, append([]string{args[0], "-c", g.cfg}, args[1:]...)...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return out.String() + errb.String(), exit.ExitCode()
	case err != nil:
		g.t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
	}
	return out.String(), 0
}

// cliJSON runs a command that prints JSON and decodes it into v.
func (g *gateway) cliJSON(bin string, v any, args ...string) {
	g.t.Helper()
	out, code := g.cli(bin, append(args, "--json")...)
	if code != 0 {
		g.t.Fatalf("fluxrelay %s: exit %d: %s", strings.Join(args, " "), code, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		g.t.Fatalf("fluxrelay %s --json: %v: %q", strings.Join(args, " "), err, tail(out, 20))
	}
}

// movedAside lists the stores moved aside from the data folder.
func (g *gateway) movedAside() []string {
	found, _ := filepath.Glob(filepath.Join(g.data, "store.unreadable-*"))
	return found
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
