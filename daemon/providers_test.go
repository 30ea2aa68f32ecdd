package daemon

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawSink records what a forward = "raw" source sends on.
type rawSink struct {
	mu   sync.Mutex
	got  [][]byte
	head []http.Header
}

func (s *rawSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.got, s.head = append(s.got, b), append(s.head, r.Header.Clone())
	s.mu.Unlock()
}

func fixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile("../provider/testdata/" + path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".body.json") {
		return b
	}
	var c bytes.Buffer
	json.Compact(&c, b)
	return c.Bytes()
}

// golden returns the core payload a provider golden file holds, compacted.
func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../provider/testdata/golden/" + name + ".txt")
	if err != nil {
		t.Fatal(err)
	}
	var c bytes.Buffer
	if err := json.Compact(&c, b[bytes.IndexByte(b, '{'):]); err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(c.String(), "demo-shop-tenant", "acme") // this test's tenant
}

// TestProvidersEndToEnd sends each provider's raw body, signed as that
// provider signs, and expects the mapped, signed core payload at the core.
func TestProvidersEndToEnd(t *testing.T) {
	raw := &rawSink{}
	rawSrv := httptest.NewServer(raw)
	defer rawSrv.Close()
	e := newEnv(t, nil)
	e.writeConfig(testSecret, realPayloadSources+fmt.Sprintf(`
[[source]]
name = "monnify-raw"
provider = "monnify"
secret = "DEMOCLIENTSECRET0000FLUXVEND0001"
allow = ["127.0.0.0/8"]
forward = "raw"
forward_url = "%s/fluxvend/monnify"
`, rawSrv.URL))
	r := e.start()
	monnifyBody := fixture(t, "monnify/successful_transaction_reserved_account.body.json")
	monnifySig := "51ced3a32a05b3b89a7b677fa80f4c234a30825bcfda51fdee1f3f03cf5ade8daa7823fbbb9ab52f8fc9982fac0ce1cb1b4aa6372e38ef4b9a4601e55eb1fefa"
	mpBody := fixture(t, "moniepoint-pos/v1_pos_transfer_transaction.body.json")
	mpID, mpTS := "5d6e7f80-91a2-4b3c-8d4e-5f6a7b8c9d0e", strconv.FormatInt(time.Now().UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte("whsec_demo_moniepoint_pos_0001"))
	mac.Write([]byte(mpID + "__" + mpTS + "__"))
	mac.Write(mpBody)
	vesicashA := "eea3577ea087a08141310109d200b87bc1e034e57a38b2bdf84a438f50e726a6"
	cardBody := fixture(t, "monnify/successful_transaction_card.json")
	cardMAC := hmac.New(sha512.New, []byte("DEMOCLIENTSECRET0000FLUXVEND0001"))
	cardMAC.Write(cardBody)
	cardSig := hex.EncodeToString(cardMAC.Sum(nil))

	for _, c := range []struct {
		source string
		body   []byte
		header []string
		status string
	}{
		{"monnify", monnifyBody, []string{"monnify-signature", monnifySig}, "queued"},
		{"monnify", monnifyBody, []string{"monnify-signature", monnifySig}, "duplicate"}, // Monnify resends
		{"monnify-raw", cardBody, []string{"monnify-signature", cardSig}, "queued"},
		{"moniepoint", mpBody, []string{"moniepoint-webhook-id", mpID, "moniepoint-webhook-timestamp", mpTS, "moniepoint-webhook-signature", base64.StdEncoding.EncodeToString(mac.Sum(nil))}, "queued"},
		{"opay", fixture(t, "opay/cashier_callback_success_card.json"), nil, "queued"},
		{"opay", fixture(t, "opay/cashier_callback_failed.json"), nil, "ignored"},
		{"opay-pos", fixture(t, "opay/offline_general_payment_webhook_pos_card.json"), []string{"merchantId", "256600000000002", "X-Opay-Tranid", "250314000000000001"}, "queued"},
		{"vesicash", fixture(t, "vesicash/payment_success_transfer_verified.body.json"), []string{"X-Vesicash-Webhook-Secret", vesicashA}, "queued"},
		{"vesicash", fixture(t, "vesicash/payment_success_paylink.json"), []string{"X-Vesicash-Webhook-Secret", vesicashA}, "held"},
	} {
		if a := post(t, r.url+"/notify/"+c.source, string(c.body), c.header...); a.Code != 200 || a.Status != c.status {
			t.Errorf("%s: %d %+v; want %s", c.source, a.Code, a, c.status)
		}
	}
	if a := post(t, r.url+"/notify/monnify", string(monnifyBody), "monnify-signature", strings.Repeat("0", 128)); a.Code != 401 {
		t.Errorf("a bad Monnify signature: %d", a.Code)
	}

	want := []string{
		golden(t, "monnify/successful_transaction_reserved_account"),
		golden(t, "moniepoint-pos/v1_pos_transfer_transaction"),
		golden(t, "opay/cashier_callback_success_card"),
		golden(t, "opay/offline_general_payment_webhook_pos_card"),
	}
	waitFor(t, "five deliveries", func() bool { return len(e.core.Accepted()) >= 5 })
	r.settled(t) // nothing more can be sent
	got := map[string]bool{}
	for _, d := range e.core.Received() {
		if !d.Valid {
			t.Errorf("an invalid signature reached the core")
		}
		got[string(d.Body)] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("the core did not receive\n%s", w)
		}
	}
	if n := len(e.core.Received()); n != 5 {
		t.Errorf("the core received %d notifications; want 5 (no duplicate, no ignored, no amount-less Vesicash)", n)
	}
	waitFor(t, "the raw forward", func() bool { raw.mu.Lock(); defer raw.mu.Unlock(); return len(raw.got) > 0 })
	raw.mu.Lock()
	if len(raw.got) != 1 || !bytes.Equal(raw.got[0], cardBody) || raw.head[0].Get("monnify-signature") != cardSig || raw.head[0].Get("Signature") != "" {
		t.Errorf("raw forward: %d requests; body unchanged: %v; headers %v", len(raw.got), len(raw.got) == 1 && bytes.Equal(raw.got[0], cardBody), raw.head)
	}
	raw.mu.Unlock()
	s := r.status(t)
	if s.DeadLetters != 1 || s.Sources["opay"].Ignored != 1 || s.Sources["monnify"].Duplicates != 1 || s.Sources["monnify"].Rejected != 1 {
		t.Errorf("status: dead %d, opay ignored %d, monnify duplicates %d rejected %d", s.DeadLetters, s.Sources["opay"].Ignored, s.Sources["monnify"].Duplicates, s.Sources["monnify"].Rejected)
	}
}
