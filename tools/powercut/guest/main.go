// Command guest is the program the power-cut harness runs inside its
// virtual machine, started by the initramfs's /init with the data disk
// mounted on /data. The kernel command line says what to do:
//
//	powercut.phase=probe   say hello and stop (the harness checks KVM with it)
//	powercut.phase=load    run the daemon, a fake core and senders until the plug is pulled
//	powercut.phase=verify  run the daemon and the fake core until every stored notification is delivered
//
// With powercut.scenario=upgrade the data disk already holds a store an
// earlier release wrote (the harness put it on the image): the load phase
// starts the daemon on it with value-log collection forced every second
// (gcEnv), reports each value-log file collection deletes, and paces the
// senders (pacer) so that the collection runs between two sales as in a
// quiet shop. Its core never answers, as in an outage: nothing is
// delivered before the cut, so every notification acknowledged, then and
// by the earlier release, must survive it.
//
// Nothing leaves the machine except over its serial ports, each written to
// a file on the host: ttyS0 is the console (lines starting "POWERCUT "),
// ttyS1 gets "A <ref>" for every notification the daemon acknowledged, and
// ttyS2 "D <ref>" for every delivery the fake core accepted. A line counts
// only once the port has drained it (tcdrain), so the host file holds it
// even if the power goes a moment later.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fluxrelay/fluxrelay/relay/relaytest"
)

const (
	dataDir   = "/data/fluxrelay"
	storeDir  = dataDir + "/store" // where the daemon keeps Badger's files
	config    = dataDir + "/fluxrelay.toml"
	daemonBin = "/bin/fluxrelay"
	ingest    = "127.0.0.1:8080"
	admin     = "127.0.0.1:8081"
	coreAddr  = "127.0.0.1:9090"
	senders   = 8
	// gcEnv, read by the store, makes it collect the value log at that
	// interval instead of every ten minutes: the upgrade scenario's way to
	// force a collection in the running daemon (tools/powercut/README.md).
	gcEnv = "FLUXRELAY_TEST_GC_EVERY"
)

// The daemon's configuration: the core source (Fluxvend's own format, so the
// reference sent is the reference delivered), deliveries to the fake core.
const configText = `version = 1
data_dir = "` + dataDir + `"
[core]
url = "http://` + coreAddr + `/hook"
tenant_id = "powercut"
api_key = "K"
api_secret = "S"
concurrency = 4
retry_max_wait = "1s"
[http]
listen = "` + ingest + `"
[mqtt]
mode = "off"
[admin]
socket = ""
listen = "` + admin + `"
[log]
level = "warn"
[[source]]
name = "till"
provider = "core"
`

func main() {
	args := kernelArgs()
	var err error
	switch args["powercut.phase"] {
	case "probe":
		say("PROBE ok")
	case "load":
		err = load(args["powercut.round"], args["powercut.scenario"] == "upgrade")
	case "verify":
		err = verify()
	default:
		err = fmt.Errorf("no powercut.phase on the kernel command line")
	}
	if err != nil {
		say("ERROR %v", err)
	}
	say("DONE")
}

// say writes one harness line to the console.
func say(format string, a ...any) {
	fmt.Printf("POWERCUT "+format+"\n", a...)
	_ = os.Stdout.Sync()
}

func kernelArgs() map[string]string {
	raw, _ := os.ReadFile("/proc/cmdline")
	out := map[string]string{}
	for _, f := range strings.Fields(string(raw)) {
		if k, v, ok := strings.Cut(f, "="); ok {
			out[k] = v
		}
	}
	return out
}

// serial is a serial port lines are written to one at a time, each
// drained before the write returns.
type serial struct {
	mu sync.Mutex
	f  *os.File
}

func openSerial(path string) (*serial, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	return &serial{f: f}, nil
}

// write writes lines and waits until the port has sent them.
func (s *serial) write(lines []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := io.WriteString(s.f, strings.Join(lines, "\n")+"\n"); err != nil {
		return err
	}
	for {
		// tcdrain; Go's own signals (preemption) interrupt it now and then
		err := unix.IoctlSetInt(int(s.f.Fd()), unix.TCSBRK, 1)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// startCore runs the fake Fluxvend core. It verifies each delivery's
// signature and records the reference on ttyS2 before it answers 200, so
// that a delivery the daemon counts as done is always in the host's file.
// It takes pause over each delivery, one at a time: under load a core
// slower than the till leaves a backlog in the store for the cut to test.
// A core that is down takes each request and never answers it, as an
// unreachable host whose packets are dropped: the daemon's attempts hang
// and write nothing to the store until the cut.
func startCore(pause time.Duration, down bool) (*http.Server, error) {
	port, err := openSerial("/dev/ttyS2")
	if err != nil {
		return nil, err
	}
	var core http.Handler = &relaytest.Core{APIKey: "K", APISecret: "S", Answer: func(_ int, d relaytest.Delivery) int {
		var p struct {
			TransactionRef string `json:"transactionRef"`
		}
		if json.Unmarshal(d.Body, &p) != nil || p.TransactionRef == "" {
			say("ERROR the core got a delivery without a transactionRef")
			return http.StatusBadRequest
		}
		time.Sleep(pause) // Answer runs one at a time
		if err := port.write([]string{"D " + p.TransactionRef}); err != nil {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}}
	if down {
		core = http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	}
	ln, err := net.Listen("tcp", coreAddr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: core}
	go srv.Serve(ln)
	return srv, nil
}

// startDaemon writes the config and starts the daemon, its log on the
// console, and waits until it takes requests. exited is closed when it
// exits.
func startDaemon(text string, env ...string) (cmd *exec.Cmd, exited chan error, err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		return nil, nil, err
	}
	cmd = exec.Command(daemonBin, "run", "-c", config)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	exited = make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		select {
		case err := <-exited:
			return nil, nil, fmt.Errorf("the daemon exited at start: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if c, err := net.Dial("tcp", ingest); err == nil {
			c.Close()
			return cmd, exited, nil
		}
	}
	return nil, nil, errors.New("the daemon did not start listening within 2 minutes")
}

// load sends notifications from several senders until the power is cut,
// recording each acknowledged reference on ttyS1, and reports each file
// Badger creates so the harness can aim a cut just after one. In the
// upgrade scenario it forces value-log collection and paces the senders
// (pacer).
func load(round string, upgrade bool) error {
	acked, err := openSerial("/dev/ttyS1")
	if err != nil {
		return err
	}
	if _, err := startCore(40*time.Millisecond, upgrade); err != nil {
		return err
	}
	if err := os.MkdirAll(storeDir, 0o700); err != nil {
		return err
	}
	var pace *pacer
	if upgrade {
		pace = newPacer()
	}
	if err := watchFiles(storeDir, pace.event); err != nil {
		return err
	}
	text, env := configText, []string(nil)
	if upgrade {
		// the core never answers and the daemon waits for it as long as
		// it may: its attempts write nothing, and the store's only
		// writers are the senders, the upgrade and the collection
		text = strings.Replace(configText, "[core]\n", "[core]\ntimeout = \"5m\"\n", 1)
		env = append(env, gcEnv+"=1s")
	}
	_, exited, err := startDaemon(text, env...)
	if err != nil {
		return err
	}
	say("LOAD started")
	pace.start()

	// One goroutine writes acknowledgements in batches, so that the port,
	// not the senders, sets the pace of recording.
	refs := make(chan string, 4096)
	go func() {
		for ref := range refs {
			batch := []string{"A " + ref}
			for more := true; more; {
				select {
				case r := <-refs:
					batch = append(batch, "A "+r)
				default:
					more = false
				}
			}
			if err := acked.write(batch); err != nil {
				say("ERROR ttyS1: %v", err)
				return
			}
		}
	}()

	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				pace.wait()
				ref := fmt.Sprintf("pc%s-%d-%d", round, s, n)
				if queued(client, ref) {
					refs <- ref
				}
			}
		}()
	}
	err = <-exited
	return fmt.Errorf("the daemon exited under load: %v", err)
}

// queued posts one notification and says whether the daemon answered that
// it stored it.
func queued(client *http.Client, ref string) bool {
	resp, err := client.Post("http://"+ingest+"/notify/till", "application/json", bytes.NewReader(body(ref)))
	if err != nil {
		time.Sleep(100 * time.Millisecond) // the daemon is not listening: do not spin
		return false
	}
	defer resp.Body.Close()
	var answer struct {
		Status string `json:"status"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	return resp.StatusCode == http.StatusOK && answer.Status == "queued"
}

// body is a core notification of about 1 KB, like a till's.
func body(ref string) []byte {
	return fmt.Appendf(nil, `{"transactionRef":%q,"paymentRef":%q,"amount":"15750.50","paymentMethod":"ACCOUNT_TRANSFER","customer":{"id":"FXV-TILL-0001","name":"Demo Shop Till 1","email":"till-1@demo-shop.example.com","phone":"+2348000000000"},"accountNumber":"0000000001","bankCode":"000013","bankName":"Example Bank","accountName":"AMAKA EXAMPLE","note":%q}`,
		ref, ref, strings.Repeat("n", 600))
}

// verify runs the daemon after the cut until it has delivered everything
// it holds, then stops it cleanly and reports what its status said.
func verify() error {
	if _, err := startCore(0, false); err != nil {
		return err
	}
	cmd, exited, err := startDaemon(configText)
	if err != nil {
		say("STORE failed: %v", err)
		return err
	}
	say("STORE opened")
	client := &http.Client{Timeout: 10 * time.Second}
	var st status
	for deadline := time.Now().Add(10 * time.Minute); ; {
		select {
		case err := <-exited:
			return fmt.Errorf("the daemon exited while delivering: %v", err)
		case <-time.After(250 * time.Millisecond):
		}
		if st, err = readStatus(client); err == nil && st.QueueDepth == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the daemon still holds %d undelivered after 10 minutes (last error: %v)", st.QueueDepth, err)
		}
	}
	line, _ := json.Marshal(st)
	say("STATUS %s", line)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("the daemon's clean stop failed: %v", err)
		}
	case <-time.After(time.Minute):
		return errors.New("the daemon did not stop within a minute of SIGTERM")
	}
	return nil
}

// status is what the harness needs from the daemon's /api/status.
type status struct {
	QueueDepth      int64  `json:"queue_depth"`
	DeadLetters     int64  `json:"dead_letters"`
	UncleanRestarts int    `json:"unclean_restarts"`
	StoreMovedAside string `json:"store_moved_aside,omitempty"`
	State           string `json:"state"`
}

func readStatus(client *http.Client) (status, error) {
	var st status
	resp, err := client.Get("http://" + admin + "/api/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status answered %s", resp.Status)
	}
	return st, json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&st)
}
