package packaging

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/relay/relaytest"
)

// core is the fake Fluxvend core; while down it answers 503.
type core struct {
	*relaytest.Core
	url  string
	down atomic.Bool
}

func newCore(t *testing.T) *core {
	c := &core{}
	c.Core = &relaytest.Core{APIKey: "K", APISecret: "S-upgrade", Answer: func(int, relaytest.Delivery) int {
		if c.down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}}
	srv := httptest.NewServer(c.Core)
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

// gateway is the throw-away root with the package installed and its
// service run as the unit runs it.
type gateway struct {
	t             *testing.T
	root          string
	core          *core
	ingest, admin string
	svc           *exec.Cmd
	exited        chan struct{}
	log           string
	waiting       []string // acknowledged while the core was down
	sent          int
	answer        string // the technician's answers to dpkg
	note          string // sent with each sale
}

// dpkg runs dpkg on the root; ok says whether it must succeed.
func (g *gateway) dpkg(ok bool, args ...string) string {
	g.t.Helper()
	// an empty root has no systemd or adduser to satisfy Depends
	cmd := exec.Command("dpkg", append([]string{"--root=" + g.root, "--force-script-chrootless", "--force-depends", "--log=/dev/null"}, args...)...)
	cmd.Stdin = strings.NewReader(g.answer) // what the technician answers dpkg's questions
	out, err := cmd.CombinedOutput()
	if ok && err != nil {
		g.t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if !ok && err == nil {
		g.t.Fatalf("dpkg %s succeeded; it should have refused:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

// installed checks the package's state and version, the binary's, and
// that the service is enabled.
func (g *gateway) installed(version string) {
	g.t.Helper()
	s := g.dpkg(true, "-s", "fluxrelay")
	if !strings.Contains(s, "Status: install ok installed") || !strings.Contains(s, "Version: "+version+"\n") {
		g.t.Errorf("dpkg -s fluxrelay: want %s installed ok:\n%s", version, s)
	}
	if v, err := exec.Command(filepath.Join(g.root, "usr/bin/fluxrelay"), "version").Output(); err != nil || !strings.HasPrefix(string(v), "fluxrelay "+version+" ") {
		g.t.Errorf("the installed binary says %q (%v); want %s", v, err, version)
	}
	link := filepath.Join(g.root, "etc/systemd/system/multi-user.target.wants/fluxrelay.service")
	if dst, err := os.Readlink(link); err != nil || dst != "/lib/systemd/system/fluxrelay.service" {
		g.t.Errorf("the service is not enabled (multi-user.target.wants: %q, %v)", dst, err)
	}
}

// editConfig writes the technician's config over the shipped one (its
// owner and mode stay), with the core's secret in /etc/default/fluxrelay
// as the unit's EnvironmentFile, and returns both.
func (g *gateway) editConfig() [2][]byte {
	g.t.Helper()
	cfg := fmt.Sprintf(`# Shop 12, Ikeja: edited on the gateway
version = 1
[core]
url = "%s/hook"
tenant_id = "acme"
api_key = "K"
api_secret_env = "FLUXRELAY_CORE_SECRET"
retry_max_wait = "1s"
[http]
listen = %q
[mqtt]
mode = "off"
[admin]
socket = ""
listen = %q
[[source]]
name = "till"
provider = "core"
`, g.core.url, g.ingest, g.admin)
	env := "# the Fluxvend secret of shop 12\nFLUXRELAY_CORE_SECRET=S-upgrade\n"
	for path, text := range map[string]string{"etc/fluxrelay/fluxrelay.toml": cfg, "etc/default/fluxrelay": env} {
		if err := os.WriteFile(filepath.Join(g.root, path), []byte(text), 0o640); err != nil {
			g.t.Fatal(err)
		}
	}
	return [2][]byte{[]byte(cfg), []byte(env)}
}

// kept checks that the edited config and environment are as the
// technician left them, and that the data folder is still the service's.
func (g *gateway) kept(edited [2][]byte) {
	g.t.Helper()
	for i, path := range []string{"etc/fluxrelay/fluxrelay.toml", "etc/default/fluxrelay"} {
		if b, err := os.ReadFile(filepath.Join(g.root, path)); err != nil || string(b) != string(edited[i]) {
			g.t.Errorf("/%s is not the technician's any more (%v):\n%s", path, err, b)
		}
	}
	mode, uid, gid := fileID(g.t, filepath.Join(g.root, "var/lib/fluxrelay"))
	// 0700 from this release on (0750 before it): never open to others
	if mode&0o707 != 0o700 || uid != idOf(g.t, filepath.Join(g.root, "etc/passwd"), "fluxrelay") || gid != idOf(g.t, filepath.Join(g.root, "etc/group"), "fluxrelay") {
		g.t.Errorf("/var/lib/fluxrelay: mode %04o owner %d:%d", mode, uid, gid)
	}
	if _, err := os.Stat(filepath.Join(g.root, "var/lib/fluxrelay/store/MANIFEST")); err != nil {
		g.t.Errorf("the store is gone: %v", err)
	}
}

// start runs the service as its installed unit says: ExecStart in a
// chroot to the root, as User= and Group=, with Environment= and
// EnvironmentFile=.
func (g *gateway) start() {
	g.t.Helper()
	unit := string(mustRead(g.t, filepath.Join(g.root, "lib/systemd/system/fluxrelay.service")))
	var argv, env []string
	sc := bufio.NewScanner(strings.NewReader(unit))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "ExecStart":
			argv = strings.Fields(v)
		case "Environment":
			env = append(env, v)
		case "EnvironmentFile":
			env = append(env, envFile(g.t, filepath.Join(g.root, strings.TrimPrefix(v, "-")))...)
		}
	}
	g.log = filepath.Join(filepath.Dir(g.root), "service.log")
	logf, err := os.OpenFile(g.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		g.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = env, "/", logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: g.root, Credential: &syscall.Credential{
		Uid: uint32(idOf(g.t, filepath.Join(g.root, "etc/passwd"), "fluxrelay")),
		Gid: uint32(idOf(g.t, filepath.Join(g.root, "etc/group"), "fluxrelay")),
	}}
	if err := cmd.Start(); err != nil {
		g.t.Fatalf("start %s in the root: %v", strings.Join(argv, " "), err)
	}
	g.svc, g.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(g.exited)
	g.t.Cleanup(func() { g.stop(syscall.SIGKILL) })
	g.waitStatus("the service to answer", func(status) bool { return true })
}

// envFile reads NAME=value lines, as systemd reads an EnvironmentFile.
func envFile(t *testing.T, path string) []string {
	var env []string
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("EnvironmentFile: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") && strings.Contains(line, "=") {
			env = append(env, line)
		}
	}
	return env
}

// stop stops the service with sig, as systemd would.
func (g *gateway) stop(sig syscall.Signal) {
	if g.svc == nil {
		return
	}
	_ = g.svc.Process.Signal(sig)
	select {
	case <-g.exited:
	case <-time.After(time.Minute):
		g.t.Errorf("the service did not stop within a minute of %v", sig)
		_ = g.svc.Process.Kill()
		<-g.exited
	}
	if sig == syscall.SIGTERM && !g.svc.ProcessState.Success() {
		g.t.Errorf("the service's clean stop failed: %v (its log: %s)", g.svc.ProcessState, g.log)
	}
	g.svc = nil
}

// restart is systemctl restart: the running daemon stops, the installed
// binary starts.
func (g *gateway) restart() {
	g.t.Helper()
	g.stop(syscall.SIGTERM)
	g.start()
}

type status struct {
	Version         string `json:"version"`
	QueueDepth      int64  `json:"queue_depth"`
	StoreMovedAside string `json:"store_moved_aside"`
	UncleanRestarts int    `json:"unclean_restarts"`
}

func (g *gateway) waitStatus(what string, cond func(status) bool) status {
	g.t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var st status
		resp, err := http.Get("http://" + g.admin + "/api/status")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
		}
		if err == nil && cond(st) {
			return st
		}
		select {
		case <-g.exited:
			g.t.Fatalf("the service exited while waiting for %s (its log: %s)", what, g.log)
		default:
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("waited a minute for %s: %+v %v (its log: %s)", what, st, err, g.log)
		}
	}
}

// send posts n sales; with down, the core is down and they wait.
func (g *gateway) send(n int, down bool) {
	g.t.Helper()
	g.core.down.Store(down)
	for range n {
		g.sent++
		ref := fmt.Sprintf("PKG-%04d", g.sent)
		resp, err := http.Post("http://"+g.ingest+"/notify/till", "application/json",
			strings.NewReader(fmt.Sprintf(`{"transactionRef":%q,"amount":"%d.25","paymentMethod":"CARD","note":%q}`, ref, 1000+g.sent, g.note)))
		if err != nil {
			g.t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"queued"`) {
			g.t.Fatalf("%s: %d %s", ref, resp.StatusCode, body)
		}
		if down {
			g.waiting = append(g.waiting, ref)
		}
	}
	want := int64(len(g.waiting))
	if !down {
		want = 0
	}
	g.waitStatus(fmt.Sprintf("%d waiting", want), func(st status) bool { return st.QueueDepth == want })
}

// deliver checks the restarted service (version, the queue it found, no
// unclean restart counted, nothing moved aside), lets the core answer and
// checks that every sale reached it exactly once, but the unreadable ones:
// those the release cannot read, which stay waiting for a later one.
func (g *gateway) deliver(version string, unreadable ...string) {
	g.t.Helper()
	st := g.waitStatus("the restarted service", func(status) bool { return true })
	if want := int64(len(g.waiting) - len(unreadable)); !strings.HasPrefix(st.Version, version) || st.QueueDepth != want || st.StoreMovedAside != "" || st.UncleanRestarts != 0 {
		g.t.Errorf("after the restart: %+v; want version %s, %d waiting, nothing moved aside, no unclean restart", st, version, want)
	}
	g.core.down.Store(false)
	g.waiting = unreadable
	g.waitStatus("everything delivered", func(st status) bool { return st.QueueDepth == 0 })
	count := map[string]int{}
	for _, d := range g.core.Accepted() {
		var p struct{ TransactionRef string }
		_ = json.Unmarshal(d.Body, &p)
		count[p.TransactionRef]++
	}
	for i := 1; i <= g.sent; i++ {
		ref := fmt.Sprintf("PKG-%04d", i)
		if slices.Contains(unreadable, ref) {
			continue
		}
		if count[ref] != 1 {
			g.t.Errorf("%s reached the core %d times; want once", ref, count[ref])
		}
	}
}

// storeFormat is the format the running daemon's store recorded, which
// the package's scripts must know (reads_format).
func (g *gateway) storeFormat() string {
	g.t.Helper()
	b, err := os.ReadFile(filepath.Join(g.root, "var/lib/fluxrelay/store/FORMAT"))
	if err != nil {
		g.t.Errorf("the store records no format (store/FORMAT): %v", err)
		return ""
	}
	format := strings.TrimSpace(string(b))
	for _, script := range []string{"deb/preinst", "scripts/preinstall.sh"} {
		if !strings.Contains(string(mustRead(g.t, script)), "\nreads_format="+format+"\n") {
			g.t.Errorf("packaging/%s: reads_format is not %s, the format the store writes", script, format)
		}
	}
	return format
}
