package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/testoutput"
	"github.com/fluxrelay/fluxrelay/notification"
)

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	testoutput.Append("cmd", fmt.Sprintf("$ fluxrelay %s\n%s%s", strings.Join(args, " "), out.String(), errb.String()))
	return code, out.String(), errb.String()
}

func TestCheckConfig(t *testing.T) {
	code, out, _ := runCmd("check-config", "-c", "../../packaging/fluxrelay.example.toml")
	if code != 0 || !strings.Contains(out, "fluxrelay.example.toml: valid") {
		t.Errorf("the shipped example: exit %d\n%s", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("version = 1\n[core]\nurl = \"https://x.example/hook\"\napi_secret = \"SUPER_SECRET_1\"\ntimeout = 5\n"), 0o600)
	code, out, _ = runCmd("check-config", "-c", bad)
	if code != 2 {
		t.Errorf("invalid config: exit %d; want 2", code)
	}
	for _, want := range []string{"bad.toml:2:1: core.api_key: missing", "bad.toml:5:1: core.timeout: got an integer, want a string", "not valid; nothing was changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "SUPER_SECRET_1") {
		t.Error("check-config printed a secret")
	}
	t.Setenv("FLUXRELAY_CONFIG", filepath.Join(t.TempDir(), "absent.toml"))
	if code, out, _ = runCmd("check-config"); code != 2 || !strings.Contains(out, "config file not found") {
		t.Errorf("missing file via $FLUXRELAY_CONFIG: exit %d %q", code, out)
	}
}

func TestUsageAndVersion(t *testing.T) {
	if code, _, errOut := runCmd("frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d %q", code, errOut)
	}
	if code, _, _ := runCmd(); code != 2 {
		t.Errorf("no command: exit %d; want 2", code)
	}
	if code, out, _ := runCmd("version"); code != 0 || !strings.HasPrefix(out, "fluxrelay dev (commit ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: %d %q", code, out)
	}
}

// syncBuf is written by mock-core's goroutines and read by the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestMockCore runs the command on a free port with its secret in a file
// and checks it verifies signatures as Fluxvend would.
func TestMockCore(t *testing.T) {
	if code, _, errOut := runCmd("mock-core", "--api-key", "K"); code != 2 || !strings.Contains(errOut, "FLUXRELAY_MOCK_SECRET") {
		t.Errorf("no secret: exit %d %q", code, errOut)
	}
	if code, _, errOut := runCmd("mock-core", "-c", "/etc/fluxrelay/fluxrelay.toml", "--api-key", "K"); code != 2 || !strings.Contains(errOut, "FLUXRELAY_MOCK_SECRET") {
		t.Errorf("mock-core -c: %d %q; -c is accepted and the missing secret is the problem", code, errOut)
	}
	if code, _, _ := runCmd("mock-core", "--api-key", "K", "--api-secret", "S"); code != 2 {
		t.Error("mock-core accepted a secret on the command line")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	secretFile := filepath.Join(t.TempDir(), "s")
	os.WriteFile(secretFile, []byte("MOCK_SECRET\n"), 0o600)
	out := &syncBuf{}
	done := make(chan int)
	stop, cancelCore := context.WithCancel(context.Background())
	go func() {
		done <- run(stop, []string{"mock-core", "--listen", addr, "--api-key", "K", "--api-secret-file", secretFile, "--signature-key", "key:secret"}, out, out)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body := []byte(`{"transactionRef":"M1","amount":1.00}`)
	send := func(sig string) int {
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/", bytes.NewReader(body))
			req.Header.Set("Signature", sig)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				return resp.StatusCode
			}
			time.Sleep(20 * time.Millisecond)
		}
		return 0
	}
	if code := send(notification.Sign("K:MOCK_SECRET", body)); code != 200 {
		t.Errorf("valid signature: %d", code)
	}
	if code := send(notification.Sign("MOCK_SECRET", body)); code != 401 {
		t.Errorf("signature with the other key mode: %d; want 401", code)
	}
	if !strings.Contains(out.String(), "signature=valid") || !strings.Contains(out.String(), "signature=INVALID") {
		t.Errorf("mock-core output:\n%s", out.String())
	}
	cancelCore() // as Ctrl-C would
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("mock-core exited %d after Ctrl-C; want 0", code)
		}
	case <-time.After(5 * time.Second):
		t.Error("mock-core did not stop")
	}
}

// TestCLIHabits: what a technician used to promtool, vector or mosquitto
// tries first works.
func TestCLIHabits(t *testing.T) {
	t.Setenv("FLUXRELAY_CONFIG", filepath.Join(t.TempDir(), "absent.toml"))
	// check-config FILE
	if code, out, _ := runCmd("check-config", "../../packaging/fluxrelay.example.toml"); code != 0 || !strings.Contains(out, "fluxrelay.example.toml: valid") {
		t.Errorf("check-config FILE: exit %d %q", code, out)
	}
	// -h and --help on every command: the usage with its flags, exit 0
	for cmd := range synopsis {
		for _, h := range []string{"-h", "--help"} {
			code, out, errOut := runCmd(cmd, h)
			if code != 0 || !strings.HasPrefix(out, "usage: fluxrelay "+cmd) || !strings.Contains(out, "flags:") || errOut != "" {
				t.Errorf("%s %s: exit %d\n%s%s", cmd, h, code, out, errOut)
			}
		}
	}
	if code, out, _ := runCmd("help", "status"); code != 0 || !strings.HasPrefix(out, "usage: fluxrelay status") {
		t.Errorf("help status: exit %d %q", code, out)
	}
	// a port out of range is found by check-config, not by run retrying forever
	bad := filepath.Join(t.TempDir(), "port.toml")
	os.WriteFile(bad, []byte("version = 1\ndata_dir = \"d\"\n[http]\nlisten = \"127.0.0.1:80888\"\n"), 0o600)
	if code, out, _ := runCmd("check-config", bad); code != 2 || !strings.Contains(out, "the port must be a number from 1 to 65535") {
		t.Errorf("port 80888: exit %d %q", code, out)
	}
	// status on a config it cannot read says so, not "not running"
	for path, want := range map[string]string{
		filepath.Join(t.TempDir(), "mistyped.toml"): "config file not found",
		bad: "port.toml is not valid (fluxrelay check-config",
	} {
		code, _, errOut := runCmd("status", "-c", path)
		if code != 1 || !strings.Contains(errOut, want) || strings.Contains(errOut, "not running") {
			t.Errorf("status -c %s: exit %d %q; want %q", filepath.Base(path), code, errOut, want)
		}
	}
	// flags after the arguments
	if code, _, errOut := runCmd(append([]string{"find", "REF-1"}, nowhere(t)...)...); code != 1 || !strings.Contains(errOut, "not running") {
		t.Errorf("find REF --socket: exit %d %q", code, errOut)
	}
}

// TestRealBinary drives the built binary as a technician's shell would: the
// exit codes and streams are the process's own.
func TestRealBinary(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("skipped on Windows: it builds with the go tool, which the Windows suites (wine) do not have; packaging/windows drives the built fluxrelay.exe")
	}
	bin := filepath.Join(t.TempDir(), "fluxrelay")
	if out, err := exec.Command("go", "build", "-tags", "release", "-o", bin, ".").CombinedOutput(); err != nil { // the shipped build
		t.Fatalf("build: %v\n%s", err, out)
	}
	sh := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Env = append(os.Environ(), "FLUXRELAY_CONFIG="+filepath.Join(t.TempDir(), "absent.toml"))
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return code, out.String(), errb.String()
	}
	if code, out, _ := sh("run", "-h"); code != 0 || !strings.HasPrefix(out, "usage: fluxrelay run") {
		t.Errorf("run -h: exit %d %q", code, out)
	}
	if code, out, _ := sh("check-config", "../../packaging/fluxrelay.example.toml"); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("check-config FILE: exit %d %q", code, out)
	}
	sock := filepath.Join(t.TempDir(), "none.sock")
	if code, _, errOut := sh("dlq", "show", "abc", "--socket", sock); code != 1 || !strings.Contains(errOut, "not running") {
		t.Errorf("dlq show ID --socket S: exit %d %q", code, errOut)
	}
	if code, _, errOut := sh("dlq", "drop", "abc", "--socket", sock); code != 2 || !strings.Contains(errOut, "add --yes") {
		t.Errorf("dlq drop with no terminal: exit %d %q", code, errOut)
	}
}
