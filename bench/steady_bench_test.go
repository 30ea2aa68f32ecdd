package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/relay/relaytest"
)

// steadyEnv reads a duration or rate for BenchmarkSteady from the
// environment (make steady sets them), else the default.
func steadyEnv[T int | time.Duration](name string, def T, parse func(string) (T, error)) T {
	if v := os.Getenv(name); v != "" {
		if x, err := parse(v); err == nil {
			return x
		}
	}
	return def
}

// BenchmarkSteady sends a steady STEADY_RATE notifications a second
// (default 300) for STEADY_FOR (default 30s; make steady runs 10m) to the
// real binary delivering to a fast local core, then gives the relay a
// minute, with no restart, to deliver every notification it acknowledged.
// One left undelivered fails the run: it would wait for a restart.
func BenchmarkSteady(b *testing.B) {
	rate := steadyEnv("STEADY_RATE", 300, func(s string) (int, error) { var n int; _, err := fmt.Sscan(s, &n); return n, err })
	length := steadyEnv("STEADY_FOR", 30*time.Second, time.ParseDuration)

	var mu sync.Mutex
	delivered := map[string]bool{}
	core := &relaytest.Core{APIKey: "K", APISecret: "S", Answer: func(_ int, d relaytest.Delivery) int {
		var p struct{ TransactionRef string }
		json.Unmarshal(d.Body, &p)
		mu.Lock()
		delivered[p.TransactionRef] = true
		mu.Unlock()
		return http.StatusOK
	}}
	srv := httptest.NewServer(core)
	defer srv.Close()
	dir := b.TempDir()
	bin := buildDaemon(b, dir)
	cmd, addr := startDaemon(b, bin, dir, coreConfig(srv.URL))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}

	var acked sync.Map
	var nAcked, refused atomic.Int64
	slots := make(chan struct{}, 64) // requests in flight at most
	var wg sync.WaitGroup
	b.ResetTimer()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	start := time.Now()
	for i := 0; time.Since(start) < length; i++ {
		<-tick.C
		slots <- struct{}{}
		wg.Add(1)
		go func(ref string) {
			defer func() { <-slots; wg.Done() }()
			resp, err := client.Post("http://"+addr+"/notify/till", "application/json", bytes.NewReader(body(ref)))
			if err != nil {
				refused.Add(1)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				acked.Store(ref, true)
				nAcked.Add(1)
			} else {
				refused.Add(1)
			}
		}(fmt.Sprintf("STEADY-%d", i))
	}
	tick.Stop()
	wg.Wait()
	sent := time.Since(start)

	undelivered := func() (n int, example string) {
		mu.Lock()
		defer mu.Unlock()
		acked.Range(func(k, _ any) bool {
			if !delivered[k.(string)] {
				n++
				example = k.(string)
			}
			return true
		})
		return n, example
	}
	left, example := undelivered()
	for deadline := time.Now().Add(time.Minute); left > 0 && time.Now().Before(deadline); left, example = undelivered() {
		time.Sleep(100 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(nAcked.Load())/sent.Seconds(), "acked/s")
	b.ReportMetric(float64(nAcked.Load()), "acked")
	b.ReportMetric(float64(refused.Load()), "refused")
	b.ReportMetric(float64(left), "undelivered")
	b.ReportMetric(cpuSeconds(cmd.Process.Pid)/sent.Seconds(), "daemon_cores")
	if left > 0 {
		b.Fatalf("%d of %d acknowledged notifications were still undelivered a minute after the load ended (e.g. %s): they would wait for a restart", left, nAcked.Load(), example)
	}
}
