package ingest_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/provider"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

type panicky struct{ inVerify bool }

func (p panicky) Verify(*provider.Request) error {
	if p.inVerify {
		panic("verify broke")
	}
	return nil
}

func (panicky) Verification() string { return "none" }

func (panicky) Parse(req *provider.Request) (*provider.Parsed, error) {
	fields := bytes.Fields(req.Body)
	_ = fields[len(fields)] // read past the end: the parser's own bug
	return nil, nil
}

// TestPanicIsRefusedNotFatal: a panic in a provider's verify or parse path
// is answered 400 with a JSON error, stores nothing, is counted, and is
// logged once with the source, never the body.
func TestPanicIsRefusedNotFatal(t *testing.T) {
	for _, inVerify := range []bool{true, false} {
		var logs bytes.Buffer
		mem := storetest.NewMemory()
		in := ingest.NewIntake(mem, slog.New(slog.NewTextHandler(&logs, nil)), time.Now)
		in.SetSources([]*ingest.Source{{Name: "shop-monnify", Provider: "monnify", Verifier: panicky{inVerify: inVerify}}})
		body := []byte(`{"customer":"AMAKA EXAMPLE 08031234567"}`)
		a := in.Accept(context.Background(), "shop-monnify", &provider.Request{Body: body, Header: http.Header{}, Received: time.Now()}, ingest.Meta{})
		if a.Outcome != ingest.BadInput || a.Error == "" || a.Status != "" {
			t.Errorf("inVerify %v: answered %+v; want a 400 with an error", inVerify, a)
		}
		if n := mem.Stats().Pending + mem.Stats().Dead; n != 0 {
			t.Errorf("inVerify %v: %d stored; want none", inVerify, n)
		}
		if p := in.Stats.Source("shop-monnify").Panics.Load(); p != 1 {
			t.Errorf("inVerify %v: panics counted %d; want 1", inVerify, p)
		}
		out := logs.String()
		if strings.Count(out, "level=ERROR") != 1 || !strings.Contains(out, "source=shop-monnify") {
			t.Errorf("inVerify %v: want one ERROR line naming the source; got %s", inVerify, out)
		}
		if strings.Contains(out, "AMAKA") || strings.Contains(out, "verify broke") {
			t.Errorf("inVerify %v: the log shows the body or the panic's text: %s", inVerify, out)
		}
	}
}

// twoSources is an intake with an unsigned core source (the LAN's tills)
// and a signed one (the shop's app), as a shop has them.
func twoSources(t *testing.T, logs *bytes.Buffer) (*ingest.Intake, *storetest.Memory) {
	t.Helper()
	mem := storetest.NewMemory()
	var log *slog.Logger
	if logs != nil {
		log = slog.New(slog.NewTextHandler(logs, nil))
	}
	in := ingest.NewIntake(mem, log, time.Now)
	in.SetSources([]*ingest.Source{
		{Name: "till", Provider: "core", Verifier: &provider.Core{Tenant: "t"}},
		{Name: "app", Provider: "core", Verifier: &provider.Core{Tenant: "t", Secret: "app-secret"}},
	})
	return in, mem
}

func post(in *ingest.Intake, source, body string, header http.Header) ingest.Answer {
	if header == nil {
		header = http.Header{}
	}
	return in.Accept(context.Background(), source, &provider.Request{Body: []byte(body), Header: header, Received: time.Now()}, ingest.Meta{})
}

// TestOneSourceCannotBlockAnother: the unsigned till posts ₦1.00 under the
// reference of a sale the signed app is about to send; the genuine
// ₦8,200.00 sale is queued, under its own id, and the till's conflict
// within its own source names only the two amounts.
func TestOneSourceCannotBlockAnother(t *testing.T) {
	in, mem := twoSources(t, nil)
	fake := post(in, "till", `{"transactionRef":"SALE-77","amount":"1.00","customer":{"name":"MALLAM FAKE","phone":"08099999999"}}`, nil)
	genuineBody := `{"transactionRef":"SALE-77","amount":"8200.00","customer":{"name":"AMAKA EXAMPLE","phone":"08031234567"}}`
	genuine := post(in, "app", genuineBody, http.Header{"Signature": {notification.Sign("app-secret", []byte(genuineBody))}})
	if fake.Outcome != ingest.Queued || genuine.Outcome != ingest.Queued || fake.ID == genuine.ID {
		t.Fatalf("the till's: %+v; the app's: %+v; want both queued under their own ids", fake, genuine)
	}
	r, err := mem.Get(genuine.ID)
	if err != nil || r.Payload.Amount.String() != "8200.00" || r.Source != "app" {
		t.Fatalf("stored %+v, %v; want the app's ₦8,200.00", r, err)
	}
	if genuine.ID != notification.NewID("app", "core", "t", "SALE-77") || len(r.AliasIDs) != 1 || r.AliasIDs[0] != notification.LegacyID("core", "t", "SALE-77") {
		t.Errorf("id %s, aliases %v; want the id of the source, with the earlier releases' id as its alias", genuine.ID, r.AliasIDs)
	}
	again := post(in, "till", `{"transactionRef":"SALE-77","amount":"2.00","customer":{"name":"OTHER","phone":"07000000000"}}`, nil)
	if again.Outcome != ingest.Conflict || !strings.Contains(again.Error, "amount 2.00 was 1.00") {
		t.Fatalf("the till's second try: %+v; want a conflict naming both amounts", again)
	}
	for _, leak := range []string{"8200", "AMAKA", "0803", "MALLAM", "0809", "OTHER", "0700"} {
		if strings.Contains(again.Error, leak) {
			t.Errorf("the conflict shows %q: %s", leak, again.Error)
		}
	}
	reordered := post(in, "app", `{"customer":{"phone":"08031234567","name":"AMAKA EXAMPLE"},"amount":8200,"transactionRef":"SALE-77"}`, nil)
	if reordered.Outcome != ingest.NotGenuine {
		t.Fatalf("unsigned to the app: %+v", reordered)
	}
	body := `{"customer":{"phone":"08031234567","name":"AMAKA EXAMPLE"},"amount":8200,"transactionRef":"SALE-77"}`
	reordered = post(in, "app", body, http.Header{"Signature": {notification.Sign("app-secret", []byte(body))}})
	if reordered.Outcome != ingest.Duplicate {
		t.Errorf("the same sale with its keys in another order and 8200 for 8200.00: %+v; want a duplicate", reordered)
	}
}

// TestCountersAddUp: whatever happens to a notification, received equals
// queued + duplicates + ignored + held + rejected, per source.
func TestCountersAddUp(t *testing.T) {
	in, _ := twoSources(t, nil)
	in.SetLimits(ingest.Limits{MaxBody: 256, DedupWindow: time.Hour})
	for _, b := range []string{`{"transactionRef":"A","amount":1}`, `{"transactionRef":"A","amount":1}`, `{"transactionRef":"A","amount":2}`,
		`not json`, `{"amount":1}`, `{"transactionRef":"B","amount":1,"Amount":2}`, `{"transactionRef":"C","amount":1,"pad":"` + strings.Repeat("x", 300) + `"}`} {
		post(in, "till", b, nil)
	}
	post(in, "app", `{"transactionRef":"D","amount":1}`, nil) // unsigned
	in.Refuse("till", ingest.Meta{Terminal: "T1"}, ingest.NotAllowed, "this login may not publish for till")
	in.RefuseErr("till", ingest.Meta{}, in.Limits().TooLarge())
	for _, name := range []string{"till", "app"} {
		c := in.Stats.Source(name)
		sum := c.Queued.Load() + c.Duplicates.Load() + c.Ignored.Load() + c.Held.Load() + c.Rejected.Load()
		if c.Received.Load() != sum || c.Received.Load() == 0 {
			t.Errorf("%s: received %d, but queued+duplicates+ignored+held+rejected = %d", name, c.Received.Load(), sum)
		}
	}
	if c := in.Stats.Source("till"); c.Received.Load() != 9 || c.Queued.Load() != 1 || c.Duplicates.Load() != 1 || c.Rejected.Load() != 7 {
		t.Errorf("till: received %d queued %d duplicates %d rejected %d; want 9, 1, 1, 7", c.Received.Load(), c.Queued.Load(), c.Duplicates.Load(), c.Rejected.Load())
	}
}

// TestSignedSendTimeOlderThanTheWindow: a Moniepoint notification signed
// longer ago than the dedup window is refused (a replay of one the gateway
// may have forgotten), even with the clock-skew check turned wide.
func TestSignedSendTimeOlderThanTheWindow(t *testing.T) {
	mem := storetest.NewMemory()
	in := ingest.NewIntake(mem, nil, time.Now)
	in.SetLimits(ingest.Limits{MaxBody: 1 << 20, DedupWindow: 24 * time.Hour})
	in.SetSources([]*ingest.Source{{Name: "mp", Provider: "moniepoint-pos", Verifier: provider.Holding(&provider.Moniepoint{Secret: "s", Tenant: "t", MaxSkew: 0}, "t")}})
	body := []byte(`{"eventId":"E-1","data":{"transactionStatus":"COMPLETED","transactionType":"PURCHASE","transactionReference":"MP-1","amount":820000}}`)
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	send := func(sent time.Time) ingest.Answer {
		ts := strconv.FormatInt(sent.UnixMilli(), 10)
		m := hmac.New(sha256.New, []byte("s"))
		m.Write([]byte("E-1__" + ts + "__"))
		m.Write(body)
		h := http.Header{"Moniepoint-Webhook-Id": {"E-1"}, "Moniepoint-Webhook-Timestamp": {ts}, "Moniepoint-Webhook-Signature": {base64.StdEncoding.EncodeToString(m.Sum(nil))}}
		return in.Accept(context.Background(), "mp", &provider.Request{Body: body, Header: h, Received: now}, ingest.Meta{})
	}
	if a := send(now.Add(-25 * time.Hour)); a.Outcome != ingest.NotGenuine || !strings.Contains(a.Error, "store.dedup_window") {
		t.Errorf("signed 25 h ago with a 24 h window: %+v; want a 401 naming store.dedup_window", a)
	}
	if a := send(now.Add(-23 * time.Hour)); a.Outcome != ingest.Queued {
		t.Errorf("signed 23 h ago with a 24 h window: %+v; want it queued", a)
	}
}

// TestStaleNotificationIsCountedAndLogged: a notification dated before the
// dedup window that is new to the gateway is taken (it may be genuine),
// counted and logged: a replay of a forgotten one looks just like it.
func TestStaleNotificationIsCountedAndLogged(t *testing.T) {
	var logs bytes.Buffer
	in, _ := twoSources(t, &logs)
	in.SetLimits(ingest.Limits{MaxBody: 1 << 20, DedupWindow: 24 * time.Hour})
	old := time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)
	if a := post(in, "till", `{"transactionRef":"OLD-1","amount":5,"transactionDate":"`+old+`"}`, nil); a.Outcome != ingest.Queued {
		t.Fatalf("%+v", a)
	}
	post(in, "till", `{"transactionRef":"NEW-1","amount":5}`, nil)
	if n := in.Stats.Source("till").Stale.Load(); n != 1 {
		t.Errorf("stale = %d; want 1", n)
	}
	if !strings.Contains(logs.String(), "older than store.dedup_window") || !strings.Contains(logs.String(), "transaction_ref=OLD-1") {
		t.Errorf("the log: %s", logs.String())
	}
}

// TestRefusalsAreLoggedSparingly: 401s and 403s are logged, once a minute
// per source and sender, with the source and the peer and never the body.
func TestRefusalsAreLoggedSparingly(t *testing.T) {
	var logs bytes.Buffer
	in, _ := twoSources(t, &logs)
	in.SetSources([]*ingest.Source{
		{Name: "app", Provider: "core", Verifier: &provider.Core{Tenant: "t", Secret: "app-secret"}},
		{Name: "pos", Provider: "core", Verifier: &provider.Core{Tenant: "t"}, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.9/32")}},
	})
	from := func(ip string) ingest.Meta { return ingest.Meta{Peer: netip.MustParseAddr(ip)} }
	body := []byte(`{"transactionRef":"SECRET-BODY-REF","amount":1}`)
	for range 20 {
		in.Accept(context.Background(), "app", &provider.Request{Body: body, Header: http.Header{}, Received: time.Now()}, from("192.168.1.50"))
	}
	in.Accept(context.Background(), "app", &provider.Request{Body: body, Header: http.Header{}, Received: time.Now()}, from("192.168.1.51"))
	in.Accept(context.Background(), "pos", &provider.Request{Body: body, Header: http.Header{}, Received: time.Now()}, from("192.168.1.50"))
	out := logs.String()
	if n := strings.Count(out, "notification refused"); n != 3 {
		t.Errorf("%d lines for 22 refusals from three source and sender pairs; want 3:\n%s", n, out)
	}
	if !strings.Contains(out, "peer=192.168.1.50") || !strings.Contains(out, "source=pos") || strings.Contains(out, "SECRET-BODY-REF") {
		t.Errorf("the log:\n%s", out)
	}
}
