package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/loopback"
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
	admin := loopback.FreeAddr(b)
	cmd, addr := startDaemon(b, bin, dir, strings.Replace(coreConfig(srv.URL), "listen = \"\"", fmt.Sprintf("listen = %q", admin), 1))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}

	written0 := ioWriteBytes(cmd.Process.Pid)
	commits0, _ := storeCounters(b, admin)
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
	if n := float64(nAcked.Load()); n > 0 {
		// Bytes the daemon sent to the disk, and what its data dir keeps,
		// per notification of about 1 KB taken and delivered.
		b.ReportMetric(float64(ioWriteBytes(cmd.Process.Pid)-written0)/n/1024, "KB_written/notif")
		b.ReportMetric(float64(dirSize(filepath.Join(dir, "data")))/n/1024, "KB_kept/notif")
		commits, _ := storeCounters(b, admin)
		b.ReportMetric(float64(commits-commits0)/n, "commits/notif")
	}
	b.ReportMetric(float64(nAcked.Load())/sent.Seconds(), "acked/s")
	b.ReportMetric(float64(nAcked.Load()), "acked")
	b.ReportMetric(float64(refused.Load()), "refused")
	b.ReportMetric(float64(left), "undelivered")
	b.ReportMetric(cpuSeconds(cmd.Process.Pid)/sent.Seconds(), "daemon_cores")
	if left > 0 {
		b.Fatalf("%d of %d acknowledged notifications were still undelivered a minute after the load ended (e.g. %s): they would wait for a restart", left, nAcked.Load(), example)
	}
}

// ioWriteBytes is what a process has caused to be written to storage
// (write_bytes in /proc/PID/io: page cache writeback it owns, msync and
// fsync included).
func ioWriteBytes(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return -1
}

// dirSize is the disk space the files under dir take (allocated blocks,
// so sparse files count as what they use).
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				if st, ok := info.Sys().(*syscall.Stat_t); ok {
					n += st.Blocks * 512
				}
			}
		}
		return nil
	})
	return n
}
