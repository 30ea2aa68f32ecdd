package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fluxrelay/fluxrelay/internal/loopback"
)

// BenchmarkSlowDisk measures the daemon on a disk as slow as a gateway's
// SD card or eMMC: the daemon and a raw fsync probe run in a cgroup whose
// writes to the data disk are throttled to 100 and to 300 operations a
// second (cgroup v1 blkio.throttle.write_iops_device, v2 io.max). It
// reports ingest with 64 senders as a multiple of the raw fsync rate, the
// acknowledgement latency at a steady 50 a second (also in raw fsync
// times), and the device writes and flushes each store commit costs.
// It needs root and a block device under the temporary directory; it skips
// with the reason otherwise.
func BenchmarkSlowDisk(b *testing.B) {
	for _, iops := range []int{100, 300} {
		b.Run(fmt.Sprintf("iops=%d", iops), func(b *testing.B) { slowDisk(b, iops) })
	}
}

func slowDisk(b *testing.B, iops int) {
	dir := b.TempDir()
	bin := buildDaemon(b, dir)
	cg := throttled(b, dir, iops)

	raw := cg.fsyncRate(b, dir, iops)
	admin := loopback.FreeAddr(b)
	_, addr := startDaemonIn(b, bin, dir, fmt.Sprintf("[mqtt]\nmode = \"off\"\n[admin]\nsocket = \"\"\nlisten = %q\n", admin), cg.procs)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}
	post := func(ref string) (time.Duration, error) {
		start := time.Now()
		resp, err := client.Post("http://"+addr+"/notify/till", "application/json", bytes.NewReader(body(ref)))
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%s", resp.Status)
		}
		return time.Since(start), nil
	}

	// A burst from 64 senders: how far group commit carries past the disk.
	n := max(1000, int(raw*100))
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	inParallel(n, 64, func(i int) {
		if _, err := post(fmt.Sprintf("BURST-%d", i)); err != nil {
			failed.Add(1)
		}
	})
	burst := float64(n) / time.Since(start).Seconds()
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d of %d requests failed", failed.Load(), n)
	}

	// A steady 50 a second, as a busy shop: the latency of each ack, and
	// what each commit costs the device.
	const rate, steadyFor = 50, 20 * time.Second
	commits0, writes0 := storeCounters(b, admin)
	dev0 := cg.deviceStats()
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	for i := 0; i < int(steadyFor.Seconds())*rate; i++ {
		<-tick.C
		wg.Add(1)
		go func(ref string) {
			defer wg.Done()
			d, err := post(ref)
			if err != nil {
				failed.Add(1)
				return
			}
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}(fmt.Sprintf("STEADY-%d", i))
	}
	tick.Stop()
	wg.Wait()
	dev1 := cg.deviceStats()
	commits1, writes1 := storeCounters(b, admin)
	if failed.Load() > 0 {
		b.Fatalf("%d steady requests failed", failed.Load())
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	commits := float64(commits1 - commits0)
	fsyncTime := time.Duration(float64(time.Second) / raw)

	b.ReportMetric(raw, "fsync/s")
	b.ReportMetric(burst, "ingest/s")
	b.ReportMetric(burst/raw, "x_fsync")
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(p50)/float64(fsyncTime), "p50_fsyncs")
	b.ReportMetric(float64(p99)/float64(fsyncTime), "p99_fsyncs")
	b.ReportMetric(float64(writes1-writes0)/commits, "ops/commit")
	b.ReportMetric(float64(dev1.writes-dev0.writes)/commits, "dev_writes/commit")
	b.ReportMetric(float64(dev1.flushes-dev0.flushes)/commits, "dev_flushes/commit")
}

// storeCounters reads the store's commit and write counters from the
// daemon's status.
func storeCounters(b *testing.B, admin string) (commits, writes int64) {
	b.Helper()
	resp, err := http.Get("http://" + admin + "/api/status")
	for deadline := time.Now().Add(10 * time.Second); err != nil && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond) // the admin listener may start after ingest's
		resp, err = http.Get("http://" + admin + "/api/status")
	}
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Commits int64 `json:"store_commits"`
		Writes  int64 `json:"store_writes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		b.Fatal(err)
	}
	return s.Commits, s.Writes
}

// cgroup is a throttled control group and the device it throttles.
type cgroup struct {
	procs    string // the file a process joins it through
	stats    string // the file with its write count
	v2       bool
	dev      string // "major:minor"
	devBlock string // /sys/block/NAME
}

// throttled makes a cgroup whose writes to the disk holding dir are
// limited to iops a second, removed when b ends; it skips b where that
// cannot be done.
func throttled(b *testing.B, dir string, iops int) *cgroup {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("skipped: throttling a disk through a cgroup needs root")
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		b.Fatal(err)
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	sys := "/sys/dev/block/" + dev
	if _, err := os.Stat(sys + "/partition"); err == nil { // throttles apply to whole disks
		sys += "/.."
	}
	whole, err := os.ReadFile(sys + "/dev")
	if err != nil {
		b.Skipf("skipped: %s is not on a block device (%s), so its writes cannot be throttled", dir, dev)
	}
	real, _ := filepath.EvalSymlinks(sys)
	c := &cgroup{dev: strings.TrimSpace(string(whole)), devBlock: "/sys/block/" + filepath.Base(real)}
	name := fmt.Sprintf("fluxrelay-bench-%d", os.Getpid())
	var path, file, rule string
	if _, err := os.Stat("/sys/fs/cgroup/blkio/blkio.throttle.write_iops_device"); err == nil {
		path = filepath.Join("/sys/fs/cgroup/blkio", name)
		file, rule = "blkio.throttle.write_iops_device", fmt.Sprintf("%s %d", c.dev, iops)
		c.stats = filepath.Join(path, "blkio.throttle.io_serviced")
	} else if ctl, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil && slices.Contains(strings.Fields(string(ctl)), "io") {
		os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+io"), 0)
		path = filepath.Join("/sys/fs/cgroup", name)
		file, rule = "io.max", fmt.Sprintf("%s wiops=%d", c.dev, iops)
		c.stats, c.v2 = filepath.Join(path, "io.stat"), true
	} else {
		b.Skip("skipped: neither cgroup v1 blkio nor cgroup v2 io is available to throttle the disk")
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		b.Skipf("skipped: cannot make a cgroup: %v", err)
	}
	b.Cleanup(func() { os.Remove(path) }) // runs after the daemon has stopped
	if err := os.WriteFile(filepath.Join(path, file), []byte(rule), 0); err != nil {
		b.Skipf("skipped: the kernel refused the throttle %q: %v", rule, err)
	}
	c.procs = filepath.Join(path, "cgroup.procs")
	return c
}

// fsyncRate is the raw rate of 1 KB appends each synced (dd with
// oflag=dsync) for a process in the cgroup: the most a store that synced
// every write on its own could do on this disk.
func (c *cgroup) fsyncRate(b *testing.B, dir string, iops int) float64 {
	b.Helper()
	count := max(100, iops) // about three seconds
	cmd := exec.Command("sh", "-c", `echo $$ > "$0" && exec dd if=/dev/zero of="$1" bs=1024 count="$2" oflag=dsync`,
		c.procs, filepath.Join(dir, "fsync.bin"), strconv.Itoa(count))
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("dd: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`copied, ([0-9.]+) s`).FindSubmatch(out)
	if m == nil {
		b.Fatalf("dd said:\n%s", out)
	}
	secs, _ := strconv.ParseFloat(string(m[1]), 64)
	return float64(count) / secs
}

type devStats struct{ writes, flushes int64 }

// deviceStats reads the writes the cgroup sent to the device and the
// device's flushes (the whole device's: the kernel counts flushes per
// device only).
func (c *cgroup) deviceStats() devStats {
	var d devStats
	if raw, err := os.ReadFile(c.stats); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			f := strings.Fields(line)
			switch {
			case !c.v2 && len(f) == 3 && f[0] == c.dev && f[1] == "Write":
				d.writes, _ = strconv.ParseInt(f[2], 10, 64)
			case c.v2 && len(f) > 0 && f[0] == c.dev:
				for _, kv := range f[1:] {
					if v, ok := strings.CutPrefix(kv, "wios="); ok {
						d.writes, _ = strconv.ParseInt(v, 10, 64)
					}
				}
			}
		}
	}
	if raw, err := os.ReadFile(c.devBlock + "/stat"); err == nil {
		if f := strings.Fields(string(raw)); len(f) >= 17 { // the 16th field counts flushes
			d.flushes, _ = strconv.ParseInt(f[15], 10, 64)
		}
	}
	return d
}

// startDaemonIn is startDaemon with the daemon joining a cgroup (through
// its procs file) before it starts, so every thread it makes is in it.
func startDaemonIn(b *testing.B, bin, dir, extra, procs string) (*exec.Cmd, string) {
	b.Helper()
	wrapped := filepath.Join(dir, "in-cgroup")
	script := fmt.Sprintf("#!/bin/sh\necho $$ > %q && exec %q \"$@\"\n", procs, bin)
	if err := os.WriteFile(wrapped, []byte(script), 0o755); err != nil {
		b.Fatal(err)
	}
	return startDaemon(b, wrapped, dir, extra)
}
