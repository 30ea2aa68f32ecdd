package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/config"
	"github.com/fluxrelay/fluxrelay/internal/loopback"
	"github.com/fluxrelay/fluxrelay/internal/mqttwire"
	"github.com/fluxrelay/fluxrelay/internal/testoutput"
	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
)

// childEnv, when set, makes the test binary run a daemon on that config
// instead of the tests: the crash test kills it with SIGKILL.
const childEnv = "FLUXRELAY_TEST_DAEMON_CONFIG"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runChild(path))
	}
	os.Exit(m.Run())
}

func runChild(path string) int {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// Everything it can say, for the suite's secrets scan.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := New(cfg, Options{Version: "crash", Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := d.Run(ctx, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestCrashLosesNothing kills a daemon with SIGKILL at random moments, 20
// times, under mixed load (HTTP senders and MQTT terminals), and checks
// that every notification it acknowledged (a 200, or a PUBACK) is delivered
// after the restart, repeats only as at-least-once allows.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	core := &relaytest.Core{APIKey: testKey, APISecret: testSecret}
	coreSrv := httptest.NewServer(core)
	defer coreSrv.Close()
	dir := t.TempDir()
	addr, mqttAddr := loopback.FreeAddr(t), loopback.FreeAddr(t)
	cfgPath := filepath.Join(dir, "fluxrelay.toml")
	doc := fmt.Sprintf(`version = 1
data_dir = "data"
[core]
url = "%s/hook"
tenant_id = "acme"
api_key = "%s"
api_secret = "%s"
retry_max_wait = "1s"
concurrency = 16
[http]
listen = "%s"
[mqtt]
mode = "embedded"
listen = "%s"
[[mqtt.user]]
username = "till"
password = "till-pw"
[admin]
socket = ""
listen = ""
[[source]]
name = "till"
provider = "core"
`, coreSrv.URL, testKey, testSecret, addr, mqttAddr)
	if err := os.WriteFile(cfgPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "child.log")
	// Kept after the last daemon is stopped (cleanups run last first).
	testoutput.Keep(t, "daemons", func() string { b, _ := os.ReadFile(logPath); return string(b) })
	logf, _ := os.Create(logPath)
	defer logf.Close()
	startChild := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+cfgPath)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		deadline := time.Now().Add(20 * time.Second)
		for {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatalf("the daemon did not start; its log is in %s", logf.Name())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	var mu sync.Mutex
	acked := map[string]string{} // transactionRef → id
	client := &http.Client{Timeout: 5 * time.Second}
	const senders, terminals = 8, 4
	rounds := 20
	if n, err := strconv.Atoi(os.Getenv("FLUXRELAY_CRASH_ROUNDS")); err == nil && n > 0 {
		rounds = n // make soak
	}
	for round := range rounds {
		cmd := startChild()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					ref := fmt.Sprintf("R%d-%d-%d", round, g, i)
					resp, err := client.Post("http://"+addr+"/notify/till", "application/json",
						strings.NewReader(fmt.Sprintf(`{"transactionRef":%q,"amount":"%d.%02d"}`, ref, 100+i, i%100)))
					if err != nil {
						return // the daemon is gone
					}
					var a answer
					_ = json.NewDecoder(resp.Body).Decode(&a)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						mu.Lock()
						acked[ref] = a.ID
						mu.Unlock()
					}
				}
			}()
		}
		for g := range terminals {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := mqttwire.Dial(mqttAddr, fmt.Sprintf("till-T%d", g), "till", "till-pw", 5*time.Second)
				if err != nil {
					return
				}
				defer c.Close()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					ref := fmt.Sprintf("M%d-%d-%d", round, g, i)
					if c.Publish("fluxrelay/till/T"+fmt.Sprint(g), []byte(fmt.Sprintf(`{"transactionRef":%q,"amount":"%d.00"}`, ref, 1+i)), 5*time.Second) != nil {
						return // the daemon is gone: this one was not acknowledged
					}
					mu.Lock()
					acked[ref] = notification.NewID("till", "core", "acme", ref)
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(200+rand.IntN(600)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		close(stop)
		wg.Wait()
	}

	cmd := startChild()
	mu.Lock()
	want := len(acked)
	mu.Unlock()
	mqttAcked := 0
	for ref := range acked {
		if strings.HasPrefix(ref, "M") {
			mqttAcked++
		}
	}
	if want < 100 || mqttAcked < 20 {
		t.Fatalf("only %d notifications (%d over MQTT) were acknowledged; the load did not run", want, mqttAcked)
	}
	delivered := func() map[string][]relaytest.Delivery {
		byRef := map[string][]relaytest.Delivery{}
		for _, d := range core.Accepted() {
			var p struct{ TransactionRef string }
			_ = json.Unmarshal(d.Body, &p)
			byRef[p.TransactionRef] = append(byRef[p.TransactionRef], d)
		}
		return byRef
	}
	deadline := time.Now().Add(4 * time.Minute) // a backlog of thousands, under -race
	lastLog := time.Now()
	for {
		got := delivered()
		missing := 0
		for ref := range acked {
			if len(got[ref]) == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			byKind := map[byte]int{}
			for ref := range acked {
				if len(got[ref]) == 0 {
					byKind[ref[0]]++
				}
			}
			t.Fatalf("%d of %d acknowledged notifications were never delivered (HTTP %d, MQTT %d)", missing, want, byKind['R'], byKind['M'])
		}
		if time.Since(lastLog) > 5*time.Second {
			t.Logf("waiting: %d of %d not delivered yet", missing, want)
			lastLog = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	if runtime.GOOS == "windows" {
		// No SIGTERM for another process on Windows: the service's stop
		// (and its clean-stop marker) is tried end to end under wine by
		// packaging/windows instead.
		_ = cmd.Process.Kill()
	} else {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	_ = cmd.Wait()

	// Every SIGKILL was followed by a start that knew the stop was not
	// clean; the SIGTERM just now was clean.
	var unclean Unclean
	if b, err := os.ReadFile(filepath.Join(dir, "data", uncleanFile)); err != nil || json.Unmarshal(b, &unclean) != nil || unclean.Count != rounds {
		t.Errorf("%d unclean restarts counted after %d SIGKILLs (%v)", unclean.Count, rounds, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", cleanMarker)); err != nil && runtime.GOOS != "windows" {
		t.Errorf("the last stop, a SIGTERM, left no clean-stop marker: %v", err)
	}

	dups := 0
	for ref, ds := range delivered() {
		id, ok := acked[ref]
		for _, d := range ds[1:] {
			dups++
			if string(d.Body) != string(ds[0].Body) || d.IdempotencyKey != ds[0].IdempotencyKey {
				t.Errorf("%s was delivered twice with different bodies or keys", ref)
			}
		}
		if ok && ds[0].IdempotencyKey != id {
			t.Errorf("%s: Idempotency-Key %s, but the answer said id %s", ref, ds[0].IdempotencyKey, id)
		}
	}
	t.Logf("%d rounds of SIGKILL: %d acknowledged (%d over MQTT), 0 lost, %d delivered again after a crash (same body and Idempotency-Key)", rounds, want, mqttAcked, dups)
}
