package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/provider"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
)

const benchConcurrency = 16

// coreConfig points the daemon at a local core.
func coreConfig(url string) string {
	return fmt.Sprintf("[mqtt]\nmode = \"off\"\n[admin]\nsocket = \"\"\nlisten = \"\"\n[core]\nurl = %q\ntenant_id = \"bench\"\napi_key = \"K\"\napi_secret = \"S\"\nconcurrency = %d\nretry_max_wait = \"1s\"\n", url+"/hook", benchConcurrency)
}

func fill(b *testing.B, addr string, n int, tag string) {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var failed atomic.Int64
	inParallel(n, 64, func(i int) {
		resp, err := client.Post("http://"+addr+"/notify/till", "application/json", bytes.NewReader(body(fmt.Sprintf("%s-%d", tag, i))))
		if err != nil || resp.StatusCode != http.StatusOK {
			if failed.Add(1) == 1 {
				b.Errorf("fill: %v %v", resp, err)
			}
		}
		if resp != nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	if failed.Load() > 0 {
		b.Fatalf("fill: %d of %d refused", failed.Load(), n)
	}
}

func stopDaemon(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

// bareClientRate is the baseline for the drain: a bare Go HTTP client
// posting n bodies like the relay's (the core payloads of body(…), rendered
// and signed the same way) to url at the same concurrency.
func bareClientRate(url string, n int) float64 {
	bodies := make([][]byte, n)
	core := &provider.Core{Tenant: "bench"}
	for i := range n {
		parsed, err := core.Parse(&provider.Request{Body: body(fmt.Sprintf("BARE-%d", i)), Received: time.Now()})
		if err != nil {
			panic(err) // body() is a valid core notification
		}
		bodies[i] = parsed.Payload.Render()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchConcurrency}}
	start := time.Now()
	inParallel(n, benchConcurrency, func(i int) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[i]))
		req.Header.Set("Signature", notification.Sign("S", bodies[i]))
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkDrain measures how fast the relay drains a backlog to a local
// core, against a bare Go HTTP client posting the same signed bodies at the
// same concurrency to the same core, in the same run.
func BenchmarkDrain(b *testing.B) {
	n := b.N
	core := &relaytest.Core{APIKey: "K", APISecret: "S"}
	srv := httptest.NewServer(core)
	defer srv.Close()

	bare := bareClientRate(srv.URL+"/hook", n)

	// fluxrelay: fill the queue with the core not configured, then point it
	// at the core and time the drain.
	dir := b.TempDir()
	bin := buildDaemon(b, dir)
	cmd, addr := startDaemon(b, bin, dir, "[mqtt]\nmode = \"off\"\n[admin]\nsocket = \"\"\nlisten = \"\"\n")
	fill(b, addr, n, "DRAIN")
	stopDaemon(cmd)
	before := core.AcceptedCount()
	b.ResetTimer()
	start := time.Now()
	daemon, _ := startDaemon(b, bin, dir, coreConfig(srv.URL))
	for deadline := time.Now().Add(10 * time.Minute); core.AcceptedCount()-before < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("drained %d of %d", core.AcceptedCount()-before, n)
		}
	}
	end := time.Now()
	b.ReportMetric(cpuSeconds(daemon.Process.Pid)/end.Sub(start).Seconds(), "daemon_cores")
	rate := float64(n) / end.Sub(start).Seconds()
	b.StopTimer()
	// The same without the daemon's start (process, store open): from the
	// first delivery's arrival to the last's.
	first := core.Received()[before].At
	b.ReportMetric(float64(n)/end.Sub(first).Seconds(), "drained_after_start/s")
	b.ReportMetric(first.Sub(start).Seconds(), "start_s")
	b.ReportMetric(rate, "drained/s")
	b.ReportMetric(bare, "bare_client/s")
	b.ReportMetric(rate/bare, "x_bare_client")
}

// BenchmarkLatency sends a steady 100 notifications a second and measures
// the time from each request to its arrival at the core.
func BenchmarkLatency(b *testing.B) {
	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	var lat []time.Duration
	core := &relaytest.Core{APIKey: "K", APISecret: "S", Answer: func(_ int, d relaytest.Delivery) int {
		var p struct{ TransactionRef string }
		json.Unmarshal(d.Body, &p)
		mu.Lock()
		if t, ok := sentAt[p.TransactionRef]; ok {
			lat = append(lat, time.Since(t))
		}
		mu.Unlock()
		return 200
	}}
	srv := httptest.NewServer(core)
	defer srv.Close()
	dir := b.TempDir()
	bin := buildDaemon(b, dir)
	_, addr := startDaemon(b, bin, dir, coreConfig(srv.URL))
	n := 1000 // 10 s at 100/s, whatever -benchtime says
	b.ResetTimer()
	tick := time.NewTicker(10 * time.Millisecond) // 100/s
	defer tick.Stop()
	for i := range n {
		<-tick.C
		ref := fmt.Sprintf("LAT-%d", i)
		mu.Lock()
		sentAt[ref] = time.Now()
		mu.Unlock()
		go func() {
			resp, err := http.Post("http://"+addr+"/notify/till", "application/json", bytes.NewReader(body(ref)))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		got := len(lat)
		mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			break
		}
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) < n {
		b.Fatalf("%d of %d delivered", len(lat), n)
	}
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}
