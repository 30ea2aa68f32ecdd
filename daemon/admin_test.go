package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
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

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
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
	// The core has it before its outcome is written: wait for that.
	var code int
	var body string
	waitFor(t, "the outcome written", func() bool {
		code, body = get(t, r.admin+"/metrics", "ADMIN_TOKEN_9")
		return strings.Contains(body, "fluxrelay_queue_depth 0")
	})
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
	var refused atomic.Bool
	e := newEnv(t, func(n int, d relaytest.Delivery) int {
		if refused.Load() && strings.Contains(string(d.Body), `"P-R"`) {
			return http.StatusUnprocessableEntity
		}
		return core.answer(n, d)
	})
	writeFile(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), `data_dir = "data"`, "data_dir = \"data\"\ntimezone = \"Africa/Lagos\"", 1))
	r := e.start()
	shots := t.TempDir()
	if dir := os.Getenv("FLUXRELAY_SCREENSHOTS"); dir != "" { // keep them to look at
		shots = dir
	}
	// The page as a browser sees it, with a script of the test's own that
	// records whether it is wider than the window.
	measured := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		resp, err := http.Get(r.admin + "/")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		const measure = `<script>document.documentElement.setAttribute("data-fit", document.documentElement.scrollWidth <= window.innerWidth ? "yes" : "no: " + document.documentElement.scrollWidth + " > " + window.innerWidth)</script>`
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(bytes.Replace(page, []byte("</body>"), []byte(measure+"</body>"), 1))
	}))
	defer measured.Close()
	shoot := func(name string, width int) string {
		t.Helper()
		out := filepath.Join(shots, fmt.Sprintf("%s-%d.png", name, width))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
			fmt.Sprintf("--window-size=%d,900", width), "--hide-scrollbars", "--screenshot="+out, "--dump-dom", measured.URL+"/")
		dom, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium: %v", err)
		}
		if fi, err := os.Stat(out); err != nil || fi.Size() < 2000 {
			t.Fatalf("no screenshot at %s", out)
		}
		return string(dom)
	}
	configKey := regexp.MustCompile(`\b[a-z]+\.[a-z_]+\b|[a-z]+_[a-z_]+\b`)
	address := regexp.MustCompile(`https?://|\b\d{1,3}(\.\d{1,3}){3}\b|\[[0-9a-f:]+\]`)
	visible := func(dom string) string {
		body := dom[strings.Index(dom, "<main>"):strings.Index(dom, "</main>")]
		return regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, " ")
	}
	check := func(state, word string, says ...string) {
		t.Helper()
		for _, width := range []int{390, 1280} {
			dom := shoot(state, width)
			if !strings.Contains(dom, `data-fit="yes"`) {
				t.Errorf("%s at %d px overflows the window: %s", state, width, regexp.MustCompile(`data-fit="[^"]*"`).FindString(dom))
			}
			text := visible(dom)
			if !strings.Contains(dom, `id="state">`+word+`<`) {
				t.Errorf("%s at %d px does not say %s:\n%s", state, width, word, text)
			}
			for _, s := range says {
				if !strings.Contains(text, s) {
					t.Errorf("%s at %d px does not say %q:\n%s", state, width, s, text)
				}
			}
			if k := configKey.FindString(text); k != "" {
				t.Errorf("%s at %d px shows staff %q, a config key or error text", state, width, k)
			}
			if a := address.FindString(text); a != "" {
				t.Errorf("%s at %d px shows staff %q, a URL or an address", state, width, a)
			}
			if !strings.Contains(text, "WAT") {
				t.Errorf("%s at %d px does not give the time in the shop's zone (WAT)", state, width)
			}
		}
	}

	post(t, r.url+"/notify/till", `{"transactionRef":"P-1","amount":10}`)
	waitFor(t, "a delivery", func() bool { return len(e.core.Accepted()) == 1 })
	check("ok", "OK", "All payments are reaching Fluxvend.")

	refused.Store(true) // Fluxvend refuses one payment (422), takes the others
	post(t, r.url+"/notify/till", `{"transactionRef":"P-R","amount":10}`)
	waitFor(t, "a dead letter", func() bool { return r.status(t).DeadLetters == 1 })
	check("dead_letter", "ACTION NEEDED", "1 payment could not be sent to Fluxvend. Call your technician.", "2 · ₦20.00", "1 · ₦10.00")
	if resp := r.change(t, http.MethodDelete, "/api/dead-letters/"+notification.NewID("till", "core", "acme", "P-R")); resp.StatusCode != 200 {
		t.Fatalf("dropping the dead letter: %v", resp.Status)
	}

	core.set(http.StatusServiceUnavailable) // Fluxvend down: payments wait
	for i := range 3 {
		post(t, r.url+"/notify/till", fmt.Sprintf(`{"transactionRef":"P-D%d","amount":10}`, i))
	}
	waitFor(t, "an outage", func() bool { return r.status(t).State == StateDelayed })
	check("delayed", "DELAYED", "Fluxvend cannot be reached right now.", "kept safely")

	core.set(http.StatusForbidden) // the gateway's IP is no longer whitelisted
	waitFor(t, "the pause", func() bool { st := r.status(t); return len(st.Targets) > 0 && st.Targets[0].Mode == "paused" })
	check("paused", "ACTION NEEDED", "cannot be sent to Fluxvend. Call your technician.")

	// The technician's detail is on /details, on the admin listener only.
	if code, body := get(t, r.admin+"/details", ""); code != 200 || !strings.Contains(body, "not whitelisted") || !strings.Contains(body, "http.listen") {
		t.Errorf("/details: %d, without the technician's reasons", code)
	}
	t.Logf("screenshots in %s", shots)
}
