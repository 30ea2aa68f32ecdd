package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/admin"
	"github.com/fluxrelay/fluxrelay/config"
	"github.com/fluxrelay/fluxrelay/daemon"
	"github.com/fluxrelay/fluxrelay/internal/loopback"
	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
	"github.com/fluxrelay/fluxrelay/store"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

// opsEnv is a real daemon (real store, real HTTP, admin socket) behind a
// fake core that refuses refs starting with DEAD until told otherwise. On
// Windows the commands reach it on admin.listen with the token instead.
type opsEnv struct {
	cfg, ingest, socket string
	refuse              atomic.Bool
	core                *relaytest.Core
	adminAPI            *http.Client // for the page: the socket, or admin.listen with the token
	adminURL            string
}

// opsToken is the admin.token of the Windows opsEnv.
const opsToken = "ops-admin-token"

func startOps(t *testing.T) *opsEnv { t.Helper(); return startOpsWith(t, nil, "") }

// startOpsWith starts the daemon with wrap in front of the fake core (when
// set) and extra lines in its [core] table.
func startOpsWith(t *testing.T, wrap func(http.Handler) http.Handler, coreExtra string) *opsEnv {
	t.Helper()
	e := &opsEnv{}
	e.refuse.Store(true)
	// Two different refusals alternate: the same 4xx for three notifications
	// in a row would pause deliveries instead of dead-lettering (docs/design.md).
	e.core = &relaytest.Core{APIKey: "K", APISecret: "S", Answer: func(_ int, d relaytest.Delivery) int {
		switch {
		case !e.refuse.Load():
			return http.StatusOK
		case strings.Contains(string(d.Body), `"DEAD-0"`), strings.Contains(string(d.Body), `"DEAD-2"`):
			return http.StatusUnprocessableEntity
		case strings.Contains(string(d.Body), `"DEAD-`):
			return http.StatusBadRequest
		}
		return http.StatusOK
	}}
	var h http.Handler = e.core
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	e.socket = filepath.Join(dir, "run", "admin.sock")
	e.cfg = filepath.Join(dir, "fluxrelay.toml")
	doc := fmt.Sprintf(`version = 1
data_dir = "data"
[core]
url = "%s/hook"
tenant_id = "acme"
api_key = "K"
api_secret = "S"
%s
[http]
listen = "127.0.0.1:0"
[mqtt]
mode = "off"
[admin]
%s
[[source]]
name = "till"
provider = "core"
`, srv.URL, coreExtra, e.adminKeys(t))
	d := startTestDaemon(t, e.cfg, doc, "ops-test")
	e.ingest = "http://" + d.Addr("http", 10*time.Second)
	adminCameUp(t, d)
	return e
}

// adminCameUp waits for the admin API the commands use: the socket, or
// on Windows admin.listen.
func adminCameUp(t *testing.T, d *daemon.Daemon) {
	t.Helper()
	name := "socket"
	if !socketServed {
		name = "admin"
	}
	if d.Addr(name, 10*time.Second) == "" {
		t.Fatalf("the admin API (%s) did not come up", name)
	}
}

// adminUp is an [admin] table the commands can use: the socket sock, or
// on Windows admin.listen on a free port with opsToken.
func adminUp(t *testing.T, sock string) string {
	if !socketServed {
		return fmt.Sprintf("socket = \"\"\nlisten = %q\ntoken = %q", loopback.FreeAddr(t), opsToken)
	}
	return fmt.Sprintf("socket = %q\nlisten = \"\"", sock)
}

// adminKeys is the [admin] table: the socket, or on Windows admin.listen
// on a free port with a token, which the commands read from the config.
func (e *opsEnv) adminKeys(t *testing.T) string {
	if !socketServed {
		addr := loopback.FreeAddr(t)
		e.adminURL = "http://" + addr
		e.adminAPI = &http.Client{Transport: bearer{opsToken}}
		return fmt.Sprintf("socket = \"\"\nlisten = %q\ntoken = %q", addr, opsToken)
	}
	e.adminURL = "http://fluxrelay"
	e.adminAPI = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", e.socket)
	}}}
	return fmt.Sprintf("socket = %q\nlisten = \"\"", e.socket)
}

// bearer adds the admin token to each request.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// nowhere is how a command is pointed at a daemon that is not running:
// a socket that does not exist, or on Windows a port nothing listens on.
func nowhere(t *testing.T) []string {
	if !socketServed {
		return []string{"--addr", loopback.FreeAddr(t)}
	}
	return []string{"--socket", filepath.Join(t.TempDir(), "admin.sock")}
}

func (e *opsEnv) post(t *testing.T, ref string) {
	t.Helper()
	resp, err := http.Post(e.ingest+"/notify/till", "application/json", strings.NewReader(fmt.Sprintf(`{"transactionRef":%q,"amount":"99.50"}`, ref)))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("post %s: %v %v", ref, resp, err)
	}
	resp.Body.Close()
}

func (e *opsEnv) run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	code, out, errOut := runCmd(append(args[:1:1], append([]string{"-c", e.cfg}, args[1:]...)...)...)
	return code, out + errOut
}

func (e *opsEnv) status(t *testing.T) admin.Status {
	t.Helper()
	_, out := e.run(t, "status", "--json")
	var st admin.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	return st
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestStatusAndDeadLetters drives `status` and every `dlq` command against a
// real daemon through its admin socket.
func TestStatusAndDeadLetters(t *testing.T) {
	e := startOps(t)
	e.post(t, "OK-1")
	for i := range 4 {
		e.post(t, fmt.Sprintf("DEAD-%d", i))
	}
	waitUntil(t, "four dead letters", func() bool { return e.status(t).DeadLetters == 4 })

	// Both spellings of a long flag work, as scripts from earlier releases use -json.
	for _, spelling := range []string{"-json", "--json"} {
		if _, out := e.run(t, "status", spelling); !json.Valid([]byte(out)) {
			t.Errorf("status %s is not JSON:\n%s", spelling, out)
		}
	}

	code, out := e.run(t, "status")
	for _, want := range []string{"fluxrelay ops-test: ACTION NEEDED", "4 payment(s) could not be sent to Fluxvend", "dead letters:", "4 (fluxrelay dlq list)", "Fluxvend reachable:  yes", "till", "SOURCE"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("status (exit %d) lacks %q:\n%s", code, want, out)
		}
	}

	// What needs a person is a FAIL in doctor, which then exits 1.
	if code, out := e.run(t, "doctor"); code != 1 || !strings.Contains(out, "FAIL  dead letters 4 payment(s) could not be sent to Fluxvend") {
		t.Errorf("doctor with 4 dead letters waiting (exit %d):\n%s", code, out)
	}

	code, out = e.run(t, "dlq", "list")
	if code != 0 || strings.Count(out, "Fluxvend answered 422") != 2 || strings.Count(out, "Fluxvend answered 400") != 2 || !strings.Contains(out, "DEAD-2") {
		t.Fatalf("dlq list (exit %d):\n%s", code, out)
	}
	var list []admin.DeadLetter
	_, js := e.run(t, "dlq", "list", "--json")
	json.Unmarshal([]byte(js), &list)
	if len(list) != 4 {
		t.Fatalf("dlq list --json: %s", js)
	}
	byRef := map[string]string{}
	for _, d := range list {
		byRef[d.TransactionRef] = d.ID
	}

	code, out = e.run(t, "dlq", "show", byRef["DEAD-0"][:10])
	for _, want := range []string{"DEAD-0", `{"transactionRef":"DEAD-0","amount":"99.50"}`, "last answer from Fluxvend:", "422", "what is sent to Fluxvend:"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("dlq show (exit %d) lacks %q:\n%s", code, want, out)
		}
	}
	if code, out = e.run(t, "dlq", "show", "zzzz"); code != 1 || !strings.Contains(out, `no notification has an id starting with "zzzz"`) {
		t.Errorf("dlq show unknown: %d %s", code, out)
	}

	e.refuse.Store(false)
	if code, out = e.run(t, "dlq", "replay", byRef["DEAD-0"]); code != 0 || !strings.Contains(out, "queued again") {
		t.Fatalf("dlq replay: %d %s", code, out)
	}
	// drop asks first; with no terminal to ask it refuses, and --yes skips it
	stdin = strings.NewReader("n\n")
	if code, out = e.run(t, "dlq", "drop", byRef["DEAD-1"][:12]); code != 0 || !strings.Contains(out, "nothing dropped") {
		t.Fatalf("dlq drop answered no: %d %s", code, out)
	}
	devNull, _ := os.Open(os.DevNull)
	defer devNull.Close()
	stdin = devNull
	if code, out = e.run(t, "dlq", "drop", byRef["DEAD-1"][:12]); code != 2 || !strings.Contains(out, "add --yes") {
		t.Fatalf("dlq drop with no terminal: %d %s", code, out)
	}
	stdin = os.Stdin
	if code, out = e.run(t, "dlq", "drop", byRef["DEAD-1"][:12], "-c", e.cfg, "--yes"); code != 0 || !strings.Contains(out, "dropped") {
		t.Fatalf("dlq drop --yes (flags after the id): %d %s", code, out)
	}
	if code, out = e.run(t, "dlq", "drop", "--yes", byRef["DEAD-0"]); code != 1 || !strings.Contains(out, "not a dead letter") {
		t.Errorf("dropping a replayed notification: %d %s", code, out)
	}
	code, out = e.run(t, "dlq", "replay", "--all")
	if code != 0 || !strings.Contains(out, "[1/2]") || !strings.Contains(out, "[2/2]") || !strings.Contains(out, "2 replayed, 0 failed") {
		t.Fatalf("dlq replay --all: %d\n%s", code, out)
	}
	waitUntil(t, "the replays delivered", func() bool { st := e.status(t); return st.DeadLetters == 0 && st.QueueDepth == 0 })
	if code, out := e.run(t, "status"); code != 0 || !strings.Contains(out, "fluxrelay ops-test: OK") {
		t.Errorf("with nothing waiting for a person, status (exit %d) is not OK:\n%s", code, out)
	}
	delivered := map[string]int{}
	for _, d := range e.core.Accepted() {
		var p struct{ TransactionRef string }
		json.Unmarshal(d.Body, &p)
		delivered[p.TransactionRef]++
	}
	for _, ref := range []string{"OK-1", "DEAD-0", "DEAD-2", "DEAD-3"} {
		if delivered[ref] != 1 {
			t.Errorf("%s delivered %d times; want once", ref, delivered[ref])
		}
	}
	if delivered["DEAD-1"] != 0 {
		t.Error("a dropped dead letter was delivered")
	}
}

func TestStatusWhenNotRunning(t *testing.T) {
	code, _, errOut := runCmd(append([]string{"status", "-c", filepath.Join(t.TempDir(), "absent.toml")}, nowhere(t)...)...)
	if code != 1 || !strings.Contains(errOut, "fluxrelay is not running") || !strings.Contains(errOut, hintStart) {
		t.Errorf("status with no daemon: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd("dlq"); code != 2 || !strings.Contains(errOut, "usage: fluxrelay dlq") {
		t.Errorf("dlq without a command: %d %q", code, errOut)
	}
}

// TestDoctor runs doctor against a healthy running daemon, then against a
// broken set-up, and checks each line says what is wrong and what to do.
func TestDoctor(t *testing.T) {
	e := startOps(t)
	code, out := e.run(t, "doctor")
	for _, want := range []string{"OK    config", "OK    data dir", "is writable", "OK    core dns  127.0.0.1 is 127.0.0.1", "OK    clock", "OK    daemon    fluxrelay ops-test is running: OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor on a healthy gateway lacks %q:\n%s", want, out)
		}
	}
	// A temporary folder on tmpfs is rightly a FAIL for a data_dir: where
	// the machine's /tmp is one, that is the one FAIL allowed here.
	fsCheck, _ := filesystemCheck(filepath.Join(filepath.Dir(e.cfg), "data"), readMounts())
	onTmpfs := fsCheck.level == "FAIL"
	rest := regexp.MustCompile(`(?m)^FAIL  filesystem.*$`).ReplaceAllString(out, "")
	if (code != 0 && !onTmpfs) || strings.Contains(rest, "FAIL") || !strings.Contains(out, "filesystem") {
		t.Errorf("doctor on a healthy gateway: exit %d\n%s", code, out)
	}

	dir := t.TempDir()
	notADir := filepath.Join(dir, "data-file")
	os.WriteFile(notADir, nil, 0o600)
	closed := loopback.FreeAddr(t)
	cfg := filepath.Join(dir, "broken.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`version = 1
data_dir = %q
[core]
url = "http://%s/hook"
tenant_id = "acme"
api_key = "K"
api_secret = "S"
[http]
listen = "127.0.0.1:0"
[mqtt]
listen = "127.0.0.1:0"
[admin]
%s
`, notADir, closed, strings.Join(adminNowhere(t, dir), "\n"))), 0o600)
	code, out, _ = runCmd("doctor", "-c", cfg)
	for _, want := range []string{"FAIL  data dir  " + notADir + " is a file, not a folder", "FAIL  core      cannot connect to " + closed, "WARN  mqtt      no [[mqtt.user]]", "WARN  daemon    fluxrelay is not running"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor on a broken set-up lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("doctor with failures exited %d; want 1", code)
	}
}

// TestRecoverMovedAsideStore damages a store so that Badger cannot open
// it: the daemon's store moves it aside, and `fluxrelay recover` re-queues
// its pending notifications and dead letters into the new store, once.
func TestRecoverMovedAsideStore(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "fluxrelay.toml")
	os.WriteFile(cfgPath, []byte("version = 1\ndata_dir = \"data\"\n[mqtt]\nmode = \"off\"\n[admin]\nsocket = \"\"\n"), 0o600)
	storeDir := filepath.Join(dir, "data", "store")
	st, err := store.Open(store.Options{Dir: storeDir, MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 30 {
		r := storetest.NewRecord(fmt.Sprintf("LOST-%d", i), notification.Amount(1000+i), storetest.T0)
		r.Raw = []byte(strings.Repeat("x", 600)) // a realistic size
		st.Enqueue(ctx, r)
	}
	st.Update(ctx, notification.NewID("pos", "core", "t1", "LOST-0"), func(r *notification.Record) error { r.State = notification.Delivered; return nil })
	st.Update(ctx, notification.NewID("pos", "core", "t1", "LOST-1"), func(r *notification.Record) error { r.State, r.Reason = notification.Dead, "422"; return nil })
	st.Close()
	os.WriteFile(filepath.Join(storeDir, "MANIFEST"), []byte("garbage, not a manifest"), 0o600)

	st, err = store.Open(store.Options{Dir: storeDir, MinFree: 1}) // what the daemon does at start
	if err != nil || st.MovedAside == "" {
		t.Fatalf("the damaged store was not moved aside: %v", err)
	}
	st.Close()

	if _, out, _ := runCmd("doctor", "-c", cfgPath); !strings.Contains(out, "WARN  store     1 unreadable store(s) moved aside") {
		t.Errorf("doctor does not report the moved-aside store:\n%s", out)
	}
	code, out, errOut := runCmd("recover", "-c", cfgPath)
	if code != 0 || !strings.Contains(out, "scanned the store's files") || !strings.Contains(out, "28 re-queued as pending") || !strings.Contains(out, "1 re-queued as dead") || !strings.Contains(out, "1 already delivered or ignored") {
		t.Fatalf("recover: %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCmd("recover", "-c", cfgPath)
	if code != 0 || !strings.Contains(out, "29 already in the live store") {
		t.Errorf("a second recover must change nothing:\n%s", out)
	}
	st, err = store.Open(store.Options{Dir: storeDir, MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if s := st.Stats(); s.Pending != 28 || s.Dead != 1 {
		t.Errorf("live store after recovery: %+v; want 28 pending and 1 dead", s)
	}
	r, err := st.Get(notification.NewID("pos", "core", "t1", "LOST-7"))
	if err != nil || r.Payload.Amount != 1007 {
		t.Errorf("LOST-7 after recovery: %+v, %v", r, err)
	}
}

// TestFindTrail: find on a receipt's transactionRef prints the payment's
// whole trail, for one that failed three times and then was delivered.
func TestFindTrail(t *testing.T) {
	var failures atomic.Int32
	e := startOpsWith(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if strings.Contains(string(body), `"FIND-1"`) && failures.Add(1) <= 3 {
				// Retry-After is capped at retry_max_wait (1s).
				w.Header().Set("Retry-After", "6")
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	}, `retry_max_wait = "1s"`)
	e.refuse.Store(false)
	e.post(t, "FIND-1")
	e.post(t, "OTHER-1")
	waitUntil(t, "FIND-1 delivered", func() bool {
		_, out := e.run(t, "find", "FIND-1")
		return strings.Contains(out, "FIND-1  DELIVERED")
	})
	code, out := e.run(t, "find", "FIND-1")
	for _, want := range []string{"FIND-1  DELIVERED", "source       till (core)", "amount       99.50", "received     ", "from 127.0.0.1",
		"verified by  not checked (the source has no secret", "stored       ", "attempts     4", "now          delivered to Fluxvend at "} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("find (exit %d) lacks %q:\n%s", code, want, out)
		}
	}
	if n := strings.Count(out, "Fluxvend answered 503"); n != 3 || !strings.Contains(out, "Fluxvend answered 200") {
		t.Errorf("find shows %d attempts answered 503; want 3, then the 200:\n%s", n, out)
	}
	if strings.Contains(out, "OTHER-1") {
		t.Errorf("find FIND-1 shows another payment:\n%s", out)
	}
	t.Logf("fluxrelay find FIND-1:\n%s", out)
	var trails []admin.Trail
	_, js := e.run(t, "find", "FIND-1", "--json")
	if err := json.Unmarshal([]byte(js), &trails); err != nil || len(trails) != 1 || len(trails[0].Attempts) != 4 || trails[0].Where != "delivered" {
		t.Errorf("find --json: %v %s", err, js)
	}
	if code, out := e.run(t, "find", "NO-SUCH-RECEIPT"); code != 1 || !strings.Contains(out, "no notification has the reference") {
		t.Errorf("find of an unknown reference (exit %d): %s", code, out)
	}
}

// TestReplayWindow: replay queues again the dead letters received in a
// window (and with --delivered the delivered ones), says how many first,
// and does nothing without --yes when nobody can be asked.
func TestReplayWindow(t *testing.T) {
	e := startOps(t)
	e.post(t, "OK-1")
	for i := range 4 {
		e.post(t, fmt.Sprintf("DEAD-%d", i))
	}
	waitUntil(t, "four dead letters", func() bool { st := e.status(t); return st.DeadLetters == 4 && st.QueueDepth == 0 })
	today := time.Now().Add(-time.Hour).Format("2006-01-02 15:04")

	noTerminal, w, _ := os.Pipe() // as under a service manager or CI
	w.Close()
	stdin = noTerminal
	if code, out := e.run(t, "replay", "--since", today); code != 2 || !strings.Contains(out, "4 dead letter(s)") || !strings.Contains(out, "add --yes") {
		t.Errorf("replay without --yes and no terminal (exit %d):\n%s", code, out)
	}
	stdin = strings.NewReader("n\n") // a person who says no
	if code, out := e.run(t, "replay", "--since", today); code != 0 || !strings.Contains(out, "[y/N]") || !strings.Contains(out, "nothing replayed") {
		t.Errorf("replay answered no (exit %d):\n%s", code, out)
	}
	stdin = os.Stdin
	if code, out := e.run(t, "replay", "--since", today, "--source", "elsewhere", "--yes"); code != 0 || !strings.Contains(out, "nothing to replay") {
		t.Errorf("replay of another source (exit %d):\n%s", code, out)
	}
	if code, out := e.run(t, "replay", "--since", "yesterday-ish"); code != 1 || !strings.Contains(out, "want --since") {
		t.Errorf("replay with a bad time (exit %d):\n%s", code, out)
	}
	if e.status(t).DeadLetters != 4 {
		t.Fatal("a replay that was not confirmed changed something")
	}

	e.refuse.Store(false) // the mapping was fixed: Fluxvend takes them now
	if code, out := e.run(t, "replay", "--since", today, "--yes"); code != 0 || !strings.Contains(out, "4 queued again") {
		t.Fatalf("replay --yes (exit %d):\n%s", code, out)
	}
	waitUntil(t, "the replays delivered", func() bool { st := e.status(t); return st.DeadLetters == 0 && st.QueueDepth == 0 })
	sent := len(e.core.Accepted())

	// Fluxvend restored a backup: everything delivered goes out again.
	code, out := e.run(t, "replay", "--since", today, "--delivered", "--yes")
	if code != 0 || !strings.Contains(out, "0 dead letter(s) and 5 delivered notification(s)") || !strings.Contains(out, "5 queued again") {
		t.Fatalf("replay --delivered (exit %d):\n%s", code, out)
	}
	waitUntil(t, "the second round", func() bool { return len(e.core.Accepted()) == sent+5 && e.status(t).QueueDepth == 0 })
	keys := map[string]int{}
	for _, d := range e.core.Accepted() {
		keys[d.IdempotencyKey]++
	}
	if len(keys) != 5 {
		t.Errorf("%d distinct Idempotency-Keys over the replays; want 5, each notification its own", len(keys))
	}
}

// TestReportSums: report prints the exact sums of a day's sales, by where
// they are, and the status page shows the same totals.
func TestReportSums(t *testing.T) {
	e := startOps(t)
	for ref, amount := range map[string]string{"OK-A": "1500.50", "OK-B": "200.25", "OK-C": "0.10", "DEAD-0": "99.50"} {
		resp, err := http.Post(e.ingest+"/notify/till", "application/json", strings.NewReader(fmt.Sprintf(`{"transactionRef":%q,"amount":%q,"paymentMethod":"CARD"}`, ref, amount)))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("post %s: %v %v", ref, resp, err)
		}
		resp.Body.Close()
	}
	waitUntil(t, "three delivered, one dead letter", func() bool { st := e.status(t); return st.DeadLetters == 1 && st.QueueDepth == 0 })

	code, out := e.run(t, "report")
	for _, want := range []string{"till", "CARD", "4  1800.35", "3  1700.85", "0  0.00", "1  99.50", "all"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("report (exit %d) lacks %q:\n%s", code, want, out)
		}
	}
	var rep admin.Report
	_, js := e.run(t, "report", "--json", "--day", time.Now().Format("2006-01-02"))
	if err := json.Unmarshal([]byte(js), &rep); err != nil || len(rep.Days) != 1 {
		t.Fatalf("report --json: %v %s", err, js)
	}
	total := rep.Days[0].Total
	if total.Received.Sum != "1800.35" || total.Delivered.Sum != "1700.85" || total.NeedsPerson.Sum != "99.50" || total.Waiting.Count != 0 {
		t.Errorf("report totals %+v", total)
	}
	if code, out := e.run(t, "report", "--day", "2020-02-30"); code != 1 || !strings.Contains(out, "want days as") {
		t.Errorf("report of a day that does not exist (exit %d): %s", code, out)
	}

	// The page, through the admin socket, shows the same totals.
	resp, err := e.adminAPI.Get(e.adminURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "4 · ₦1,800.35") || !strings.Contains(string(page), "3 · ₦1,700.85") {
		t.Errorf("the page does not show the report's totals:\n%s", page)
	}
}

// startTestDaemon writes doc to cfg and runs a daemon on it until t ends.
func startTestDaemon(t *testing.T, cfg, doc, version string) *daemon.Daemon {
	t.Helper()
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(c, daemon.Options{Version: version, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

// adminNowhere is an [admin] table where no daemon answers.
func adminNowhere(t *testing.T, dir string) []string {
	if !socketServed {
		return []string{"socket = \"\"", fmt.Sprintf("listen = %q", loopback.FreeAddr(t))}
	}
	return []string{fmt.Sprintf("socket = %q", filepath.Join(dir, "none.sock")), "listen = \"\""}
}
