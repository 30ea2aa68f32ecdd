package bench

import (
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/relay/relaytest"
)

// peakSampler samples a process's RssAnon until stopped.
type peakSampler struct {
	mu   sync.Mutex
	peak float64
	stop chan struct{}
	done chan struct{}
}

func sample(pid int) *peakSampler {
	s := &peakSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			if v := procStatus(pid, "RssAnon"); v > 0 {
				s.mu.Lock()
				s.peak = max(s.peak, v)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return s
}

func (s *peakSampler) end() float64 {
	close(s.stop)
	<-s.done
	return s.peak
}

func diskUse(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Sys().(*syscall.Stat_t).Blocks * 512
			}
		}
		return nil
	})
	return n
}

// BenchmarkBacklog holds a backlog of FLUXRELAY_BACKLOG notifications
// (default 1,000,000) with the shipped memory limit: peak anonymous memory
// while filling and holding it, the restart time with it, disk per
// notification, and memory while draining it for 30 s.
func BenchmarkBacklog(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("FLUXRELAY_BACKLOG")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	bin := buildDaemon(b, dir)
	cmd, addr := startDaemon(b, bin, dir, "[mqtt]\nmode = \"off\"\n[admin]\nsocket = \"\"\nlisten = \"\"\n")
	s := sample(cmd.Process.Pid)
	fillStart := time.Now()
	fill(b, addr, n, "BACKLOG")
	fillRate := float64(n) / time.Since(fillStart).Seconds()
	time.Sleep(3 * time.Second)
	holdPeak := s.end()
	holdHWM := procStatus(cmd.Process.Pid, "VmHWM")
	stopDaemon(cmd)
	disk := diskUse(filepath.Join(dir, "data"))

	core := &relaytest.Core{APIKey: "K", APISecret: "S"}
	srv := httptest.NewServer(core)
	defer srv.Close()
	b.ResetTimer()
	start := time.Now()
	cmd, _ = startDaemon(b, bin, dir, coreConfig(srv.URL))
	restart := time.Since(start)
	s = sample(cmd.Process.Pid)
	time.Sleep(30 * time.Second)
	drainPeak := s.end()
	drained := core.AcceptedCount()
	b.StopTimer()
	b.ReportMetric(float64(n), "backlog")
	b.ReportMetric(holdPeak, "fill_peak_RssAnon_MB")
	b.ReportMetric(fillRate, "filled/s")
	b.ReportMetric(holdHWM, "fill_peak_RSS_MB")
	b.ReportMetric(restart.Seconds(), "restart_s")
	b.ReportMetric(drainPeak, "drain_peak_RssAnon_MB")
	b.ReportMetric(float64(drained)/30, "drained/s")
	b.ReportMetric(float64(disk)/float64(n), "disk_B_per_notification")
	b.ReportMetric(float64(len(body("BACKLOG-1000000"))), "payload_B")
}
