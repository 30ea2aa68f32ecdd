package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/config"
	"github.com/fluxrelay/fluxrelay/internal/syncbuf"
	"github.com/fluxrelay/fluxrelay/internal/testoutput"
	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
)

const (
	testKey    = "FXK_e2e_key"
	testSecret = "FXS_e2e_SECRET_value_42"
	tillSecret = "TILL_e2e_SECRET_value_7"
)

// answerSwitch is a fake core's answer that a test changes as it goes.
type answerSwitch struct{ code atomic.Int64 }

func switchable(code int) *answerSwitch {
	a := &answerSwitch{}
	a.code.Store(int64(code))
	return a
}

func (a *answerSwitch) set(code int)                       { a.code.Store(int64(code)) }
func (a *answerSwitch) answer(int, relaytest.Delivery) int { return int(a.code.Load()) }

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer = syncbuf.Buffer

// env is a config file, a data folder and a fake core shared by the
// daemons a test starts one after another.
type env struct {
	t       testing.TB
	dir     string
	cfgPath string
	core    *relaytest.Core
	coreSrv *httptest.Server
	logs    *syncBuffer
}

func newEnv(t testing.TB, answer func(int, relaytest.Delivery) int) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), logs: &syncBuffer{}}
	testoutput.Keep(t, "daemon", e.logs.String)
	e.core = &relaytest.Core{APIKey: testKey, APISecret: testSecret, Answer: answer}
	e.coreSrv = httptest.NewServer(e.core)
	t.Cleanup(e.coreSrv.Close)
	e.cfgPath = filepath.Join(e.dir, "fluxrelay.toml")
	e.writeConfig(testSecret, "")
	return e
}

func (e *env) writeConfig(secret, extra string) {
	e.t.Helper()
	doc := fmt.Sprintf(`version = 1
data_dir = "data"
[core]
url = "%s/webhooks/api/v1/i/acme/core"
tenant_id = "acme"
api_key = "%s"
api_secret = "%s"
retry_max_wait = "1s"
[http]
listen = "127.0.0.1:0"
max_body = "4KiB"
[mqtt]
mode = "off"
[admin]
socket = ""
listen = "127.0.0.1:0"
[[source]]
name = "till"
provider = "core"
[[source]]
name = "signed"
provider = "core"
secret = "%s"
%s`, e.coreSrv.URL, testKey, secret, tillSecret, extra)
	if err := os.WriteFile(e.cfgPath, []byte(doc), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// embedBroker turns on the embedded MQTT broker, on a free port, with one
// terminal user.
func (e *env) embedBroker(username, password string) {
	e.t.Helper()
	on := fmt.Sprintf("[mqtt]\nmode = \"embedded\"\nlisten = \"127.0.0.1:0\"\n[[mqtt.user]]\nusername = %q\npassword = %q", username, password)
	writeFile(e.t, e.cfgPath, strings.Replace(readFile(e.t, e.cfgPath), "[mqtt]\nmode = \"off\"", on, 1))
}

// running is one daemon started by a test.
type running struct {
	d      *Daemon
	url    string // ingest base URL
	admin  string
	reload chan struct{}
	stop   func()
}

func (e *env) start() *running { return e.startWithout("") }

// startWith starts a daemon with its options changed by tweak.
func (e *env) startWith(tweak func(*Options)) *running { return e.startOpts("", tweak) }

func (e *env) startWithout(skip string) *running { return e.startOpts(skip, nil) }

// startOpts starts a daemon with its options changed by tweak (when set);
// the listener named by skip is not waited for.
func (e *env) startOpts(skip string, tweak func(*Options)) *running {
	e.t.Helper()
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		e.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := Options{Version: "e2e", Logger: log, PauseProbe: time.Hour}
	if tweak != nil {
		tweak(&opts)
	}
	d, err := New(cfg, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{d: d, reload: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, r.reload) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("daemon stopped with %v", err)
				}
			case <-time.After(15 * time.Second):
				e.t.Fatal("daemon did not stop within 15s")
			}
		})
	}
	e.t.Cleanup(r.stop)
	if skip != "http" {
		addr := d.Addr("http", 10*time.Second)
		if addr == "" {
			e.t.Fatal("ingest listener did not come up")
		}
		r.url = "http://" + addr
	}
	r.admin = "http://" + d.Addr("admin", 10*time.Second)
	return r
}

type answer struct {
	Code   int
	Status string `json:"status"`
	ID     string `json:"id"`
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

func post(t testing.TB, url, body string, header ...string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, raw)
	}
	a.Code = resp.StatusCode
	return a
}

func (r *running) status(t *testing.T) Status {
	t.Helper()
	resp, err := http.Get(r.admin + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// settled waits until nothing is waiting or under way: a notification
// being sent stays pending until its outcome is written, so once the queue
// is empty nothing more can reach the core.
func (r *running) settled(t *testing.T) {
	t.Helper()
	waitFor(t, "an empty queue", func() bool { return r.status(t).QueueDepth == 0 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEndToEnd posts one notification and expects exactly one valid,
// correctly signed delivery with the documented body.
func TestEndToEnd(t *testing.T) {
	e := newEnv(t, nil)
	r := e.start()
	a := post(t, r.url+"/notify/till", `{"transactionRef":"SALE-1","amount":"15750.5","paymentMethod":"CARD","customer":{"name":"Ada"},"transactionDate":"2026-03-14T10:22:33+01:00","lane":3}`)
	if a.Code != 200 || a.Status != "queued" || a.ID != notification.NewID("till", "core", "acme", "SALE-1") {
		t.Fatalf("answer %+v", a)
	}
	waitFor(t, "the delivery", func() bool { return len(e.core.Accepted()) == 1 })
	r.settled(t) // nothing more can be sent
	got := e.core.Received()
	if len(got) != 1 || !got[0].Valid {
		t.Fatalf("core received %d requests (valid: %v); want exactly one valid", len(got), got[0].Valid)
	}
	want := `{"tenantId":"acme","transactionRef":"SALE-1","paymentRef":"","paymentMethod":"CARD","amount":15750.50,"customer":{"id":"","name":"Ada","email":"","phone":""},"transactionDate":"2026-03-14T09:22:33Z","accountNumber":"","bankCode":"","bankName":"","accountName":"","lane":3}`
	if string(got[0].Body) != want {
		t.Errorf("body\n%s\nwant\n%s", got[0].Body, want)
	}
	if got[0].IdempotencyKey != a.ID || got[0].UserAgent != "fluxrelay/e2e" {
		t.Errorf("headers %+v", got[0])
	}
	if again := post(t, r.url+"/notify/till", `{"transactionRef":"SALE-1","amount":15750.50,"paymentMethod":"CARD","customer":{"name":"Ada"},"transactionDate":"2026-03-14T09:22:33Z","lane":3}`); again.Status != "duplicate" || again.ID != a.ID {
		t.Errorf("resend answer %+v; want duplicate with the same id", again)
	}
	s := r.status(t)
	if s.State != StateOK || s.Sources["till"].Delivered != 1 || s.Sources["till"].Duplicates != 1 || s.QueueDepth != 0 || s.LastDeliveryAt == nil {
		t.Errorf("status %+v", s)
	}
}

// TestRetryAcrossRestart: the core fails, the daemon restarts, and the
// notification is delivered after the restart with the same body and key.
func TestRetryAcrossRestart(t *testing.T) {
	core := switchable(http.StatusInternalServerError)
	e := newEnv(t, core.answer)
	r := e.start()
	a := post(t, r.url+"/notify/till", `{"transactionRef":"SALE-2","amount":100}`)
	waitFor(t, "a failed attempt", func() bool { return len(e.core.Received()) > 0 })
	r.stop()
	core.set(http.StatusOK)
	r2 := e.start()
	waitFor(t, "delivery after restart", func() bool { return len(e.core.Accepted()) == 1 })
	all := e.core.Received()
	for _, d := range all {
		if string(d.Body) != string(all[0].Body) || d.IdempotencyKey != a.ID {
			t.Fatalf("an attempt differs: %s / %s", d.Body, d.IdempotencyKey)
		}
	}
	// The outcome is written just after Fluxvend answers.
	waitFor(t, "an empty queue", func() bool { return r2.status(t).QueueDepth == 0 })
	if s := r2.status(t); s.Sources["till"].Delivered != 1 {
		t.Errorf("status after delivery %+v", s)
	}
}

func TestDeadLetterAndPause(t *testing.T) {
	core := switchable(http.StatusUnprocessableEntity)
	e := newEnv(t, core.answer)
	r := e.start()
	post(t, r.url+"/notify/till", `{"transactionRef":"BAD-1","amount":100}`)
	waitFor(t, "a dead letter", func() bool { return r.status(t).DeadLetters == 1 })

	core.set(http.StatusUnauthorized)
	post(t, r.url+"/notify/till", `{"transactionRef":"AUTH-1","amount":100}`)
	waitFor(t, "the pause", func() bool { st := r.status(t); return len(st.Targets) > 0 && st.Targets[0].Mode == "paused" })
	s := r.status(t)
	if s.DeadLetters != 1 || s.QueueDepth != 1 || !strings.Contains(strings.Join(s.Reasons, " "), "401") {
		t.Fatalf("after a 401: %+v", s)
	}
	// A dashboard alerts on the same facts.
	_, metrics := get(t, r.admin+"/metrics", "")
	for _, want := range []string{`fluxrelay_deliveries_paused{mode="paused"} 1`, "fluxrelay_dead_letters 1", `fluxrelay_state{state="action_needed"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A reload with the right secret lifts the pause; the dead letter
	// still waits for a person, so the state is not OK.
	core.set(http.StatusOK)
	r.reload <- struct{}{}
	waitFor(t, "delivery after the reload", func() bool { return r.status(t).QueueDepth == 0 })
	s = r.status(t)
	if s.State != StateActionNeeded || s.DeadLetters != 1 || !strings.Contains(strings.Join(s.Reasons, " "), "1 payment(s) could not be sent to Fluxvend") || !s.ConfigReload.OK {
		t.Errorf("after the reload, with a dead letter waiting: %+v", s)
	}
	if !strings.Contains(e.logs.String(), "dead letter: a payment waits for a person") || !strings.Contains(e.logs.String(), "transaction_ref=BAD-1") {
		t.Errorf("the dead letter was not logged with its transactionRef")
	}
	// Replayed and delivered, nothing needs a person: OK again.
	id := notification.NewID("till", "core", "acme", "BAD-1")
	if resp := r.change(t, http.MethodPost, "/api/dead-letters/"+id+"/replay"); resp.StatusCode != http.StatusOK {
		t.Fatalf("replay: %v", resp.Status)
	}
	waitFor(t, "OK after the replay", func() bool { return r.status(t).State == StateOK })
}

// TestBadInputStoresNothing sends malformed requests; each gets its 4xx
// with a JSON error naming the problem, and nothing is stored.
func TestBadInputStoresNothing(t *testing.T) {
	e := newEnv(t, nil)
	r := e.start()
	big := `{"transactionRef":"X","amount":1,"pad":"` + strings.Repeat("x", 5000) + `"}`
	signed := `{"transactionRef":"SIG-1","amount":10}`
	for _, c := range []struct {
		path, body string
		header     []string
		code       int
		want       string
	}{
		{"/notify/till", `{"transactionRef":`, nil, 400, "not valid JSON"},
		{"/notify/till", `not json`, nil, 400, "not JSON"},
		{"/notify/till", `{"transactionRef":42,"amount":1}`, nil, 400, "transactionRef: got 42, want a string"},
		{"/notify/till", `{"transactionRef":"A","amount":"1.999"}`, nil, 400, "amount"},
		{"/notify/till", `{"transactionRef":"A","amount":1,"tenantId":"evil"}`, nil, 400, "tenantId"},
		{"/notify/till", big, nil, 413, "http.max_body"},
		{"/notify/nowhere", `{}`, nil, 404, `no source named "nowhere"`},
		{"/notify/signed", signed, nil, 401, "Signature header is missing"},
		{"/notify/signed", signed, []string{"Signature", notification.Sign("wrong", []byte(signed))}, 401, "does not match"},
		{"/other", `{}`, nil, 404, "POST /notify/{source}"},
	} {
		a := post(t, r.url+c.path, c.body, c.header...)
		if a.Code != c.code || !strings.Contains(a.Error, c.want) {
			t.Errorf("POST %s %.40q: %d %q; want %d naming %q", c.path, c.body, a.Code, a.Error, c.code, c.want)
		}
	}
	if s := r.status(t); s.QueueDepth != 0 || s.DeadLetters != 0 || s.Sources["till"].Rejected != 6 || s.Sources["till"].Received != 6 {
		t.Errorf("after bad input: queue %d, dead %d, till received %d rejected %d; want 0, 0, 6, 6 (the oversize body counted too)", s.QueueDepth, s.DeadLetters, s.Sources["till"].Received, s.Sources["till"].Rejected)
	}
	if got := post(t, r.url+"/notify/signed", signed, "Signature", notification.Sign(tillSecret, []byte(signed))); got.Status != "queued" {
		t.Errorf("a correctly signed request was %+v", got)
	}
}

// TestReloadKeepsOldConfigWhenInvalid and applies a rotated secret to what
// is still queued.
func TestReload(t *testing.T) {
	core := switchable(http.StatusServiceUnavailable)
	e := newEnv(t, core.answer)
	r := e.start()
	post(t, r.url+"/notify/till", `{"transactionRef":"ROT-1","amount":100}`)
	waitFor(t, "a first attempt", func() bool { return len(e.core.Received()) > 0 })

	e.writeConfig(testSecret, "bogus_key = 1\n")
	r.reload <- struct{}{}
	waitFor(t, "the failed reload", func() bool { return !r.status(t).ConfigReload.OK })
	if s := r.status(t); !strings.Contains(s.ConfigReload.Error, "bogus_key: unknown key") {
		t.Errorf("reload error %q", s.ConfigReload.Error)
	}
	if a := post(t, r.url+"/notify/till", `{"transactionRef":"ROT-2","amount":100}`); a.Status != "queued" {
		t.Errorf("after a bad reload ingest answered %+v", a)
	}

	e.core.SetSecret("FXS_rotated_secret")
	e.writeConfig("FXS_rotated_secret", "")
	r.reload <- struct{}{}
	waitFor(t, "the good reload", func() bool { return r.status(t).ConfigReload.OK })
	core.set(http.StatusOK)
	waitFor(t, "both delivered", func() bool { return len(e.core.Accepted()) == 2 })
	for _, d := range e.core.Accepted() {
		if !notification.Verify("FXS_rotated_secret", d.Body, d.Signature) {
			t.Errorf("a queued notification was not signed with the rotated secret")
		}
	}
}

// TestSecretsNotLogged runs a daemon through failures and refusals at debug
// level and looks for every secret in what it logged and answered.
func TestSecretsNotLogged(t *testing.T) {
	// Every way a delivery can end, each logged somewhere: a 500 then a
	// 200 (retried, delivered), a 422 (dead letter), then a 401 for
	// everything (paused, ACTION NEEDED).
	var refuseAll atomic.Bool
	e := newEnv(t, func(n int, d relaytest.Delivery) int {
		body := string(d.Body)
		switch {
		case refuseAll.Load():
			return 401
		case strings.Contains(body, `"S-1"`) && n == 1:
			return 500
		case strings.Contains(body, `"S-2"`):
			return 422
		}
		return 200
	})
	r := e.start()
	var answers strings.Builder
	for i, body := range []string{`{"transactionRef":"S-1","amount":1}`, `{"transactionRef":"S-2","amount":1}`, `bad`} {
		a := post(t, r.url+"/notify/signed", body, "Signature", notification.Sign(tillSecret, []byte(body)))
		fmt.Fprintf(&answers, "%d %+v\n", i, a)
	}
	post(t, r.url+"/notify/signed", `{"transactionRef":"S-3","amount":1}`, "Signature", "d3Jvbmc=")
	waitFor(t, "S-1 delivered after its 500, S-2 dead-lettered", func() bool {
		return len(e.core.Accepted()) == 1 && r.status(t).DeadLetters == 1
	})
	refuseAll.Store(true)
	post(t, r.url+"/notify/till", `{"transactionRef":"S-4","amount":1}`)
	waitFor(t, "the pause", func() bool {
		return r.status(t).State == StateActionNeeded && len(r.status(t).Targets) > 0 && r.status(t).Targets[0].Mode == "paused"
	})
	st, _ := json.Marshal(r.status(t))
	r.stop()
	out := e.logs.String() + answers.String() + string(st)
	for _, secret := range []string{testSecret, tillSecret, testKey + ":" + testSecret} {
		if strings.Contains(out, secret) {
			t.Errorf("secret %q appears in logs, answers or status", secret)
		}
	}
	for _, want := range []string{"fluxrelay started", "deliveries paused"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q is not in the logs or status; the test would prove less than it says", want)
		}
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
