package daemon

import (
	"io"
	"net/http"
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
