package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/mosquittotest"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
)

// The MQTT guide's keys and logins: invented, as in the provider fixtures.
const (
	guidePassword   = "guide-terminal-pw"
	guideTillSecret = "guide-till-secret"
	guideMonnify    = "DEMOCLIENTSECRET0000FLUXVEND0001"
	guideMoniepoint = "whsec_demo_moniepoint_pos_0001"
	guideOPayKey    = "OPAYPRV00000000000000.DEMOKEY0000000001"
	guideVesicash   = "v_TEST_demo_private_key_0001"
	guideBusiness   = "1000123"
	guideMerchant   = "256600000000002"
)

// TestMQTTGuideExamples runs every mosquitto_pub example of docs/mqtt.md as
// it is printed there, in bash with the real mosquitto_pub, jq and openssl,
// against a running daemon's embedded broker. Only what the guide tells the
// reader to replace is replaced: the host (here with the port), and the
// variables and files each example names, filled from the provider
// fixtures. Each example must leave exactly one queued notification for its
// source and no refusal.
func TestMQTTGuideExamples(t *testing.T) {
	for _, tool := range []string{"mosquitto_pub", "jq", "openssl", "bash"} {
		mosquittotest.NeedTool(t, tool)
	}
	guide, err := os.ReadFile("../../docs/mqtt.md")
	if err != nil {
		t.Fatal(err)
	}
	examples := shellBlocks(t, string(guide), "## Examples with mosquitto_pub")
	fixture := func(provider, name string) string { return filepath.Join("../../provider/testdata", provider, name) }

	// What the reader supplies for each example, keyed by its topic's source.
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	moniepointBody := must(os.ReadFile(fixture("moniepoint-pos", "v1_pos_purchase_transaction.json")))
	setups := map[string]struct {
		secret string            // the source's secret, when the example signs with $SECRET
		files  map[string]string // file the example reads -> fixture
		env    []string
	}{
		"till":     {},
		"monnify":  {files: map[string]string{"monnify.json": fixture("monnify", "successful_transaction_card.json")}, env: []string{"SECRET=" + guideMonnify}},
		"opay":     {files: map[string]string{"opay-callback.json": fixture("opay", "cashier_callback_success_card.json")}},
		"opay-pos": {files: map[string]string{"pay.json": fixture("opay", "offline_general_payment_webhook_pos_card.json")}, env: []string{"MERCHANT=" + guideMerchant, "PAYNO=250314000000000001"}},
		"vesicash": {files: map[string]string{"vesicash.json": fixture("vesicash", "payment_success_transfer_verified.json")}, env: []string{"SIG=" + vesicashHeader(guideVesicash, guideBusiness)}},
		"moniepoint": {files: map[string]string{"event.json": fixture("moniepoint-pos", "v1_pos_purchase_transaction.json")},
			env: []string{"ID=5d6e7f80-91a2-4b3c-8d4e-5f6a7b8c9d0e", "TS=" + ts, "SIG=" + moniepointSignature(guideMoniepoint, "5d6e7f80-91a2-4b3c-8d4e-5f6a7b8c9d0e", ts, moniepointBody)}},
	}
	topic := regexp.MustCompile(`-t fluxrelay/([a-z-]+)/`)
	seen := map[string]int{}
	for i, block := range examples {
		m := topic.FindStringSubmatch(block)
		if m == nil {
			t.Fatalf("example %d names no fluxrelay/{source}/ topic:\n%s", i+1, block)
		}
		src := m[1]
		seen[src]++
		setup, ok := setups[src]
		if !ok {
			t.Fatalf("example %d publishes for source %q, which this test does not know: add it", i+1, src)
		}
		// The till's second example is the same source with a secret set.
		signed := strings.Contains(block, "$SECRET") && src == "till"
		t.Run(fmt.Sprintf("%d-%s", i+1, src), func(t *testing.T) {
			d := startGuideDaemon(t, signed)
			dir := t.TempDir()
			for name, from := range setup.files {
				if err := os.WriteFile(filepath.Join(dir, name), must(os.ReadFile(from)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			host, port, _ := net.SplitHostPort(d.mqtt)
			script := strings.ReplaceAll(block, "-h gateway", "-h "+host+" -p "+port)
			cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PW="+guidePassword)
			if signed {
				cmd.Env = append(cmd.Env, "SECRET="+guideTillSecret)
			}
			cmd.Env = append(cmd.Env, setup.env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("the example failed: %v\n%s\n%s", err, script, out)
			}
			waitUntil(t, "the example's notification to be stored or refused", func() bool {
				s := d.status(t).Sources[src]
				return s.Queued+s.Rejected+s.Held+s.Ignored > 0
			})
			st := d.status(t)
			if s := st.Sources[src]; s.Queued != 1 || s.Rejected+s.Held+s.Ignored != 0 || len(st.Rejections) != 0 {
				t.Errorf("source %s: %+v, refusals %+v", src, s, st.Rejections)
			}
		})
	}
	for src := range setups {
		if seen[src] == 0 {
			t.Errorf("the guide has no example for source %q any more", src)
		}
	}
}

// shellBlocks returns the ```sh blocks after the heading, up to the next one.
func shellBlocks(t *testing.T, doc, heading string) []string {
	t.Helper()
	start := strings.Index(doc, heading)
	if start < 0 {
		t.Fatalf("no %q in the guide", heading)
	}
	doc = doc[start+len(heading):]
	if end := strings.Index(doc, "\n## "); end >= 0 {
		doc = doc[:end]
	}
	var blocks []string
	for _, part := range strings.Split(doc, "```sh\n")[1:] {
		blocks = append(blocks, part[:strings.Index(part, "```")])
	}
	if len(blocks) == 0 {
		t.Fatal("the guide's examples have no sh blocks")
	}
	return blocks
}

// guideDaemon is a daemon with every provider as a source, the embedded
// broker and the logins the guide's examples use.
type guideDaemon struct {
	opsEnv
	mqtt string
}

func startGuideDaemon(t *testing.T, tillSigned bool) *guideDaemon {
	t.Helper()
	core := &relaytest.Core{APIKey: "K", APISecret: "S"}
	srv := httptest.NewServer(core)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	d := &guideDaemon{}
	d.socket = filepath.Join(dir, "admin.sock")
	d.cfg = filepath.Join(dir, "fluxrelay.toml")
	till := ""
	if tillSigned {
		till = fmt.Sprintf("secret = %q", guideTillSecret)
	}
	var users strings.Builder
	for _, u := range []string{"till-1", "pos-1", "pos-2"} {
		fmt.Fprintf(&users, "[[mqtt.user]]\nusername = %q\npassword = %q\n", u, guidePassword)
	}
	doc := fmt.Sprintf(`version = 1
data_dir = "data"
[core]
url = "%s/hook"
tenant_id = "demo-shop-tenant"
api_key = "K"
api_secret = "S"
[http]
listen = "127.0.0.1:0"
[mqtt]
mode = "embedded"
listen = "127.0.0.1:0"
%s
[admin]
socket = %q
listen = ""
[[source]]
name = "till"
provider = "core"
%s
[[source]]
name = "monnify"
provider = "monnify"
secret = %q
allow = ["203.0.113.0/24"] # the provider's HTTP senders; MQTT logins are checked instead
[[source]]
name = "moniepoint"
provider = "moniepoint-pos"
secret = %q
allow = ["203.0.113.0/24"] # the provider's HTTP senders; MQTT logins are checked instead
[[source]]
name = "opay"
provider = "opay"
secret = %q
allow = ["203.0.113.0/24"] # the provider's HTTP senders; MQTT logins are checked instead
[[source]]
name = "opay-pos"
provider = "opay-pos"
merchant_id = %q
allow = ["203.0.113.0/24"] # the provider's HTTP senders; MQTT logins are checked instead
[[source]]
name = "vesicash"
provider = "vesicash"
secret = %q
business_id = %q
allow = ["203.0.113.0/24"] # the provider's HTTP senders; MQTT logins are checked instead
`, srv.URL, users.String(), d.socket, till, guideMonnify, guideMoniepoint, guideOPayKey, guideMerchant, guideVesicash, guideBusiness)
	dm := startTestDaemon(t, d.cfg, doc, "guide-test")
	if d.mqtt = dm.Addr("mqtt", 10*time.Second); d.mqtt == "" {
		t.Fatal("the embedded broker did not come up")
	}
	if dm.Addr("socket", 10*time.Second) == "" {
		t.Fatal("the admin socket did not come up")
	}
	return d
}

func moniepointSignature(secret, id, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%s__%s__%s", id, ts, body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// vesicashHeader is X-Vesicash-Webhook-Secret as Vesicash's sender makes it
// (signature_mode "A"): the body takes no part.
func vesicashHeader(key, business string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(key + ":" + business))
	return hex.EncodeToString(mac.Sum(nil))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
