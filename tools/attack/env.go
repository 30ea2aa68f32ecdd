package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/fluxrelay/fluxrelay/notification"
)

// The secrets of the attack's gateway: the daemon's config holds them, the
// attacker does not (except where a row says so).
const (
	coreKey, coreSecret = "attack-key", "attack-core-secret"
	appSecret           = "attack-app-secret"
	moniepointSecret    = "attack-moniepoint-secret"
	monnifySecret       = "attack-monnify-secret"
	adminToken          = "attack-admin-token"
	till1Pass           = "till-1-password" // stored as a bcrypt hash
	till2Pass           = "till-2-password" // stored in clear
)

// env is one daemon under attack and the fake Fluxvend core it delivers to.
type env struct {
	bin, dir, cfg      string
	httpAddr, mqttAddr string
	adminAddr          string
	cmd                *exec.Cmd
	exited             chan error
	core               *fakeCore
	coreSrv            *http.Server
	admin              *http.Client // keeps its connection: it must work while descriptors run out
	rssMu              sync.Mutex
	rssPeak            int64 // kB, while sampling
}

// start writes a config, starts the fake core and the daemon, and waits
// until the daemon's listeners are up.
func start(bin, dir string) (*env, error) {
	e := &env{bin: bin, dir: dir, core: &fakeCore{}, exited: make(chan error, 1)}
	coreLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.coreSrv = &http.Server{Handler: e.core, ReadHeaderTimeout: 10 * time.Second}
	go e.coreSrv.Serve(coreLn)
	e.httpAddr, e.mqttAddr, e.adminAddr = freeAddr(), freeAddr(), freeAddr()
	e.admin = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Hour}}
	if err := e.writeConfig(coreLn.Addr().String(), ""); err != nil {
		return nil, err
	}
	old := syscall.Umask(0o022) // as most shells and service managers leave it
	defer syscall.Umask(old)
	log, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		return nil, err
	}
	e.cmd = exec.Command(bin, "run", "-c", e.cfg)
	e.cmd.Stdout, e.cmd.Stderr = log, log
	e.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	if err := e.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { e.exited <- e.cmd.Wait(); log.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := e.status()
		if err == nil && st.Listeners["mqtt"].Up && st.Listeners["http"].Up {
			return e, nil
		}
		if time.Now().After(deadline) || e.gone() {
			e.stop()
			return nil, fmt.Errorf("the daemon did not come up (see %s): %v", filepath.Join(dir, "daemon.log"), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *env) writeConfig(coreAddr, extraAdmin string) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(till1Pass), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	doc := fmt.Sprintf(`version = 1
data_dir = %q
gateway = "attack"
[core]
url = "http://%s/webhooks/api/v1/i/acme/core"
tenant_id = "acme"
api_key = %q
api_secret = %q
retry_max_wait = "2s"
[store]
dedup_window = "1h"
[http]
listen = %q
[mqtt]
mode = "embedded"
listen = %q
[[mqtt.user]]
username = "till-1"
password_hash = %q
[[mqtt.user]]
username = "till-2"
password = %q
[admin]
socket = ""
listen = %q
%s
[log]
format = "json"
[[source]]
name = "till"
provider = "core"
[[source]]
name = "app"
provider = "core"
secret = %q
[[source]]
name = "moniepoint"
provider = "moniepoint-pos"
secret = %q
allow = ["127.0.0.0/8"]
max_skew = "24h"
[[source]]
name = "vesicash"
provider = "vesicash"
signature_mode = "none"
allow = ["127.0.0.0/8"]
[[source]]
name = "monnify-raw"
provider = "monnify"
secret = %q
allow = ["127.0.0.0/8"]
forward = "raw"
forward_url = "http://%s/raw/monnify"
`, filepath.Join(e.dir, "data"), coreAddr, coreKey, coreSecret, e.httpAddr, e.mqttAddr, hash, till2Pass, e.adminAddr, extraAdmin,
		appSecret, moniepointSecret, monnifySecret, coreAddr)
	e.cfg = filepath.Join(e.dir, "fluxrelay.toml")
	return os.WriteFile(e.cfg, []byte(doc), 0o600)
}

// reloadWithToken sets admin.token and has the daemon reload its config.
func (e *env) reloadWithToken() error {
	doc, err := os.ReadFile(e.cfg)
	if err != nil {
		return err
	}
	doc = bytes.Replace(doc, []byte("listen = "+strconv.Quote(e.adminAddr)+"\n"), []byte("listen = "+strconv.Quote(e.adminAddr)+"\ntoken = "+strconv.Quote(adminToken)+"\n"), 1)
	if err := os.WriteFile(e.cfg, doc, 0o600); err != nil {
		return err
	}
	return e.cmd.Process.Signal(syscall.SIGHUP)
}

func (e *env) gone() bool {
	select {
	case err := <-e.exited:
		e.exited <- err
		return true
	default:
		return false
	}
}

// stop ends the daemon (SIGTERM, then SIGKILL) and the fake core.
func (e *env) stop() {
	if e.cmd != nil && e.cmd.Process != nil && !e.gone() {
		e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.exited:
		case <-time.After(20 * time.Second):
			e.cmd.Process.Kill()
			<-e.exited
		}
	}
	if e.coreSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.coreSrv.Shutdown(ctx)
	}
}

// status is the part of /api/status the rows read.
type status struct {
	State     string   `json:"state"`
	Reasons   []string `json:"reasons"`
	Listeners map[string]struct {
		Up    bool   `json:"up"`
		Error string `json:"error"`
	} `json:"listeners"`
	Sources map[string]struct {
		Received, Queued, Duplicates, Ignored, Held, Rejected int64
	} `json:"sources"`
}

func (e *env) status() (status, error) {
	var st status
	resp, err := e.adminDo(http.MethodGet, "/api/status", "", nil)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status answered %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// adminDo sends a request to admin.listen as a technician on the gateway
// would, with the token (which the daemon takes once a row has set it).
func (e *env) adminDo(method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(method, "http://"+e.adminAddr+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return e.admin.Do(req)
}

// post sends a notification over HTTP and returns the status code and the
// answer's body.
func (e *env) post(path, body string, header http.Header) (int, string) {
	req, err := http.NewRequest(http.MethodPost, "http://"+e.httpAddr+path, strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// rss is the daemon's anonymous resident memory in kB, and it raises the
// peak while sampling.
func (e *env) rss() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", e.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			e.rssMu.Lock()
			e.rssPeak = max(e.rssPeak, kb)
			e.rssMu.Unlock()
			return kb
		}
	}
	return 0
}

// sample reads the daemon's memory every 20 ms until the returned func is
// called; that returns the peak seen.
func (e *env) sample() func() int64 {
	done := make(chan struct{})
	finished := make(chan struct{})
	e.rssMu.Lock()
	e.rssPeak = 0
	e.rssMu.Unlock()
	go func() {
		defer close(finished)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			e.rss()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-finished
		e.rssMu.Lock()
		defer e.rssMu.Unlock()
		return e.rssPeak
	}
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// fakeCore stands in for the Fluxvend core webhook: it checks each
// delivery's signature and keeps what it received; /raw/… keeps what a
// raw forward sent.
type fakeCore struct {
	mu        sync.Mutex
	delivered []map[string]any
	raw       int
}

func (c *fakeCore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/raw/") {
		c.raw++
		return
	}
	if !notification.Verify(coreSecret, body, r.Header.Get("Signature")) {
		http.Error(w, `{"message":"bad signature"}`, http.StatusUnauthorized)
		return
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&m) == nil {
		c.delivered = append(c.delivered, m)
	}
}

// deliveries counts what the core received for a transactionRef, and with
// which amounts.
func (c *fakeCore) deliveries(ref string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var amounts []string
	for _, m := range c.delivered {
		if m["transactionRef"] == ref {
			amounts = append(amounts, fmt.Sprint(m["amount"]))
		}
	}
	return amounts
}

func (c *fakeCore) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.delivered)
}
