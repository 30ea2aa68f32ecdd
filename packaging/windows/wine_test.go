package windows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/admin"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
)

// wine runs Windows programs in the prefix make test-windows made (see
// tools/winetest): the tests here drive fluxrelay.exe from Linux, as a
// shop's terminals and Fluxvend would from outside the Windows machine.
type wine struct {
	prefix, loader string
	env            []string
}

func needWine(t *testing.T) *wine {
	t.Helper()
	prefix, loader := os.Getenv("FLUXRELAY_WINEPREFIX"), os.Getenv("FLUXRELAY_WINE")
	if prefix == "" || loader == "" {
		t.Skip("skipped: make test-windows runs this, in the wine prefix it makes ($FLUXRELAY_WINEPREFIX)")
	}
	return &wine{prefix: prefix, loader: loader, env: append(os.Environ(), "WINEPREFIX="+prefix, "WINEDEBUG=-all")}
}

// cmd is a Windows program (a path in the prefix, Z:\ for Linux's /, or
// one of wine's: reg, sc, msiexec) with its arguments.
func (w *wine) cmd(prog string, args ...string) *exec.Cmd {
	cmd := exec.Command(w.loader, append([]string{prog}, args...)...)
	cmd.Env = w.env
	return cmd
}

// run runs a program to its end, with a generous limit, and returns what
// it printed and its exit code.
func (w *wine) run(t *testing.T, prog string, args ...string) (string, int) {
	t.Helper()
	cmd := w.cmd(prog, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Start()
	if err == nil {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(3 * time.Minute):
			_ = cmd.Process.Kill()
			t.Fatalf("%s %s did not end within 3 minutes:\n%s", prog, strings.Join(args, " "), out.String())
		}
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", prog, err)
	}
	return strings.ReplaceAll(out.String(), "\r\n", "\n"), code
}

// onC is where a C:\ path is in the prefix.
func (w *wine) onC(path string) string {
	rest := strings.TrimPrefix(path, `C:\`)
	return filepath.Join(append([]string{w.prefix, "drive_c"}, strings.Split(rest, `\`)...)...)
}

// onZ is a Linux path as the Windows programs see it.
func onZ(path string) string { return `Z:` + strings.ReplaceAll(path, "/", `\`) }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
	}
}

// post sends a sale as a till would and returns the HTTP status.
func post(t *testing.T, ingest, ref string) int {
	t.Helper()
	resp, err := http.Post("http://"+ingest+"/notify/till", "application/json", strings.NewReader(fmt.Sprintf(`{"transactionRef":%q,"amount":"250.00"}`, ref)))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func answers(ingest string) bool {
	c, err := net.DialTimeout("tcp", ingest, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// TestDaemonUnderWine runs fluxrelay.exe under wine with its data on the
// prefix's C: drive and a fake Fluxvend core on Linux. Sales posted over
// HTTP from Linux while Fluxvend answers are delivered once; sales posted
// while Fluxvend refuses wait; fluxrelay.exe is killed (SIGKILL, which
// ends the Windows process at once, as TerminateProcess would) and
// started again: everything acknowledged is delivered, exactly once,
// nothing is moved aside, and status, check-config and find work.
func TestDaemonUnderWine(t *testing.T) {
	w := needWine(t)
	bin := exe(t, "0.1.0")
	var refuse atomic.Bool
	core := &relaytest.Core{APIKey: "K", APISecret: "S", Answer: func(int, relaytest.Delivery) int {
		if refuse.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}}
	srv := httptest.NewServer(core)
	defer srv.Close()
	ingest, adminAddr := freeAddr(t), freeAddr(t)
	dataDir := `C:\fluxrelay-e2e\data`
	os.RemoveAll(w.onC(`C:\fluxrelay-e2e`))
	t.Cleanup(func() { os.RemoveAll(w.onC(`C:\fluxrelay-e2e`)) })
	cfg := filepath.Join(t.TempDir(), "fluxrelay.toml")
	doc := fmt.Sprintf(`version = 1
data_dir = '%s'
gateway = "wine"
[core]
url = "%s/hook"
tenant_id = "acme"
api_key = "K"
api_secret = "S"
retry_max_wait = "1s"
[http]
listen = "%s"
[mqtt]
mode = "off"
[admin]
listen = "%s"
token = "e2e-admin-token"
[[source]]
name = "till"
provider = "core"
`, dataDir, srv.URL, ingest, adminAddr)
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := w.run(t, onZ(bin), "check-config", "-c", onZ(cfg)); code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("check-config: exit %d\n%s", code, out)
	}
	start := func() *exec.Cmd {
		t.Helper()
		cmd := w.cmd(onZ(bin), "run", "-c", onZ(cfg))
		log, _ := os.OpenFile(filepath.Join(t.TempDir(), "daemon.log"), os.O_CREATE|os.O_WRONLY, 0o600)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); log.Close() })
		waitFor(t, "fluxrelay.exe to listen", 2*time.Minute, func() bool { return answers(ingest) })
		return cmd
	}
	daemon := start()
	for i := range 30 {
		if code := post(t, ingest, fmt.Sprintf("WINE-A-%02d", i)); code != 200 {
			t.Fatalf("sale %d answered %d", i, code)
		}
	}
	waitFor(t, "the first 30 delivered", time.Minute, func() bool { return core.AcceptedCount() == 30 })
	status := func() admin.Status {
		t.Helper()
		out, code := w.run(t, onZ(bin), "status", "--json", "-c", onZ(cfg))
		var st admin.Status
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			t.Fatalf("status --json: exit %d\n%s", code, out)
		}
		return st
	}
	waitFor(t, "the deliveries recorded", time.Minute, func() bool { return status().QueueDepth == 0 })
	refuse.Store(true)
	for i := range 30 {
		if code := post(t, ingest, fmt.Sprintf("WINE-B-%02d", i)); code != 200 {
			t.Fatalf("sale %d (Fluxvend refusing) answered %d", i, code)
		}
	}
	if err := daemon.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = daemon.Wait()
	// wineserver holds a copy of each socket and closes it when it sees
	// the process gone, a moment later.
	waitFor(t, "the killed fluxrelay.exe's port to close", 30*time.Second, func() bool { return !answers(ingest) })

	refuse.Store(false)
	start()
	waitFor(t, "all 60 delivered after the restart", 2*time.Minute, func() bool { return core.AcceptedCount() >= 60 })
	waitFor(t, "the queue empty", time.Minute, func() bool { return status().QueueDepth == 0 })
	seen := map[string]int{}
	for _, d := range core.Accepted() {
		var p struct{ TransactionRef string }
		_ = json.Unmarshal(d.Body, &p)
		seen[p.TransactionRef]++
	}
	for _, batch := range []string{"A", "B"} {
		for i := range 30 {
			if ref := fmt.Sprintf("WINE-%s-%02d", batch, i); seen[ref] != 1 {
				t.Errorf("%s delivered %d times; want once", ref, seen[ref])
			}
		}
	}
	st := status()
	if st.StoreMovedAside != "" {
		t.Errorf("the store was moved aside: %s", st.StoreMovedAside)
	}
	if aside, _ := filepath.Glob(filepath.Join(w.onC(dataDir), "store.unreadable-*")); len(aside) > 0 {
		t.Errorf("a store was moved aside: %v", aside)
	}
	if out, code := w.run(t, onZ(bin), "find", "WINE-B-07", "-c", onZ(cfg)); code != 0 || !strings.Contains(out, "DELIVERED") || !strings.Contains(out, "Fluxvend answered 200") {
		t.Errorf("find WINE-B-07: exit %d\n%s", code, out)
	}
	t.Logf("under wine: 60 sales acknowledged, 30 of them waiting when fluxrelay.exe was killed; each delivered once after the restart")
}

// The service's files in the prefix.
const (
	programData = `C:\ProgramData\fluxrelay`
	configPath  = programData + `\fluxrelay.toml`
	serviceKey  = `HKLM\System\CurrentControlSet\Services\fluxrelay`
)

// clean leaves no fluxrelay service and no ProgramData\fluxrelay in the
// prefix, before a test and after it.
func (w *wine) clean(t *testing.T, bin string) {
	t.Helper()
	w.run(t, onZ(bin), "service", "uninstall")
	os.RemoveAll(w.onC(programData))
}

// withPorts gives a config free loopback ports and no MQTT, so that a
// service under wine never takes the host's real ones.
func withPorts(t *testing.T, doc string) (string, string) {
	t.Helper()
	ingest := freeAddr(t)
	r := strings.NewReplacer(
		`listen = "0.0.0.0:8088"`, fmt.Sprintf("listen = %q", ingest),
		`mode = "embedded"`, `mode = "off"`,
		`listen = "127.0.0.1:8089"`, fmt.Sprintf("listen = %q", freeAddr(t)))
	out := r.Replace(doc)
	if strings.Count(out, "127.0.0.1:") != 2 {
		t.Fatalf("the example's listen addresses were not found: the test cannot keep the service off the host's ports")
	}
	return out, ingest
}

// svccontrol builds the helper that sends paramchange (wine's sc cannot).
func svccontrol(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "svccontrol.exe")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/svccontrol")
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building svccontrol.exe: %v\n%s", err, b)
	}
	return out
}

// TestServiceUnderWine installs fluxrelay.exe as a service in wine's
// service manager, as an elevated prompt would on Windows: the
// registration, the config copied from the example with a fresh token, the
// data folder, start, a reload by paramchange and by `fluxrelay reload`, a
// clean stop, and uninstall, which keeps the config and the data. What
// wine's service manager does not do (recovery actions, the Event Log,
// access lists) is logged; docs/windows.md lists it.
func TestServiceUnderWine(t *testing.T) {
	w := needWine(t)
	bin := exe(t, "0.1.0")
	dir := `C:\fluxrelay-service`
	os.MkdirAll(w.onC(dir), 0o755)
	installed := w.onC(dir + `\fluxrelay.exe`)
	copyFile(t, bin, installed)
	copyFile(t, "../fluxrelay.example.toml", w.onC(dir+`\fluxrelay.example.toml`))
	exePath := dir + `\fluxrelay.exe`
	w.clean(t, installed)
	t.Cleanup(func() { w.clean(t, installed); os.RemoveAll(w.onC(dir)) })

	out, code := w.run(t, exePath, "service", "install")
	if code != 0 || !strings.Contains(out, configPath+" (the example") {
		t.Fatalf("service install: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "network: terminals on the shop's network may connect to fluxrelay.exe") {
		t.Errorf("service install did not say the firewall lets terminals in:\n%s", out)
	}
	if strings.Contains(out, "NOT restarted after a failure") {
		t.Logf("wine's service manager refuses recovery actions, as expected (Windows takes them):\n%s", out)
	}
	reg, _ := w.run(t, "reg", "query", serviceKey)
	for _, want := range []string{`ImagePath    REG_SZ    ` + exePath + ` run -c ` + configPath, "Start    REG_DWORD    0x2", "ObjectName    REG_SZ    LocalSystem"} {
		if !strings.Contains(reg, want) {
			t.Errorf("the registration lacks %q:\n%s", want, reg)
		}
	}
	if ev, code := w.run(t, "reg", "query", `HKLM\System\CurrentControlSet\Services\EventLog\Application\fluxrelay`); code != 0 || !strings.Contains(ev, "EventMessageFile") {
		t.Errorf("no Event Log source fluxrelay: exit %d\n%s", code, ev)
	}
	cfg, err := os.ReadFile(w.onC(configPath))
	if err != nil {
		t.Fatal(err)
	}
	example, _ := os.ReadFile("../fluxrelay.example.toml")
	token := regexp.MustCompile(`(?m)^token = "[0-9a-f]{64}"$`)
	if !token.Match(cfg) || token.ReplaceAllString(string(cfg), `token = ""`) != string(example) {
		t.Errorf("the config is not the example with a token:\n%s", cfg)
	}
	if fi, err := os.Stat(w.onC(programData + `\data`)); err != nil || !fi.IsDir() {
		t.Errorf("no data folder: %v", err)
	}
	doc, ingest := withPorts(t, string(cfg))
	doc += "\n[[source]]\nname = \"till\"\nprovider = \"core\"\n"
	os.WriteFile(w.onC(configPath), []byte(doc), 0o600)

	if out, code := w.run(t, exePath, "service", "start"); code != 0 {
		t.Fatalf("service start: exit %d\n%s", code, out)
	}
	waitFor(t, "the service to listen", 2*time.Minute, func() bool { return answers(ingest) })
	if out, _ := w.run(t, exePath, "service", "status"); strings.TrimSpace(out) != "running" {
		t.Errorf("service status: %q", out)
	}
	if code := post(t, ingest, "SVC-1"); code != 200 {
		t.Errorf("a sale to the service answered %d", code)
	}
	if out, code := w.run(t, exePath, "status"); code != 0 || !strings.Contains(out, "ACTION NEEDED") || !strings.Contains(out, "1 waiting") {
		t.Errorf("status through admin.listen with the config's token: exit %d\n%s", code, out)
	}
	if out, code := w.run(t, exePath, "doctor"); !strings.Contains(out, `data dir  C:\ProgramData\fluxrelay\data is writable (access: `) {
		t.Errorf("doctor: exit %d\n%s", code, out)
	} else {
		t.Logf("doctor under wine (wine answers its own default access list, not the one service install set; it enforces none):\n%s", out)
	}

	// paramchange, what `sc control fluxrelay paramchange` sends, reloads.
	till2 := func() int {
		resp, err := http.Post("http://"+ingest+"/notify/till2", "application/json", strings.NewReader(`{"transactionRef":"SVC-2","amount":"1.00"}`))
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := till2(); code != http.StatusNotFound {
		t.Fatalf("an unknown source answered %d", code)
	}
	os.WriteFile(w.onC(configPath), []byte(doc+"\n[[source]]\nname = \"till2\"\nprovider = \"core\"\n"), 0o600)
	if out, code := w.run(t, onZ(svccontrol(t)), "fluxrelay", "paramchange"); code != 0 || !strings.Contains(out, "accepts 0xd") {
		t.Fatalf("paramchange: exit %d %s (the service must accept stop, shutdown and paramchange: 0xd)", code, out)
	}
	waitFor(t, "the source added before paramchange", 30*time.Second, func() bool { return till2() == 200 })
	os.WriteFile(w.onC(configPath), []byte(doc), 0o600)
	if out, code := w.run(t, exePath, "reload"); code != 0 || !strings.Contains(out, "every change is applied") {
		t.Errorf("fluxrelay reload: exit %d\n%s", code, out)
	}
	if code := till2(); code != http.StatusNotFound {
		t.Errorf("after fluxrelay reload the removed source answered %d", code)
	}

	if out, code := w.run(t, exePath, "service", "stop"); code != 0 {
		t.Fatalf("service stop: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(w.onC(programData + `\data\clean-stop`)); err != nil {
		t.Errorf("the service's stop was not clean (no clean-stop marker): %v", err)
	}
	if out, code := w.run(t, exePath, "service", "uninstall"); code != 0 || !strings.Contains(out, "the config and the data stay") {
		t.Errorf("service uninstall: exit %d\n%s", code, out)
	}
	if out, code := w.run(t, "reg", "query", serviceKey); code == 0 {
		t.Errorf("the service is still registered:\n%s", out)
	}
	for _, kept := range []string{configPath, programData + `\data\store`} {
		if _, err := os.Stat(w.onC(kept)); err != nil {
			t.Errorf("uninstall took %s: %v", kept, err)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestMSIUnderWine installs the MSI with wine's msiexec, upgrades it with a
// newer one and removes it: the program goes to Program Files, the service
// is registered and started by fluxrelay.exe's own service install, an
// existing config is kept as it is, the upgrade keeps the config and the
// data (a sale stored before it is still there after), and the removal
// unregisters the service and keeps both.
func TestMSIUnderWine(t *testing.T) {
	need(t, "wixl")
	w := needWine(t)
	first, second := msi(t, "0.1.0"), msi(t, "0.1.1")
	installed := `C:\Program Files\fluxrelay\fluxrelay.exe`
	w.clean(t, exe(t, "0.1.0"))
	t.Cleanup(func() {
		w.run(t, "msiexec", "/x", onZ(second), "/qn")
		w.clean(t, exe(t, "0.1.0"))
	})
	example, _ := os.ReadFile("../fluxrelay.example.toml")
	doc, ingest := withPorts(t, string(example))
	doc = strings.Replace(doc, `token = ""`, `token = "msi-admin-token"`, 1) + "\n[[source]]\nname = \"till\"\nprovider = \"core\"\n"
	os.MkdirAll(w.onC(programData), 0o755)
	os.WriteFile(w.onC(configPath), []byte(doc), 0o600)

	msiexec := func(args ...string) {
		t.Helper()
		log := filepath.Join(t.TempDir(), "msiexec.log")
		if out, code := w.run(t, "msiexec", append(args, "/qn", "/l*v", onZ(log))...); code != 0 {
			b, _ := os.ReadFile(log)
			t.Fatalf("msiexec %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, b)
		}
	}
	version := func() string {
		out, _ := w.run(t, installed, "version")
		return out
	}

	msiexec("/i", onZ(first))
	if v := version(); !strings.HasPrefix(v, "fluxrelay 0.1.0 ") {
		t.Fatalf("after installing 0.1.0: %q", v)
	}
	reg, _ := w.run(t, "reg", "query", serviceKey)
	if !strings.Contains(reg, `"`+installed+`" run -c `+configPath) {
		t.Errorf("the service does not run the installed program:\n%s", reg)
	}
	waitFor(t, "the service the MSI started", 2*time.Minute, func() bool { return answers(ingest) })
	if code := post(t, ingest, "MSI-1"); code != 200 {
		t.Fatalf("a sale answered %d", code)
	}

	msiexec("/i", onZ(second))
	if v := version(); !strings.HasPrefix(v, "fluxrelay 0.1.1 ") {
		t.Errorf("after the upgrade: %q", v)
	}
	if got, _ := os.ReadFile(w.onC(configPath)); string(got) != doc {
		t.Errorf("the upgrade changed the config:\n%s", got)
	}
	waitFor(t, "the service after the upgrade", 2*time.Minute, func() bool { return answers(ingest) })
	if out, code := w.run(t, installed, "find", "MSI-1"); code != 0 || !strings.Contains(out, "MSI-1") {
		t.Errorf("the sale stored before the upgrade: exit %d\n%s", code, out)
	}
	products, _ := w.run(t, "reg", "query", `HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall`)
	if n := strings.Count(products, "Uninstall\\{"); n != 1 {
		t.Errorf("%d products installed after the upgrade; want the new one only:\n%s", n, products)
	}

	msiexec("/x", onZ(second))
	if out, code := w.run(t, "reg", "query", serviceKey); code == 0 {
		t.Errorf("the service is still registered after the removal:\n%s", out)
	}
	if _, err := os.Stat(w.onC(installed)); err == nil {
		t.Error("fluxrelay.exe is still in Program Files after the removal")
	}
	if got, _ := os.ReadFile(w.onC(configPath)); string(got) != doc {
		t.Error("the removal changed or took the config")
	}
	for _, kept := range []string{programData + `\data\store`, programData + `\data\clean-stop`} {
		if _, err := os.Stat(w.onC(kept)); err != nil {
			t.Errorf("after the removal %s is gone: %v", kept, err)
		}
	}
}
