package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAdminEndpoints checks the admin API with a token, the metrics, and
// that admin.page_listen serves only the page and /healthz.
func TestAdminEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	cfg := strings.Replace(readFile(t, e.cfgPath), "[admin]\nsocket = \"\"\nlisten = \"127.0.0.1:0\"",
		"[admin]\nsocket = \"\"\nlisten = \"127.0.0.1:0\"\ntoken = \"ADMIN_TOKEN_9\"\npage_listen = \"127.0.0.1:0\"", 1)
	writeFile(t, e.cfgPath, cfg)
	r := e.start()
	post(t, r.url+"/notify/till", `{"transactionRef":"A-1","amount":10}`)
	waitFor(t, "a delivery", func() bool { return len(e.core.Accepted()) == 1 })

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 401, "/api/status": 401, "/metrics": 401, "/api/dead-letters": 401, "/": 401} {
		if code, _ := get(t, r.admin+path, ""); code != want {
			t.Errorf("%s without the token: %d; want %d", path, code, want)
		}
	}
	if code, _ := get(t, r.admin+"/api/status", "wrong"); code != 401 {
		t.Errorf("a wrong token: %d", code)
	}
	code, body := get(t, r.admin+"/metrics", "ADMIN_TOKEN_9")
	for _, want := range []string{`fluxrelay_ingested_total{result="queued",source="till"} 1`, "fluxrelay_queue_depth 0", `fluxrelay_deliveries_total{result="delivered"} 1`,
		"fluxrelay_delivery_latency_seconds_count 1", "fluxrelay_core_reachable 1", "fluxrelay_config_last_reload_successful 1", `fluxrelay_state{state="ok"} 1`, "fluxrelay_disk_free_bytes", "fluxrelay_clock_skew_seconds"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, body := get(t, r.admin+"/readyz", "ADMIN_TOKEN_9"); code != 200 || !strings.Contains(body, `"ready": true`) {
		t.Errorf("/readyz: %d %s", code, body)
	}

	page := "http://" + r.d.Addr("page", 10*time.Second)
	if code, body := get(t, page+"/", ""); code != 200 || !strings.Contains(body, `id="state">OK<`) || strings.Contains(body, "A-1") {
		t.Errorf("page_listen /: %d; it must show the state and no customer data:\n%s", code, body)
	}
	for _, path := range []string{"/api/status", "/metrics", "/api/dead-letters", "/readyz"} {
		if code, _ := get(t, page+path, ""); code != 404 && code != 405 {
			t.Errorf("page_listen serves %s (%d); it must serve only / and /healthz", path, code)
		}
	}
}

// TestStatusPageInBrowser renders the status page in headless Chromium in
// its three states and keeps the screenshots in the test's folder.
func TestStatusPageInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed; .ci/run should have installed it")
		}
		t.Skip("skipped: chromium is not installed (apt-get install chromium)")
	}
	core := switchable(http.StatusOK)
	e := newEnv(t, core.answer)
	r := e.start()
	shots := t.TempDir()
	if dir := os.Getenv("FLUXRELAY_SCREENSHOTS"); dir != "" { // keep them to look at
		shots = dir
	}
	shoot := func(name string) string {
		t.Helper()
		out := filepath.Join(shots, name+".png")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
			"--window-size=412,860", "--screenshot="+out, "--dump-dom", r.admin+"/")
		dom, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium: %v", err)
		}
		if fi, err := os.Stat(out); err != nil || fi.Size() < 2000 {
			t.Fatalf("no screenshot at %s", out)
		}
		return string(dom)
	}
	post(t, r.url+"/notify/till", `{"transactionRef":"P-1","amount":10}`)
	waitFor(t, "a delivery", func() bool { return len(e.core.Accepted()) == 1 })
	if dom := shoot("ok"); !strings.Contains(dom, `class="state ok" id="state">OK<`) || strings.Contains(dom, `id="todo"`) {
		t.Errorf("OK page:\n%s", dom)
	}

	core.set(http.StatusServiceUnavailable) // Fluxvend down: payments wait
	for i := range 3 {
		post(t, r.url+"/notify/till", fmt.Sprintf(`{"transactionRef":"P-D%d","amount":10}`, i))
	}
	waitFor(t, "an outage", func() bool { return r.status(t).State == StateDelayed })
	if dom := shoot("delayed"); !strings.Contains(dom, ">DELAYED<") || !strings.Contains(dom, "What to do") || !strings.Contains(dom, `id="waiting">3<`) {
		t.Errorf("DELAYED page:\n%s", dom)
	}

	core.set(http.StatusForbidden) // the gateway's IP is no longer whitelisted
	post(t, r.url+"/notify/till", `{"transactionRef":"P-F","amount":10}`)
	waitFor(t, "the pause", func() bool { return r.status(t).State == StateActionNeeded })
	dom := shoot("action_needed")
	if !strings.Contains(dom, ">ACTION NEEDED<") || !strings.Contains(dom, "not whitelisted") {
		t.Errorf("ACTION NEEDED page:\n%s", dom)
	}
	t.Logf("screenshots in %s", shots)
}
