package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/loopback"
)

// buildDaemon builds the real binary, as it ships.
func buildDaemon(b *testing.B, dir string) string {
	b.Helper()
	bin := filepath.Join(dir, "fluxrelay")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/fluxrelay")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startDaemon runs the binary on a config with no core.url, so that it
// stores what it receives and delivers nothing: the ingest path alone.
func startDaemon(b *testing.B, bin, dir, extra string) (*exec.Cmd, string) {
	b.Helper()
	addr := loopback.FreeAddr(b)
	cfg := filepath.Join(dir, "fluxrelay.toml")
	doc := fmt.Sprintf(`version = 1
data_dir = "data"
gateway = "bench"
[store]
max_disk = "8GiB"
[http]
listen = %q
[log]
level = "warn"
[[source]]
name = "till"
provider = "core"
allow = ["127.0.0.0/8"]
%s`, addr, extra)
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "-c", cfg)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return cmd, addr
		}
		if time.Now().After(deadline) {
			b.Fatal("the daemon did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procStatus reads a field in kB from /proc/PID/status.
func procStatus(pid int, field string) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return -1
}

// cpuSeconds is the user and system CPU time a process has used.
func cpuSeconds(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// the fields after the command name, which is in parentheses
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// fsyncRate appends 1 KB records to a file in dir with an fsync after
// each, for d, and returns the rate: the most a store that syncs every
// write on its own could do on this disk.
func fsyncRate(b *testing.B, dir string, d time.Duration) float64 {
	f, err := os.Create(filepath.Join(dir, "fsync.bin"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rec := bytes.Repeat([]byte("x"), 1024)
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		if _, err := f.Write(rec); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}

// inParallel calls fn with each of 0 … n-1 from workers goroutines, and
// returns when all are done.
func inParallel(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// body is a core notification of about 1 KB. Its note is 600 hex digits
// that differ from one notification to the next, so that it compresses
// no better than real payloads' references, names and ids do (about half).
func body(ref string) []byte {
	var note strings.Builder
	for sum := sha256.Sum256([]byte(ref)); note.Len() < 600; sum = sha256.Sum256(sum[:]) {
		note.WriteString(hex.EncodeToString(sum[:]))
	}
	return []byte(fmt.Sprintf(`{"transactionRef":%q,"paymentRef":%q,"amount":"15750.50","paymentMethod":"ACCOUNT_TRANSFER","customer":{"id":"FXV-TILL-0001","name":"Demo Shop Till 1","email":"till-1@demo-shop.example.com","phone":"+2348000000000"},"accountNumber":"0000000001","bankCode":"000013","bankName":"Example Bank","accountName":"AMAKA EXAMPLE","note":%q}`,
		ref, ref, note.String()[:600]))
}

// BenchmarkIngest measures durable HTTP ingest (each 200 means fsync'd)
// with 64 concurrent senders against the raw append+fsync rate of the
// same disk, and the daemon's memory idle and under that load.
func BenchmarkIngest(b *testing.B) {
	dir := b.TempDir()
	bin := buildDaemon(b, dir)
	raw := fsyncRate(b, dir, 3*time.Second)
	cmd, addr := startDaemon(b, bin, dir, "[mqtt]\nmode = \"off\"\n[admin]\nsocket = \"\"\nlisten = \"\"\n")
	time.Sleep(3 * time.Second)
	idleAnon := procStatus(cmd.Process.Pid, "RssAnon")

	const senders = 64
	tr := &http.Transport{MaxIdleConnsPerHost: senders}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var failed atomic.Int64
	cpuBefore := cpuSeconds(cmd.Process.Pid)
	b.ResetTimer()
	start := time.Now()
	inParallel(b.N, senders, func(i int) {
		resp, err := client.Post("http://"+addr+"/notify/till", "application/json", bytes.NewReader(body(fmt.Sprintf("B-%d", i))))
		if err != nil || resp.StatusCode != http.StatusOK {
			failed.Add(1)
		}
		if resp != nil {
			io.Copy(io.Discard, resp.Body) // so the connection is reused
			resp.Body.Close()
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cpuSeconds(cmd.Process.Pid) - cpuBefore
	if failed.Load() > 0 {
		b.Fatalf("%d of %d requests failed", failed.Load(), b.N)
	}
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "ingest/s")
	b.ReportMetric(raw, "fsync/s")
	b.ReportMetric(rate/raw, "x_fsync")
	b.ReportMetric(cpu/elapsed.Seconds(), "daemon_cores")
	b.ReportMetric(idleAnon, "idle_RssAnon_MB")
	b.ReportMetric(procStatus(cmd.Process.Pid, "RssAnon"), "after_RssAnon_MB")
	b.ReportMetric(procStatus(cmd.Process.Pid, "VmHWM"), "peak_RSS_MB")
}
