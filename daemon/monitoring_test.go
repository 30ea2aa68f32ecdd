package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestMonitoringFiles: the shipped Prometheus rules pass promtool's check
// and their own unit tests, and every fluxrelay metric the rules and the
// Grafana dashboard use is one a running daemon serves (as OpenMetrics when
// asked).
func TestMonitoringFiles(t *testing.T) {
	const dir = "../packaging/monitoring/"
	if promtool, err := exec.LookPath("promtool"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed; .ci/run should have installed it (Debian's prometheus package)")
		}
		t.Log("skipped the promtool checks: promtool is not installed (apt-get install prometheus)")
	} else {
		for _, args := range [][]string{{"check", "rules", "fluxrelay.rules.yml"}, {"test", "rules", "fluxrelay.rules.test.yml"},
			{"check", "rules", "fluxrelay-fleet.rules.yml"}, {"test", "rules", "fluxrelay-fleet.rules.test.yml"}} {
			cmd := exec.Command(promtool, args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}

	e := newEnv(t, nil)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(receiver.Close)
	e.writeConfig(testSecret, fmt.Sprintf("[[remote_write]]\nurl = %q\n", receiver.URL)) // its metrics too
	r := e.start()
	// Some metrics exist from the first delivery on (its counts, the
	// clock skew from Fluxvend's Date header).
	post(t, r.url+"/notify/till", `{"transactionRef":"M-1","amount":1}`)
	waitFor(t, "a delivery", func() bool { return len(e.core.Accepted()) == 1 })
	r.settled(t)
	req, _ := http.NewRequest(http.MethodGet, r.admin+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("/metrics asked for OpenMetrics answered %s", ct)
	}
	served := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^(fluxrelay_[a-z_]+)`).FindAllStringSubmatch(string(body), -1) {
		served[m[1]] = true
	}
	if !served["fluxrelay_build_info"] || !strings.Contains(string(body), `version="e2e"`) {
		t.Errorf("/metrics lacks fluxrelay_build_info with the version")
	}
	var files [][]byte
	for _, name := range []string{"fluxrelay.rules.yml", "fluxrelay.grafana.json", "fluxrelay-fleet.rules.yml", "fluxrelay-fleet.grafana.json"} {
		src, err := os.ReadFile(dir + name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".json") && !json.Valid(src) {
			t.Fatalf("the Grafana dashboard %s is not JSON", name)
		}
		files = append(files, src)
	}
	for _, src := range files {
		for _, name := range regexp.MustCompile(`fluxrelay_[a-z_]+`).FindAllString(string(src), -1) {
			base := strings.TrimSuffix(name, "_bucket")
			if !served[name] && !served[base] && !served[base+"_bucket"] {
				t.Errorf("%s is used by the monitoring files but not served by /metrics", name)
			}
		}
	}
	for name := range served {
		if strings.Contains(name, "_by_") {
			t.Errorf("metric %s carries a label name in its name", name)
		}
	}
}
