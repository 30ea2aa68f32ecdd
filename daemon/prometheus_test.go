package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/loopback"
	"github.com/fluxrelay/fluxrelay/internal/testoutput"
)

// prometheus is a real Prometheus (Debian's package) taking remote writes
// on a loopback port, with its storage in a temporary folder; it can be
// stopped and started again on the same port and storage.
type prometheus struct {
	t    *testing.T
	bin  string
	dir  string
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// startPrometheus runs Prometheus until the test ends. Without it the test
// is skipped, or fails under CI=true, where .ci/run installs it.
func startPrometheus(t *testing.T) *prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("prometheus is not installed; .ci/run should have installed it (Debian's prometheus package)")
		}
		t.Skip("skipped: prometheus is not installed (apt-get install prometheus)")
	}
	p := &prometheus{t: t, bin: bin, dir: t.TempDir(), Addr: loopback.FreeAddr(t)}
	if err := os.WriteFile(filepath.Join(p.dir, "prometheus.yml"), []byte("global:\n  scrape_interval: 1h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testoutput.Keep(t, "prometheus", func() string { b, _ := os.ReadFile(filepath.Join(p.dir, "log")); return string(b) })
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// Start runs Prometheus and waits until it is ready.
func (p *prometheus) Start() {
	p.t.Helper()
	log, err := os.OpenFile(filepath.Join(p.dir, "log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd = exec.Command(p.bin, "--config.file="+filepath.Join(p.dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(p.dir, "data"), "--web.listen-address="+p.Addr,
		"--web.enable-remote-write-receiver", "--log.level=warn")
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); log.Close(); close(p.done) }()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://" + p.Addr + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.done:
			p.t.Fatalf("prometheus exited at start (see its log)")
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatal("prometheus was not ready within 60s")
		}
	}
}

// Stop stops Prometheus (SIGTERM, then SIGKILL after 30 s).
func (p *prometheus) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// WriteURL is where remote writes go.
func (p *prometheus) WriteURL() string { return "http://" + p.Addr + "/api/v1/write" }

// sample is one value of a series at a time, as the query API gives it.
type sample struct {
	At    time.Time
	Value float64
}

// series is one series of a query's answer.
type series struct {
	Labels map[string]string
	Value  float64
}

// Query evaluates an instant query now.
func (p *prometheus) Query(q string) []series {
	p.t.Helper()
	var res []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	p.api(q, "vector", &res)
	var out []series
	for _, r := range res {
		out = append(out, series{Labels: r.Metric, Value: number(p.t, r.Value[1])})
	}
	return out
}

// Value evaluates a query that selects at most one series: its value, and
// whether there is one.
func (p *prometheus) Value(q string) (float64, bool) {
	p.t.Helper()
	res := p.Query(q)
	if len(res) > 1 {
		p.t.Fatalf("%s selects %d series; want one", q, len(res))
	}
	if len(res) == 0 {
		return 0, false
	}
	return res[0].Value, true
}

// Samples returns the raw samples of the one series q (a selector) selects
// over the last window.
func (p *prometheus) Samples(q string, window time.Duration) []sample {
	p.t.Helper()
	var res []struct {
		Values [][2]any `json:"values"`
	}
	p.api(fmt.Sprintf("%s[%ds]", q, int(window.Seconds())), "matrix", &res)
	if len(res) > 1 {
		p.t.Fatalf("%s selects %d series; want one", q, len(res))
	}
	var out []sample
	for _, r := range res {
		for _, v := range r.Values {
			ts, _ := v[0].(float64)
			out = append(out, sample{At: time.UnixMilli(int64(ts * 1000)), Value: number(p.t, v[1])})
		}
	}
	return out
}

func (p *prometheus) api(q, want string, result any) {
	p.t.Helper()
	resp, err := http.Get("http://" + p.Addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" || body.Data.ResultType != want {
		p.t.Fatalf("query %s: %v %s %s (want a %s)", q, err, body.Status, body.Error, want)
	}
	if err := json.Unmarshal(body.Data.Result, result); err != nil {
		p.t.Fatal(err)
	}
}

func number(t *testing.T, v any) float64 {
	s, _ := v.(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("the query API gave the value %v", v)
	}
	return f
}
