package daemon

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fluxrelay/fluxrelay/notification"
)

const realPayloadSources = `
[[source]]
name = "monnify"
provider = "monnify"
secret = "DEMOCLIENTSECRET0000FLUXVEND0001"
allow = ["127.0.0.0/8"]
[[source]]
name = "moniepoint"
provider = "moniepoint-pos"
secret = "whsec_demo_moniepoint_pos_0001"
allow = ["127.0.0.0/8"]
[[source]]
name = "opay"
provider = "opay"
secret = "OPAYPRV00000000000000.DEMOKEY0000000001"
allow = ["127.0.0.0/8"]
[[source]]
name = "opay-pos"
provider = "opay-pos"
merchant_id = "256600000000002"
allow = ["127.0.0.0/8"]
[[source]]
name = "vesicash"
provider = "vesicash"
secret = "v_TEST_demo_private_key_0001"
business_id = "1000123"
allow = ["127.0.0.0/8"]
`

// Signatures the way each provider makes them, with the fixtures' keys.
const vesicashRecipeA = "eea3577ea087a08141310109d200b87bc1e034e57a38b2bdf84a438f50e726a6"

func monnifySignature(body []byte) string {
	m := hmac.New(sha512.New, []byte("DEMOCLIENTSECRET0000FLUXVEND0001"))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func moniepointHeaders(id string, body []byte) []string {
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	m := hmac.New(sha256.New, []byte("whsec_demo_moniepoint_pos_0001"))
	m.Write([]byte(id + "__" + ts + "__"))
	m.Write(body)
	return []string{"moniepoint-webhook-id", id, "moniepoint-webhook-timestamp", ts, "moniepoint-webhook-signature", base64.StdEncoding.EncodeToString(m.Sum(nil))}
}

// TestRealPayloadsEndToEnd posts, in the order a shop meets them, the
// notifications the providers really send (shapes from their own docs, SDKs
// and plugins; provider/testdata/README.md names each origin) and checks
// what each is answered and what reaches the core. Each line is a payment
// that used to be lost: refused, ignored, blocked by a 409, or a crash.
func TestRealPayloadsEndToEnd(t *testing.T) {
	e := newEnv(t, nil)
	e.writeConfig(testSecret, realPayloadSources)
	r := e.start()
	vesicash := []string{"X-Vesicash-Webhook-Secret", vesicashRecipeA}
	emptySource := fixture(t, "monnify/successful_transaction_empty_source.body.json")
	unknownEvent := []byte(`{"eventType":"SUCCESSFUL_COLLECTION_V2","eventData":{"transactionReference":"MNFY|85|X","amountPaid":"100.00"}}`)
	purchase := fixture(t, "moniepoint-pos/v1_pos_purchase_transaction.json")
	withdrawal := fixture(t, "moniepoint-pos/v1_pos_withdrawal_transaction.json")
	posHeaders := func(payNo string) []string {
		return []string{"merchantId", "256600000000002", "X-Opay-Tranid", payNo}
	}
	held := map[string]string{}
	for _, c := range []struct {
		what, source string
		body         []byte
		header       []string
		status       string
	}{
		{"Vesicash's documented envelope, a success", "vesicash", fixture(t, "vesicash/envelope_payment_success.json"), vesicash, "queued"},
		{"Vesicash's documented envelope, a failure", "vesicash", fixture(t, "vesicash/envelope_payment_failed.json"), vesicash, "ignored"},
		{"Vesicash's plugin event, a success without an amount", "vesicash", fixture(t, "vesicash/plugin_payment.json"), vesicash, "held"},
		{"OPay's older cashier, \"successful\"", "opay", fixture(t, "opay/cashier_callback_legacy_successful.json"), nil, "queued"},
		{"OPay POS, a declined attempt", "opay-pos", fixture(t, "opay/offline_general_payment_webhook_pos_declined.json"), posHeaders("250314000000000000"), "ignored"},
		{"OPay POS, the success for the same order", "opay-pos", fixture(t, "opay/offline_general_payment_webhook_pos_card.json"), posHeaders("250314000000000001"), "queued"},
		{"OPay, a card sale", "opay", fixture(t, "opay/cashier_callback_success_card.json"), nil, "queued"},
		{"OPay, the same sale refunded", "opay", fixture(t, "opay/cashier_callback_refunded.json"), nil, "ignored"},
		{"OPay, the refund resent", "opay", fixture(t, "opay/cashier_callback_refunded.json"), nil, "duplicate"},
		{"Monnify, paymentSourceInformation [ ]", "monnify", emptySource, []string{"monnify-signature", monnifySignature(emptySource)}, "queued"},
		{"Monnify, an event fluxrelay does not know", "monnify", unknownEvent, []string{"monnify-signature", monnifySignature(unknownEvent)}, "held"},
		{"Moniepoint, a card purchase", "moniepoint", purchase, moniepointHeaders("2b3c4d5e-6f70-4182-9a3b-4c5d6e7f8091", purchase), "queued"},
		{"Moniepoint, a cash withdrawal", "moniepoint", withdrawal, moniepointHeaders("3c4d5e6f-7081-4293-ab4c-5d6e7f809102", withdrawal), "ignored"},
	} {
		a := post(t, r.url+"/notify/"+c.source, string(c.body), c.header...)
		if a.Code != http.StatusOK || a.Status != c.status {
			t.Errorf("%s: %d %+v; want 200 %s", c.what, a.Code, a, c.status)
		}
		if c.status == "held" {
			if a.Reason == "" {
				t.Errorf("%s: held without a reason", c.what)
			}
			held[a.ID] = c.what
		}
	}

	want := []string{
		golden(t, "vesicash/envelope_payment_success"),
		golden(t, "opay/cashier_callback_legacy_successful"),
		golden(t, "opay/offline_general_payment_webhook_pos_card"),
		golden(t, "opay/cashier_callback_success_card"),
		golden(t, "monnify/successful_transaction_empty_source"),
		golden(t, "moniepoint-pos/v1_pos_purchase_transaction"),
	}
	waitFor(t, "six deliveries", func() bool { return len(e.core.Accepted()) >= len(want) })
	var got []string
	for _, d := range e.core.Received() {
		if !d.Valid {
			t.Errorf("a delivery with a bad signature reached the core")
		}
		body := string(d.Body)
		if strings.Contains(body, "VCS-DEMO-REF-0002") {
			// Vesicash gives no date: the receive time stands in, here
			// this run's, in the golden file the fixtures' receive time.
			var p struct{ TransactionDate time.Time }
			json.Unmarshal(d.Body, &p)
			if time.Since(p.TransactionDate) > time.Minute || time.Since(p.TransactionDate) < 0 {
				t.Errorf("the Vesicash sale's date %s is not its receive time", p.TransactionDate)
			}
			body = strings.Replace(body, notification.FormatTime(p.TransactionDate), "2025-03-14T09:30:00Z", 1)
		}
		got = append(got, body)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the core received\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// What is held waits for a person, and is not sent as it is.
	s := r.status(t)
	if s.DeadLetters != int64(len(held)) || s.Sources["vesicash"].Held != 1 || s.Sources["monnify"].Held != 1 {
		t.Errorf("dead letters %d, held vesicash %d monnify %d; want the %d held notifications", s.DeadLetters, s.Sources["vesicash"].Held, s.Sources["monnify"].Held, len(held))
	}
	for id, what := range held {
		resp := r.change(t, http.MethodPost, "/api/dead-letters/"+id+"/replay")
		var body struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict || !strings.Contains(body.Error, "by hand") {
			t.Errorf("replaying %s: %d %q; want a 409 that says to record it by hand", what, resp.StatusCode, body.Error)
		}
	}
	if logs := e.logs.String(); strings.Count(logs, "notification held for a person") != len(held) {
		t.Errorf("want one WARN per held notification in the log")
	}
}

// TestEmptyPayerListOverMQTT publishes, to the embedded broker, the Monnify
// body whose empty paymentSourceInformation once crashed the whole daemon
// (a crash loop: the terminal resent it after every restart): it is
// acknowledged, stored and delivered, and the daemon stays up.
func TestEmptyPayerListOverMQTT(t *testing.T) {
	e := newEnv(t, nil)
	e.writeConfig(testSecret, realPayloadSources)
	e.embedBroker("pos-1", "pos-1-password")
	r := e.start()
	addr := r.d.Addr("mqtt", 10*time.Second)
	if addr == "" {
		t.Fatal("the embedded broker did not come up")
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("pos-1").
		SetUsername("pos-1").SetPassword("pos-1-password"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	body := fixture(t, "monnify/successful_transaction_empty_source.body.json")
	envelope, _ := json.Marshal(map[string]any{"headers": map[string]string{"monnify-signature": monnifySignature(body)}, "body": string(body)})
	tok := c.Publish("fluxrelay/monnify/pos-1", 1, false, envelope)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("the publish was not acknowledged: %v", tok.Error())
	}
	waitFor(t, "the delivery", func() bool { return len(e.core.Accepted()) == 1 })
	if got, want := string(e.core.Received()[0].Body), golden(t, "monnify/successful_transaction_empty_source"); got != want {
		t.Errorf("the core received\n%s\nwant\n%s", got, want)
	}
	if s := r.status(t); s.Sources["monnify"].Queued != 1 || !s.Listeners["mqtt"].Up {
		t.Errorf("status: monnify queued %d, mqtt %+v", s.Sources["monnify"].Queued, s.Listeners["mqtt"])
	}
}
