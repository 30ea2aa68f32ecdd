package main

import (
	"context"
	"fmt"
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
	"github.com/fluxrelay/fluxrelay/health"
	"github.com/fluxrelay/fluxrelay/internal/mosquittotest"
	"github.com/fluxrelay/fluxrelay/internal/syncbuf"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
)

// TestDoctorLeavesNoTrace runs doctor against a running daemon with its
// embedded broker: Fluxvend gets no request (so no 401 in its logs), and
// the broker logs no fault (a connection that sent nothing is a WARN in
// its log).
func TestDoctorLeavesNoTrace(t *testing.T) {
	var requests atomic.Int32
	core := &relaytest.Core{APIKey: "K", APISecret: "S"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		core.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "fluxrelay.toml")
	doc := fmt.Sprintf(`version = 1
gateway = "Doctor test"
data_dir = "data"
[core]
url = "%s/hook"
tenant_id = "acme"
api_key = "K"
api_secret = "S"
[http]
listen = "127.0.0.1:0"
[mqtt]
mode = "embedded"
listen = "127.0.0.1:0"
[[mqtt.user]]
username = "till-1"
password = "till-1-password"
[admin]
%s
[[source]]
name = "till"
provider = "core"
`, srv.URL, adminUp(t, filepath.Join(dir, "run", "admin.sock")))
	if err := os.WriteFile(cfgPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	d, err := daemon.New(cfg, daemon.Options{Version: "doctor-test", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	for _, l := range []string{"http", "mqtt"} {
		if d.Addr(l, 10*time.Second) == "" {
			t.Fatalf("%s did not come up", l)
		}
	}
	adminCameUp(t, d)
	mqttAddr := d.Addr("mqtt", time.Second)
	before := logs.String()
	code, out, _ := runCmd("doctor", "-c", cfgPath)
	for _, want := range []string{"OK    core      ", "no request sent", "OK    mqtt      mqtt.listen", "is up (the running daemon says)", "OK    daemon    fluxrelay doctor-test is running", "doctor --help says what each check does"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor lacks %q:\n%s", want, out)
		}
	}
	_ = code // the data dir may be on tmpfs here: a FAIL of its own
	if n := requests.Load(); n != 0 {
		t.Errorf("doctor made %d request(s) to Fluxvend; it must make none (a 401 in Fluxvend's logs)", n)
	}
	// What the broker logs of a connection comes from a goroutine of its
	// own: one that sends nothing, made after doctor's, is the marker.
	// Once its WARN is there, any of doctor's would be too.
	c, err := net.Dial("tcp", mqttAddr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitUntil(t, "the broker to log the marker connection", func() bool {
		return strings.Contains(strings.TrimPrefix(logs.String(), before), "level=WARN")
	})
	after := strings.TrimPrefix(logs.String(), before)
	if n := strings.Count(after, "level=WARN") + strings.Count(after, "level=ERROR"); n != 1 {
		t.Errorf("doctor left a fault in the daemon's log (its broker's); only the marker's WARN may be there:\n%s", after)
	}
}

// TestDoctorLogsInToExternalBroker: with the daemon stopped, doctor logs
// in to the external broker with the config's credentials under a client
// id of its own, and disconnects cleanly: mosquitto logs a client that
// came and went, not one that dropped its connection.
func TestDoctorLogsInToExternalBroker(t *testing.T) {
	b := mosquittotest.Start(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "fluxrelay.toml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("version = 1\ngateway = \"Doctor test\"\ndata_dir = \"data\"\n[mqtt]\nmode = \"external\"\nbroker = \"tcp://%s\"\nclient_id = \"gw-1\"\n[admin]\nsocket = %q\nlisten = \"\"\n",
		b.Addr, filepath.Join(dir, "none.sock"))), 0o600)
	_, out, _ := runCmd("doctor", "-c", cfgPath)
	m := regexp.MustCompile(`client id (fluxrelay-doctor-\d+)`).FindStringSubmatch(out)
	if !strings.Contains(out, "OK    mqtt      logged in to the broker tcp://"+b.Addr) || m == nil {
		t.Fatalf("doctor against a reachable broker:\n%s", out)
	}
	gone := regexp.MustCompile(`Client ` + m[1] + ` (disconnected\.|closed its connection)`)
	var log string
	waitUntil(t, "mosquitto to log doctor's client leaving", func() bool { log = b.Log(); return gone.MatchString(log) })
	if how := gone.FindStringSubmatch(log)[1]; how != "disconnected." || strings.Contains(log, "gw-1") {
		t.Errorf("mosquitto saw doctor's client %s leave with %q (want a clean disconnect, under doctor's own id):\n%s", m[1], how, log)
	}
}

// TestDoctorNamesEveryReason: every reason the state can give is a line of
// doctor, or told by another of its checks; and a reason that needs a
// person is a FAIL.
func TestDoctorNamesEveryReason(t *testing.T) {
	for code := range health.Codes {
		if _, ok := reasonLine[code]; !ok {
			t.Errorf("the reason %q has no line in doctor (reasonLine)", code)
		}
	}
	st := &admin.Status{Version: "x", State: health.ActionNeeded, ReasonsDetail: []health.Reason{
		{Code: "paused", State: health.ActionNeeded, Technician: "Fluxvend answered 403: …"},
		{Code: "outage", State: health.Delayed, Technician: "Fluxvend is not taking notifications"},
		{Code: "restart_needed", Technician: "restart fluxrelay to apply [http.listen]"},
		{Code: "clock_skew", State: health.Delayed, Technician: "told by the clock check"},
	}}
	got := probeDaemon(&doctorEnv{st: st})
	want := []check{{"OK", "daemon", "fluxrelay x is running: ACTION NEEDED, 0 waiting"}, {"FAIL", "deliveries", "paused: Fluxvend answered 403: …"},
		{"WARN", "deliveries", "Fluxvend is not taking notifications"}, {"WARN", "config", "restart fluxrelay to apply [http.listen]"}, {"OK", "dead letters", "none waiting"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("doctor's lines for the daemon's reasons:\n got %v\nwant %v", got, want)
	}
	skew := 200.0
	if c := probeClock(&doctorEnv{now: time.Now(), st: &admin.Status{ClockSkewSeconds: &skew}}); c[0].level != "WARN" || !strings.Contains(c[0].msg, "3m20s off Fluxvend's") {
		t.Errorf("a skew past health.MaxSkew: %v", c)
	}
	if c := probeClock(&doctorEnv{now: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)}); c[0].level != "FAIL" {
		t.Errorf("a clock in 1970: %v", c)
	}
}

// TestDoctorHelpSaysWhatEachCheckDoes: doctor --help lists every check and
// what it does, the network ones what they send.
func TestDoctorHelpSaysWhatEachCheckDoes(t *testing.T) {
	code, out, _ := runCmd("doctor", "--help")
	if code != 0 {
		t.Fatalf("doctor --help: exit %d", code)
	}
	for _, p := range probes {
		if !strings.Contains(out, p.name) || !strings.Contains(out, p.does) {
			t.Errorf("doctor --help does not say what %q does:\n%s", p.name, out)
		}
	}
	if !strings.Contains(out, "no HTTP request is sent") {
		t.Errorf("doctor --help does not say that Fluxvend gets no request:\n%s", out)
	}
}
