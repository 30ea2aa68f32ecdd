package mqttingest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// needTool skips a test when a tool is missing, except under CI=true, where
// .ci/run has installed everything and a missing tool is a failure.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; .ci/run should have installed it", name)
		}
		t.Skipf("skipped: %s is not installed (apt-get install mosquitto mosquitto-clients)", name)
	}
	return path
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// mosquitto is a real broker on a loopback port with persistence on, so
// that it can be restarted without losing sessions. "user root" keeps a
// broker started by root from dropping to a user that cannot write the
// test's folder (it is ignored when not run as root).
type mosquitto struct {
	t    *testing.T
	bin  string
	conf string
	addr string
	cmd  *exec.Cmd
}

func startMosquitto(t *testing.T) *mosquitto {
	t.Helper()
	m := &mosquitto{t: t, bin: needTool(t, "mosquitto"), addr: freeAddr(t)}
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	_, port, _ := net.SplitHostPort(m.addr)
	m.conf = filepath.Join(dir, "mosquitto.conf")
	conf := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nautosave_interval 1\nuser root\nmax_queued_messages 100000\nmax_inflight_messages 100\nlog_dest stderr\n", port, dir)
	if err := os.WriteFile(m.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	m.start()
	t.Cleanup(m.stop)
	return m
}

func (m *mosquitto) start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	logf, _ := os.OpenFile(m.conf+".log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", m.addr); err == nil {
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

// stop ends mosquitto cleanly (it saves its persistence file on SIGTERM).
func (m *mosquitto) stop() {
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

func (m *mosquitto) restart() {
	m.stop()
	m.start()
}

func (m *mosquitto) url() string { return "tcp://" + m.addr }
