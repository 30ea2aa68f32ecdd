package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/listen"
	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
)

// TestPortTakenIsRetried: a taken ingest port does not stop the daemon;
// the state says ACTION NEEDED with the fix, and the listener comes up once
// the port is free.
func TestPortTakenIsRetried(t *testing.T) {
	e := newEnv(t, nil)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", taken.Addr()), 1))
	r := e.startWithout("http")
	waitFor(t, "ACTION NEEDED", func() bool { return r.status(t).State == StateActionNeeded })
	st := r.status(t)
	if reason := strings.Join(st.Reasons, " "); !strings.Contains(reason, "http.listen "+taken.Addr().String()+" cannot be used") || !strings.Contains(reason, "stop the program using that port") {
		t.Errorf("reason %q", reason)
	}
	taken.Close()
	deadline := time.Now().Add(3 * listen.Every)
	for r.d.Addr("http", 100*time.Millisecond) == "" {
		if time.Now().After(deadline) {
			t.Fatal("the listener did not come up after the port was freed")
		}
	}
	if a := post(t, "http://"+taken.Addr().String()+"/notify/till", `{"transactionRef":"PORT-1","amount":1}`); a.Status != "queued" {
		t.Errorf("after the retry: %+v", a)
	}
	waitFor(t, "OK", func() bool { return r.status(t).State == StateOK })
}

// TestSourceForAnotherTenant: a source with its own core_url, tenant_id,
// api_key and api_secret is delivered to that tenant's webhook, signed with
// its secret, while the rest go to the default.
func TestSourceForAnotherTenant(t *testing.T) {
	other := &relaytest.Core{APIKey: "K2", APISecret: "S2"}
	srv := httptest.NewServer(other)
	defer srv.Close()
	e := newEnv(t, nil)
	e.writeConfig(testSecret, fmt.Sprintf(`[[source]]
name = "shop2"
provider = "core"
core_url = "%s/webhooks/api/v1/i/tenant2/core"
tenant_id = "tenant2"
api_key = "K2"
api_secret = "S2"
`, srv.URL))
	r := e.start()
	post(t, r.url+"/notify/till", `{"transactionRef":"T1-1","amount":1}`)
	if a := post(t, r.url+"/notify/shop2", `{"transactionRef":"T2-1","amount":2}`); a.ID != notification.NewID("shop2", "core", "tenant2", "T2-1") {
		t.Errorf("shop2 id %s is not derived from tenant2", a.ID)
	}
	waitFor(t, "both tenants", func() bool { return len(e.core.Accepted()) == 1 && len(other.Accepted()) == 1 })
	if b := string(other.Accepted()[0].Body); !strings.Contains(b, `"tenantId":"tenant2"`) {
		t.Errorf("tenant2 got %s", b)
	}
	if b := string(e.core.Accepted()[0].Body); !strings.Contains(b, `"tenantId":"acme"`) {
		t.Errorf("the default tenant got %s", b)
	}
}

// TestHTTPSIngest serves ingest over TLS with http.tls_cert_file and
// tls_key_file.
func TestHTTPSIngest(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	e := newEnv(t, nil)
	writeFile(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), "[http]\n", fmt.Sprintf("[http]\ntls_cert_file = %q\ntls_key_file = %q\n", cert, key), 1))
	r := e.start()
	addr := strings.TrimPrefix(r.url, "http://")
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Post("https://"+addr+"/notify/till", "application/json", strings.NewReader(`{"transactionRef":"TLS-1","amount":1}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("HTTPS ingest: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp, err := http.Post("http://"+addr+"/notify/till", "application/json", strings.NewReader(`{}`)); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP was accepted on a TLS listener")
	}
}

func selfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gateway"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

// TestReloadReportsRestartKeys: keys that need a restart are named in the
// status, not applied, while live keys apply.
func TestReloadReportsRestartKeys(t *testing.T) {
	e := newEnv(t, nil)
	r := e.start()
	writeFile(t, e.cfgPath, strings.Replace(strings.Replace(readFile(t, e.cfgPath), `max_body = "4KiB"`, `max_body = "8KiB"`, 1), `data_dir = "data"`, `data_dir = "elsewhere"`, 1)+"[log]\nlevel = \"debug\"\n")
	r.reload <- struct{}{}
	waitFor(t, "the reload", func() bool { return len(r.status(t).ConfigReload.RestartNeeded) > 0 })
	st := r.status(t)
	if got := strings.Join(st.ConfigReload.RestartNeeded, ","); got != "data_dir,http.max_body" || !st.ConfigReload.OK {
		t.Errorf("restart needed = %q (ok %v); want data_dir,http.max_body", got, st.ConfigReload.OK)
	}
	if !strings.Contains(strings.Join(st.Reasons, " "), "restart fluxrelay to apply") {
		t.Errorf("reasons %v do not say a restart is needed", st.Reasons)
	}
	big := `{"transactionRef":"BIG","amount":1,"pad":"` + strings.Repeat("p", 5000) + `"}`
	if a := post(t, r.url+"/notify/till", big); a.Code != 413 {
		t.Errorf("http.max_body changed without a restart: %d", a.Code)
	}
}

// TestClockSkewFromFluxvend: when Fluxvend's Date says this clock is off,
// status shows the skew and says to fix NTP.
func TestClockSkewFromFluxvend(t *testing.T) {
	e := newEnv(t, nil)
	e.core.DateOffset = -10 * time.Minute
	r := e.start()
	post(t, r.url+"/notify/till", `{"transactionRef":"SKEW-1","amount":1}`)
	// The skew is read from the answer once the relay has it, after the
	// core has the delivery.
	waitFor(t, "the answer's clock", func() bool { return r.status(t).ClockSkewSeconds != nil })
	st := r.status(t)
	if st.ClockSkewSeconds == nil || *st.ClockSkewSeconds < 590 || *st.ClockSkewSeconds > 610 {
		t.Fatalf("clock_skew_seconds = %v; want about 600", st.ClockSkewSeconds)
	}
	if st.State != StateDelayed || !strings.Contains(strings.Join(st.Reasons, " "), "timedatectl set-ntp true") {
		t.Errorf("status %s %v; want DELAYED with the NTP fix", st.State, st.Reasons)
	}
}

// TestDamagedStoreFiles: with files of the store cut short while the
// daemon was down (the blobs that hold large notifications' bodies), it
// still starts, delivers what it can read and says how many notifications
// it could not.
func TestDamagedStoreFiles(t *testing.T) {
	core := switchable(http.StatusServiceUnavailable)
	e := newEnv(t, core.answer)
	writeFile(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), `max_body = "4KiB"`, `max_body = "256KiB"`, 1))
	r := e.start()
	// Notifications of 64 KB or more (compressed) keep their bodies in
	// blobs: random hex compresses to half.
	for i := range 40 {
		pad := make([]byte, 100<<10)
		rand.Read(pad)
		if a := post(t, r.url+"/notify/till", fmt.Sprintf(`{"transactionRef":"DMG-%02d","amount":1,"pad":%q}`, i, hex.EncodeToString(pad))); a.Code != http.StatusOK {
			t.Fatalf("DMG-%02d: %+v", i, a)
		}
	}
	r.stop()
	blobs, _ := filepath.Glob(filepath.Join(e.dir, "data", "store", "blobs", "*"))
	if len(blobs) != 40 {
		t.Fatalf("%d blobs for 40 large notifications", len(blobs))
	}
	for _, f := range blobs[:20] {
		fi, _ := os.Stat(f)
		os.Truncate(f, fi.Size()/2)
	}
	core.set(http.StatusOK)
	r2 := e.start()
	waitFor(t, "the readable ones delivered", func() bool {
		st := r2.status(t)
		return st.QueueDepth == 0 && len(e.core.Accepted()) > 0
	})
	st := r2.status(t)
	if st.State != StateActionNeeded || !strings.Contains(strings.Join(st.Reasons, " "), "could not be read back") {
		t.Errorf("status %s %v; want ACTION NEEDED naming the damaged notifications", st.State, st.Reasons)
	}
	if n := len(e.core.Accepted()); n != 20 {
		t.Errorf("%d delivered; want the 20 whose blobs are whole", n)
	}
}

// TestReloadAppliesOrReportsEveryKey: the keys that used to be reloaded
// "OK" and never applied are now applied (admin.token) or reported as
// needing a restart (log.format, mqtt.ca_file).
func TestReloadAppliesOrReportsEveryKey(t *testing.T) {
	e := newEnv(t, nil)
	withToken := func(token string) string {
		return strings.Replace(readFile(t, e.cfgPath), "listen = \"127.0.0.1:0\"\n[[source]]", "listen = \"127.0.0.1:0\"\ntoken = \""+token+"\"\n[[source]]", 1)
	}
	base := readFile(t, e.cfgPath)
	writeFile(t, e.cfgPath, withToken("first-admin-token"))
	r := e.start()
	if code, _ := get(t, r.admin+"/api/status", "first-admin-token"); code != 200 {
		t.Fatalf("the first token: %d", code)
	}
	ca := filepath.Join(e.dir, "ca.pem")
	writeFile(t, ca, "not read until a restart")
	writeFile(t, e.cfgPath, strings.Replace(base, "[[source]]", "token = \"second-admin-token\"\n[log]\nformat = \"json\"\n[[source]]", 1))
	writeFile(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), "mode = \"off\"", "mode = \"off\"\nca_file = '"+ca+"'", 1)) // a literal string: a Windows path has backslashes
	r.reload <- struct{}{}
	waitFor(t, "the reload", func() bool {
		code, _ := get(t, r.admin+"/api/status", "second-admin-token")
		return code == 200
	})
	if code, _ := get(t, r.admin+"/api/status", "first-admin-token"); code != 401 {
		t.Errorf("the old admin token still works after a reload: %d", code)
	}
	var st Status
	_, body := get(t, r.admin+"/api/status", "second-admin-token")
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(st.ConfigReload.RestartNeeded, ","); got != "log.format,mqtt.ca_file" || !st.ConfigReload.OK {
		t.Errorf("restart needed %q (ok %v); want log.format,mqtt.ca_file", got, st.ConfigReload.OK)
	}
	if !strings.Contains(e.logs.String(), "mqtt.ca_file (the broker's or subscription's TLS is set up at start)") {
		t.Errorf("the log does not say which keys need a restart, and why")
	}
}
