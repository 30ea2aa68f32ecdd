package bench

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/loopback"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
	"github.com/fluxrelay/fluxrelay/store"
)

// BenchmarkIdle measures how often an idle daemon wakes up and the CPU it
// spends with nothing arriving, over IDLE_FOR (default 60s) after a few
// seconds to settle: the shipped setup (embedded MQTT broker, admin socket,
// a core to deliver to), the same without MQTT, and the store alone (Badger
// with fluxrelay's options, in this process), which is the floor the rest
// stands on. A wakeup is a context switch of any of the process's threads.
func BenchmarkIdle(b *testing.B) {
	idle := steadyEnv("IDLE_FOR", 60*time.Second, time.ParseDuration)
	core := httptest.NewServer(&relaytest.Core{APIKey: "K", APISecret: "S"})
	defer core.Close()
	daemon := func(mqtt string) func(b *testing.B) int {
		return func(b *testing.B) int {
			dir := b.TempDir()
			bin := buildDaemon(b, dir)
			extra := fmt.Sprintf("%s\n[admin]\nsocket = %q\nlisten = \"\"\n[core]\nurl = %q\ntenant_id = \"bench\"\napi_key = \"K\"\napi_secret = \"S\"\n",
				mqtt, filepath.Join(dir, "admin.sock"), core.URL+"/hook")
			cmd, _ := startDaemon(b, bin, dir, extra)
			return cmd.Process.Pid
		}
	}
	for _, c := range []struct {
		name  string
		start func(b *testing.B) int
	}{
		{"shipped", daemon(fmt.Sprintf("[mqtt]\nmode = \"embedded\"\nlisten = %q\n[[mqtt.user]]\nusername = \"till-1\"\npassword = \"bench-pw\"", loopback.FreeAddr(b)))},
		{"no-mqtt", daemon("[mqtt]\nmode = \"off\"")},
		{"store-only", func(b *testing.B) int {
			s, err := store.Open(store.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return os.Getpid()
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			pid := c.start(b)
			time.Sleep(5 * time.Second) // start-up work settles
			sw0, cpu0 := contextSwitches(pid), cpuSeconds(pid)
			b.ResetTimer()
			time.Sleep(idle)
			b.StopTimer()
			sw, cpu := contextSwitches(pid)-sw0, cpuSeconds(pid)-cpu0
			b.ReportMetric(float64(sw)/idle.Seconds(), "wakeups/s")
			b.ReportMetric(100*cpu/idle.Seconds(), "%core")
		})
	}
}

// contextSwitches sums the voluntary and involuntary context switches of
// every thread of pid.
func contextSwitches(pid int) int64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var n int64
	for _, t := range tasks {
		raw, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += x
			} else if v, ok := strings.CutPrefix(line, "nonvoluntary_ctxt_switches:"); ok {
				x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += x
			}
		}
	}
	return n
}
