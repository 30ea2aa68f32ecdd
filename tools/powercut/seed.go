package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/oldbuild"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
)

// seed is a data folder an earlier release wrote, for the upgrade
// scenario: each upgrade round's disk image starts with it, and the guest's
// daemon opens it as an upgraded gateway would.
type seed struct {
	commit string
	// dir holds fluxrelay/, the data folder, as the guest mounts it
	// under /data.
	dir string
	// waiting were acknowledged by the earlier release and left waiting
	// (the core was down): they must be delivered after the upgrade.
	waiting []string
	// delivered were delivered by the earlier release: they must never
	// reach the core again.
	delivered []string
	// dead is how many dead letters the earlier release left.
	dead int
}

// The shape of the seed: the sessions of the earlier release (it compacts
// level 0 at 8 tables, and each clean stop flushes one, so nine make a
// compaction, which is what records value-log garbage), the sales each
// delivered (one in five refused, a dead letter; three in four of those
// dropped), and those left waiting at the end. A sale is stored in about
// 25 KB, a dead letter in 100 KB (each note is in the body and in the
// mapped payload), so about 70 % of each session's value log is garbage
// and 3.7 MB is live: a collection moves some 30 MB, several memtables.
const (
	seedSessions = 9
	seedSales    = 150
	seedWaiting  = 100
	saleNote     = 12 << 10
	deadNote     = 48 << 10
)

// makeSeed runs the earlier release's daemon on the host against a fake
// core, the way the upgrade matrix does (upgrade/), and keeps what it
// left. Its deliveries are signed with the guest's core credentials.
func makeSeed(out, commit string) (*seed, error) {
	start := time.Now()
	res, err := oldbuild.Binary(commit, oldbuild.Options{})
	if err != nil {
		return nil, err
	}
	sd := &seed{commit: commit, dir: filepath.Join(out, "seed-"+commit)}
	_ = os.RemoveAll(sd.dir)
	data := filepath.Join(sd.dir, "fluxrelay")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	var down atomic.Bool
	core := &relaytest.Core{APIKey: "K", APISecret: "S", Answer: func(_ int, d relaytest.Delivery) int {
		switch {
		case down.Load():
			return http.StatusServiceUnavailable
		case bytes.Contains(d.Body, []byte(`"transactionRef":"old-dead-`)):
			return http.StatusUnprocessableEntity
		}
		return http.StatusOK
	}}
	srv := httptest.NewServer(core)
	defer srv.Close()
	h := &seedHost{bin: res.Path, data: data, core: srv.URL,
		cfg: filepath.Join(out, "seed-"+commit+".toml"), log: filepath.Join(out, "seed-"+commit+".log")}
	_ = os.Remove(h.log)
	if err := h.configure(); err != nil {
		return nil, err
	}
	if err := h.sessions(sd, &down); err != nil {
		return nil, fmt.Errorf("the %s store: %w (its log: %s)", commit, err, h.log)
	}
	for _, d := range core.Accepted() {
		var p struct{ TransactionRef string }
		_ = json.Unmarshal(d.Body, &p)
		sd.delivered = append(sd.delivered, p.TransactionRef)
	}
	fmt.Printf("powercut: a store written by %s (build %s): %d delivered, %d waiting, %d dead letters, in %s\n",
		commit, map[bool]string{true: "cached", false: res.Took.Round(time.Second).String()}[res.Cached],
		len(sd.delivered), len(sd.waiting), sd.dead, time.Since(start).Round(time.Second))
	return sd, nil
}

// seedHost runs the earlier release on the host.
type seedHost struct {
	bin, data, core, log string
	cfg, ingest, admin   string
	n                    int
}

func (h *seedHost) configure() error {
	var err error
	if h.ingest, err = freeAddr(); err != nil {
		return err
	}
	if h.admin, err = freeAddr(); err != nil {
		return err
	}
	doc := fmt.Sprintf(`version = 1
data_dir = %q
[core]
url = "%s/hook"
tenant_id = "powercut"
api_key = "K"
api_secret = "S"
retry_max_wait = "1s"
[http]
listen = %q
[mqtt]
mode = "off"
[admin]
socket = ""
listen = %q
[[source]]
name = "till"
provider = "core"
`, h.data, h.core, h.ingest, h.admin)
	return os.WriteFile(h.cfg, []byte(doc), 0o600)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// sessions starts the earlier release seedSessions times; each delivers
// its sales (one in five is refused with 422 and becomes a dead letter);
// before the last stop half the dead letters are dropped and, with the
// core down, seedWaiting sales are left waiting.
func (h *seedHost) sessions(sd *seed, down *atomic.Bool) error {
	var deadIDs []string
	for s := 1; s <= seedSessions; s++ {
		tables, _ := filepath.Glob(filepath.Join(h.data, "store", "*.sst"))
		stop, err := h.start()
		if err != nil {
			return err
		}
		for i := range seedSales {
			dead := i%5 == 4
			ref := fmt.Sprintf("old-%d", h.n)
			if dead {
				ref = fmt.Sprintf("old-dead-%d", h.n)
			}
			note := saleNote
			if dead {
				note = deadNote
			}
			id, err := h.post(ref, note)
			if err != nil {
				stop()
				return err
			}
			if dead {
				deadIDs = append(deadIDs, id)
			}
		}
		if err := h.waitFor(func(st seedStatus) bool { return st.QueueDepth == 0 && st.DeadLetters == int64(len(deadIDs)) }); err != nil {
			stop()
			return err
		}
		if s == seedSessions {
			if err := compacted(tables); err != nil {
				stop()
				return err
			}
		}
		if s == seedSessions-1 {
			drop := deadIDs[:len(deadIDs)*3/4]
			out, err := exec.Command(h.bin, append([]string{"dlq", "-c", h.cfg, "drop"}, drop...)...).CombinedOutput()
			if err != nil {
				stop()
				return fmt.Errorf("dlq drop: %v: %s", err, out)
			}
			deadIDs = deadIDs[len(drop):]
		}
		if s == seedSessions {
			down.Store(true)
			for range seedWaiting {
				ref := fmt.Sprintf("old-wait-%d", h.n)
				if _, err := h.post(ref, 1<<10); err != nil {
					stop()
					return err
				}
				sd.waiting = append(sd.waiting, ref)
			}
			if err := h.waitFor(func(st seedStatus) bool { return st.QueueDepth == seedWaiting }); err != nil {
				stop()
				return err
			}
		}
		if err := stop(); err != nil {
			return err
		}
	}
	sd.dead = len(deadIDs)
	return nil
}

// start runs the daemon and returns its clean stop.
func (h *seedHost) start() (func() error, error) {
	logf, err := os.OpenFile(h.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(h.bin, "run", "-c", h.cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			return fmt.Errorf("the earlier release did not stop within a minute of SIGTERM")
		}
	}
	if err := h.waitFor(func(seedStatus) bool { return true }); err != nil {
		_ = cmd.Process.Kill()
		return nil, err
	}
	return stop, nil
}

// compacted waits until one of the level-0 tables the earlier release
// started its last session with is gone: only a compaction records what in
// the value log is garbage. With fewer than 8, it ran already, when the
// last stop flushed the eighth.
func compacted(tables []string) error {
	if len(tables) < 8 {
		return nil
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, f := range tables {
			if _, err := os.Stat(f); os.IsNotExist(err) {
				return nil
			}
		}
	}
	return fmt.Errorf("the earlier release did not compact its level 0 within two minutes")
}

// post sends one sale with a note of about size bytes (stored twice, in
// the body and in the mapped payload).
func (h *seedHost) post(ref string, size int) (string, error) {
	h.n++
	body := fmt.Sprintf(`{"transactionRef":%q,"amount":"%d.50","paymentMethod":"CARD","note":%q}`, ref, 100+h.n, strings.Repeat(fmt.Sprintf("%d paid at the till ", h.n), size/24))
	resp, err := http.Post("http://"+h.ingest+"/notify/till", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var a struct{ Status, ID string }
	_ = json.NewDecoder(resp.Body).Decode(&a)
	if resp.StatusCode != http.StatusOK || a.Status != "queued" {
		return "", fmt.Errorf("%s: answered %s %q", ref, resp.Status, a.Status)
	}
	return a.ID, nil
}

type seedStatus struct {
	QueueDepth  int64 `json:"queue_depth"`
	DeadLetters int64 `json:"dead_letters"`
}

// waitFor polls the daemon's status until cond holds, for two minutes.
func (h *seedHost) waitFor(cond func(seedStatus) bool) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var st seedStatus
		resp, err := http.Get("http://" + h.admin + "/api/status")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
		}
		if err == nil && cond(st) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the earlier release's status did not come to what was expected in two minutes: %+v (%v)", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// write records, in the round's folder, what the earlier release
// acknowledged and delivered, in the serial logs' format, for count.
func (sd *seed) write(dir string) error {
	lines := func(prefix string, refs []string) []byte {
		var b bytes.Buffer
		for _, r := range refs {
			fmt.Fprintf(&b, "%s%s\n", prefix, r)
		}
		return b.Bytes()
	}
	if err := os.WriteFile(filepath.Join(dir, "acked-before.log"), lines("A ", sd.waiting), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "delivered-before.log"), lines("D ", sd.delivered), 0o644)
}
