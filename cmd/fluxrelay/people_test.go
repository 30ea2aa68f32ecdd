package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/admin"
	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
	"github.com/fluxrelay/fluxrelay/store"
)

const monnifySecret = "MNFY_test_client_secret_4f1c"

func monnifySign(body string) string {
	m := hmac.New(sha512.New, []byte(monnifySecret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

// heldEnv is a daemon with a Monnify source, in the shop's zone (Lagos).
type heldEnv struct {
	*opsEnv
	core *relaytest.Core
	dir  string
}

func startHeld(t *testing.T, seed func(dataDir string)) *heldEnv {
	t.Helper()
	e := &heldEnv{opsEnv: &opsEnv{}, dir: t.TempDir()}
	e.core = &relaytest.Core{APIKey: "K", APISecret: "S"}
	srv := httptest.NewServer(e.core)
	t.Cleanup(srv.Close)
	if seed != nil {
		seed(filepath.Join(e.dir, "data"))
	}
	e.socket = filepath.Join(e.dir, "run", "admin.sock")
	e.cfg = filepath.Join(e.dir, "fluxrelay.toml")
	doc := fmt.Sprintf(`version = 1
data_dir = "data"
timezone = "Africa/Lagos"
[core]
url = "%s/hook"
tenant_id = "acme"
api_key = "K"
api_secret = "S"
[http]
listen = "127.0.0.1:0"
[mqtt]
mode = "off"
[admin]
%s
[[source]]
name = "monnify"
provider = "monnify"
secret = %q
allow = ["127.0.0.1/32"]
[[source]]
name = "till"
provider = "core"
`, srv.URL, e.adminKeys(t), monnifySecret)
	d := startTestDaemon(t, e.cfg, doc, "held-test")
	e.ingest = "http://" + d.Addr("http", 10*time.Second)
	adminCameUp(t, d)
	return e
}

func (e *heldEnv) postMonnify(t *testing.T, body string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", e.ingest+"/notify/monnify", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("monnify-signature", monnifySign(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct{ Status, ID string }
	json.NewDecoder(resp.Body).Decode(&a)
	return a.Status
}

// A Monnify event this release does not know, carrying the provider's
// references: held, never refused.
const unknownMonnify = `{"eventType":"SUCCESSFUL_CARD_TOKENISATION","eventData":{"transactionReference":"MNFY|20|HELD-1","paymentReference":"INV-HELD-1","amountPaid":"2500.00"}}`

// A sale an earlier release held (say it did not know its card shape) and
// today's maps: what an upgrade fixes.
const saleMonnify = `{"eventType":"SUCCESSFUL_TRANSACTION","eventData":{"transactionReference":"MNFY|20|UPG-1","paymentReference":"INV-UPG-1","amountPaid":"4100.00","paidOn":"2026-03-14 09:30:00.000","paymentMethod":"CARD","product":{"type":"WEB_SDK","reference":"x"},"customer":{"name":"Ada","email":"ada@example.com"}}}`

// TestFindHeldByProviderRef: find by the provider's own reference finds a
// held dead letter and says how to release it; dlq replay says why it
// still cannot be mapped.
func TestFindHeldByProviderRef(t *testing.T) {
	e := startHeld(t, nil)
	if st := e.postMonnify(t, unknownMonnify); st != "held" {
		t.Fatalf("an unknown Monnify event was %q; want held", st)
	}
	for _, ref := range []string{"MNFY|20|HELD-1", "INV-HELD-1"} {
		code, out := e.run(t, "find", ref)
		for _, want := range []string{"MNFY|20|HELD-1  HELD", "references   MNFY|20|HELD-1, INV-HELD-1", "held for a person since", "fluxrelay dlq replay", "maps it again", "dlq drop"} {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("find %s (exit %d) lacks %q:\n%s", ref, code, want, out)
			}
		}
	}
	var list []admin.DeadLetter
	_, js := e.run(t, "dlq", "list", "--json")
	if json.Unmarshal([]byte(js), &list) != nil || len(list) != 1 {
		t.Fatalf("dlq list --json: %s", js)
	}
	code, out := e.run(t, "dlq", "replay", list[0].ID[:12])
	if code != 1 || !strings.Contains(out, "still cannot be mapped") || !strings.Contains(out, "SUCCESSFUL_CARD_TOKENISATION") {
		t.Errorf("dlq replay of a held event this release still does not know (exit %d):\n%s", code, out)
	}
	if st := e.status(t); st.DeadLetters != 1 {
		t.Errorf("after a replay that could not map it, %d dead letters; want it still held", st.DeadLetters)
	}
}

// TestReplayRemapsHeld: a sale an earlier release held is mapped again by
// dlq replay after the upgrade, queued under the id a fresh arrival would
// have and delivered; the held copy is gone.
func TestReplayRemapsHeld(t *testing.T) {
	var heldID string
	e := startHeld(t, func(dataDir string) {
		st, err := store.Open(store.Options{Dir: filepath.Join(dataDir, "store"), MinFree: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		received := time.Now().Add(-time.Hour)
		r := &notification.Record{ID: notification.NewID("monnify", "monnify", "acme", "held:0123456789abcdef01234567"), Source: "monnify", Provider: "monnify",
			Tenant: "acme", DedupKey: "held:0123456789abcdef01234567", ReceivedAt: received, Peer: "35.242.133.146",
			Headers: []notification.Header{{Name: "Content-Type", Value: "application/json"}, {Name: "Monnify-Signature", Value: monnifySign(saleMonnify)}},
			Raw:     []byte(saleMonnify), Verified: "monnify-signature: HMAC-SHA512 of the body",
			Delivery: notification.Delivery{State: notification.Dead, DeadAt: received, Reason: "fluxrelay could not map this notification (eventData.product: …)"}}
		if _, err := st.Enqueue(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		heldID = r.ID
	})
	code, out := e.run(t, "dlq", "replay", heldID[:12])
	if code != 0 || !strings.Contains(out, "mapped again: MNFY|20|UPG-1, 4100.00, queued for Fluxvend") {
		t.Fatalf("dlq replay of a held sale today's release maps (exit %d):\n%s", code, out)
	}
	waitUntil(t, "the re-mapped sale delivered", func() bool { return len(e.core.Accepted()) == 1 })
	var p struct {
		TransactionRef string
		Amount         json.Number
	}
	json.Unmarshal(e.core.Accepted()[0].Body, &p)
	if p.TransactionRef != "MNFY|20|UPG-1" || p.Amount != "4100.00" {
		t.Errorf("delivered %+v", p)
	}
	if want := notification.NewID("monnify", "monnify", "acme", "MNFY|20|UPG-1"); e.core.Accepted()[0].IdempotencyKey != want {
		t.Errorf("delivered as %s; want the id a fresh arrival has, %s", e.core.Accepted()[0].IdempotencyKey, want)
	}
	if st := e.status(t); st.DeadLetters != 0 {
		t.Errorf("%d dead letters after the held copy was mapped again; want 0", st.DeadLetters)
	}
	// The provider resends it: a duplicate, not a second delivery.
	if st := e.postMonnify(t, saleMonnify); st != "duplicate" {
		t.Errorf("Monnify's resend of the re-mapped sale: %q; want duplicate", st)
	}
}

// TestOneTimeZone: status, dlq, find and report speak the gateway's zone
// with its offset; the API keeps RFC 3339 UTC.
func TestOneTimeZone(t *testing.T) {
	e := startHeld(t, nil)
	e.postMonnify(t, unknownMonnify)
	for _, args := range [][]string{{"status"}, {"dlq", "list"}, {"find", "INV-HELD-1"}} {
		if _, out := e.run(t, args...); !strings.Contains(out, "+01:00 WAT") || strings.Contains(out, " UTC") {
			t.Errorf("%v does not speak Lagos time with its offset:\n%s", args, out)
		}
	}
	var list []admin.DeadLetter
	_, js := e.run(t, "dlq", "list", "--json")
	json.Unmarshal([]byte(js), &list)
	_, show := e.run(t, "dlq", "show", list[0].ID[:12])
	if !strings.Contains(show, "+01:00 WAT") {
		t.Errorf("dlq show does not speak Lagos time:\n%s", show)
	}
	resp, err := http.Post(e.ingest+"/notify/till", "application/json", strings.NewReader(`{"transactionRef":"TZ-1","amount":"10.00"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, out := e.run(t, "report"); !strings.Contains(out, "(Africa/Lagos, +01:00)") {
		t.Errorf("report does not name the zone and its offset:\n%s", out)
	}
	_, js = e.run(t, "status", "--json")
	var raw map[string]any
	json.Unmarshal([]byte(js), &raw)
	if c, _ := raw["clock"].(string); !strings.HasSuffix(c, "Z") || raw["timezone"] != "Africa/Lagos" {
		t.Errorf("the API's clock %q (want RFC 3339 UTC), timezone %v", c, raw["timezone"])
	}
}

// TestReportFromMeansUpToToday: report --from a day without --to counts
// every day from it up to today.
func TestReportFromMeansUpToToday(t *testing.T) {
	e := startHeld(t, nil)
	resp, err := http.Post(e.ingest+"/notify/till", "application/json", strings.NewReader(`{"transactionRef":"REP-1","amount":"12.50"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	lagos, _ := time.LoadLocation("Africa/Lagos")
	from := time.Now().In(lagos).AddDate(0, 0, -3).Format("2006-01-02")
	var rep admin.Report
	code, js := e.run(t, "report", "--from", from, "--json")
	if err := json.Unmarshal([]byte(js), &rep); err != nil || code != 0 {
		t.Fatalf("report --from %s (exit %d): %v %s", from, code, err, js)
	}
	today := time.Now().In(lagos).Format("2006-01-02")
	if len(rep.Days) != 1 || rep.Days[0].Day != today || rep.Days[0].Total.Received.Sum != "12.50" {
		t.Errorf("report --from %s without --to: %+v; want today's sale", from, rep.Days)
	}
}

// TestOutputEscapesControlCharacters: what came in a notification is
// printed with its terminal control sequences made visible, in find, dlq
// list and dlq show, and in the refusals status shows.
func TestOutputEscapesControlCharacters(t *testing.T) {
	e := startOps(t)
	evil := "DEAD-\u001b[2J\u001b]0;pwned\u0007-\u009b31m\u202eX"
	body, _ := json.Marshal(map[string]string{"transactionRef": evil, "amount": "99.50", "paymentMethod": "CARD\u001b[8m"})
	resp, err := http.Post(e.ingest+"/notify/till", "application/json", strings.NewReader(string(body)))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("post: %v %v", resp, err)
	}
	resp.Body.Close()
	waitUntil(t, "the dead letter", func() bool { return e.status(t).DeadLetters == 1 })
	var list []admin.DeadLetter
	_, js := e.run(t, "dlq", "list", "--json")
	json.Unmarshal([]byte(js), &list)
	for _, args := range [][]string{{"find", evil}, {"dlq", "list"}, {"dlq", "show", list[0].ID[:12]}} {
		_, out := e.run(t, args...)
		if strings.ContainsAny(out, "\u001b\u0007\u009b\u202e") {
			t.Errorf("%s printed a control character from the input:\n%q", args[0], out)
		}
		if !strings.Contains(out, `\x1b[2J`) {
			t.Errorf("%s does not show the escape sequence as text:\n%s", args[0], out)
		}
	}
	var buf strings.Builder
	printRejections(&buf, []admin.Rejection{{At: time.Now(), Source: "till", Peer: "192.168.1.9", Outcome: "bad_input",
		Error: "tenantId: got \"\u001b[31macme\", but this source belongs to another\u001b]8;;http://evil\u0007"}}, time.UTC)
	if strings.ContainsAny(buf.String(), "\u001b\u0007") || !strings.Contains(buf.String(), `\x1b[31m`) {
		t.Errorf("status's refusals print control characters:\n%q", buf.String())
	}
	os.Stdout.Sync()
}
