// Package mosquittotest runs a real mosquitto broker for tests and
// benchmarks: on a free loopback port, with persistence on, restartable.
package mosquittotest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/loopback"
	"github.com/fluxrelay/fluxrelay/internal/testoutput"
)

// NeedTool returns the path of a tool, or skips the test when it is
// missing (a failure under CI=true, where .ci/run installs it).
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil && runtime.GOOS == "windows" {
		t.Skipf("skipped on Windows: %s.exe is not on PATH (the Windows suites under wine run without mosquitto; Linux runs these tests)", name)
	}
	if err != nil { // root's tools live in /usr/sbin, which a PATH may lack
		if _, serr := os.Stat("/usr/sbin/" + name); serr == nil {
			return "/usr/sbin/" + name
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; .ci/run should have installed it", name)
		}
		t.Skipf("skipped: %s is not installed (apt-get install mosquitto mosquitto-clients)", name)
	}
	return path
}

// mosquitto is a real broker on a loopback port with persistence on, so
// that it can be restarted without losing sessions. "user root" keeps a
// broker started by root from dropping to a user that cannot write the
// test's folder (it is ignored when not run as root).
// Broker is a running mosquitto.
type Broker struct {
	t    testing.TB
	bin  string
	conf string
	Addr string
	cmd  *exec.Cmd
}

// Start runs mosquitto until the test ends.
func Start(t testing.TB) *Broker {
	t.Helper()
	m := &Broker{t: t, bin: NeedTool(t, "mosquitto"), Addr: loopback.FreeAddr(t)}
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	_, port, _ := net.SplitHostPort(m.Addr)
	m.conf = filepath.Join(dir, "mosquitto.conf")
	conf := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nautosave_interval 1\nuser root\nmax_queued_messages 100000\nmax_inflight_messages 100\nlog_dest stderr\n", port, dir)
	if err := os.WriteFile(m.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// Kept after the broker stops (cleanups run last first), with its last words.
	testoutput.Keep(t, "mosquitto", func() string { b, _ := os.ReadFile(m.conf + ".log"); return string(b) })
	m.start()
	t.Cleanup(m.Stop)
	return m
}

func (m *Broker) start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	logf, _ := os.OpenFile(m.conf+".log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	err := m.cmd.Start()
	logf.Close() // mosquitto has its own; an open file cannot be deleted on Windows
	if err != nil {
		m.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", m.Addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(m.conf + ".log")
			m.t.Fatalf("mosquitto did not start:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends mosquitto cleanly (it saves its state on SIGTERM).
func (m *Broker) Stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-done
	}
	m.cmd = nil
}

// Restart stops and starts mosquitto on the same port and state.
func (m *Broker) Restart() {
	m.Stop()
	m.start()
}

// URL is the broker address for paho.
func (m *Broker) URL() string { return "tcp://" + m.Addr }

// Log returns what the broker has logged so far.
func (m *Broker) Log() string {
	b, _ := os.ReadFile(m.conf + ".log")
	return string(b)
}
