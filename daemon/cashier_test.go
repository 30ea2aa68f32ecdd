package daemon

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/admin"
	"github.com/fluxrelay/fluxrelay/notification"
)

const (
	pagePIN     = "73915284"
	pageContact = "Call Emeka: 0803 000 0000"
	newPIN      = "50716293"
)

// monnifySale is a Monnify SUCCESSFUL_TRANSACTION as Monnify sends it (the
// fixture's shape) for amount, with ref, paid at paid; and its signature.
func monnifySale(t *testing.T, ref, amount string, paid time.Time) ([]byte, []string) {
	t.Helper()
	body := string(fixture(t, "monnify/successful_transaction_reserved_account.body.json"))
	body = strings.ReplaceAll(body, "MNFY|35|20250314102233|000412", ref)
	body = strings.ReplaceAll(body, `"amountPaid":15750,"totalPayable":15750`, `"amountPaid":`+amount+`,"totalPayable":`+amount)
	body = strings.Replace(body, "2025-03-14 10:22:33.418", paid.In(lagos(t)).Format("2006-01-02 15:04:05.000"), 1)
	return []byte(body), []string{"monnify-signature", monnifySignature([]byte(body))}
}

func lagos(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Africa/Lagos")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// pageClient is a device that is not a browser, from the loopback address
// from (127.0.0.x), with its own cookies.
func pageClient(t *testing.T, from string) *http.Client {
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return &http.Client{Jar: jar, Transport: &http.Transport{DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(t *testing.T, c *http.Client, method, u string, form url.Values) (int, string) {
	t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = c.PostForm(u, form)
	} else {
		resp, err = c.Get(u)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// cashierRun is the cashier's page under test: the daemon, its page
// listener and the phone that has given the PIN.
type cashierRun struct {
	t      *testing.T
	e      *env
	r      *running
	page   string
	shots  string
	phone  *tab
	device *http.Client // a second device, not a browser, that gave the PIN
}

// TestCashierPageInBrowser is the cashier's page end to end, in headless
// Chromium at 360 and 1280 px: a Monnify-signed ₦8,200.00 appears marked
// confirmed by Monnify, a till's and an OPay POS one do not claim that, the
// search finds them, the page refreshes itself without losing the search,
// and with a PIN none of it shows before the PIN is given.
func TestCashierPageInBrowser(t *testing.T) {
	chromiumPath(t)
	e := newEnv(t, nil)
	e.writeConfig(testSecret, realPayloadSources)
	e.pageConfig(pagePIN, pageContact)
	r := e.start()
	c := &cashierRun{t: t, e: e, r: r, page: r.page(t), shots: screenshots(t)}
	c.seed()
	c.strangersSeeNothing()
	b := newBrowser(t)
	c.phone = b.tab(360)
	c.unlock()
	c.recentList()
	c.search()
	c.liveRefresh()
	c.otherQueries()
	desk := b.tab(1280)
	desk.open(c.page + "/?amount=8200")
	desk.look(c.shots, "search")
	desk.open(c.page + "/")
	desk.look(c.shots, "payments")
	c.lockOut()
	c.held()
	c.newPIN()
	c.secretsKept()
	t.Logf("screenshots in %s", c.shots)
}

// seed posts the sales of a morning, and something that is not a sale.
func (c *cashierRun) seed() {
	t, r := c.t, c.r
	sale, sig := monnifySale(t, "MNFY|PAGE|0001", "8200.00", time.Now().Add(-time.Minute))
	for _, p := range []struct {
		source, body string
		header       []string
		want         string
	}{
		{"monnify", string(sale), sig, "queued"},
		{"till", `{"transactionRef":"TILL-8200","amount":"8200.00","paymentMethod":"CARD","customer":{"name":"Ada Obi","phone":"08030000001"},"accountNumber":"0123456789"}`, nil, "queued"},
		{"opay-pos", string(fixture(t, "opay/offline_general_payment_webhook_pos_card.json")), []string{"merchantId", "256600000000002", "X-Opay-Tranid", "250314000000000001"}, "queued"},
		{"monnify", string(fixture(t, "monnify/successful_transaction_reserved_account.body.json")), nil, "queued"}, // paid last year, resent now
		{"monnify", string(fixture(t, "monnify/successful_refund.json")), nil, "ignored"},
	} {
		if p.header == nil && p.source == "monnify" {
			p.header = []string{"monnify-signature", monnifySignature([]byte(p.body))}
		}
		if a := post(t, r.url+"/notify/"+p.source, p.body, p.header...); a.Status != p.want {
			t.Fatalf("posting to %s: %+v; want %s", p.source, a, p.want)
		}
	}
	signed := `{"transactionRef":"APP-1500","amount":1500.50,"paymentMethod":"POS"}`
	if a := post(t, r.url+"/notify/signed", signed, "Signature", notification.Sign(tillSecret, []byte(signed))); a.Status != "queued" {
		t.Fatalf("posting the POS app's sale: %+v", a)
	}
	waitFor(t, "the deliveries", func() bool { return len(c.e.core.Accepted()) == 5 })
	r.settled(t)
}

// strangersSeeNothing: without the PIN, no device sees a payment or a
// total, on any listener and with any query; the state it does see.
func (c *cashierRun) strangersSeeNothing() {
	t := c.t
	secret := []string{"₦8,200", "₦15,750", "₦1,500", "Monnify", "OPay", "confirmed by", "the till", "received today", "Sent to Fluxvend today"}
	stranger := pageClient(t, "127.0.0.1")
	for _, u := range []string{c.page + "/", c.page + "/?amount=8200", c.r.admin + "/", c.r.admin + "/?amount=8%2C200"} {
		code, body := fetch(t, stranger, http.MethodGet, u, nil)
		if code != 200 || !strings.Contains(body, `id="state">OK<`) || !strings.Contains(body, `name="pin"`) {
			t.Errorf("%s without the PIN: %d, without the state or the PIN field:\n%s", u, code, body)
		}
		for _, s := range secret {
			if strings.Contains(body, s) {
				t.Errorf("%s without the PIN shows %q", u, s)
			}
		}
	}
	if code, body := fetch(t, stranger, http.MethodPost, c.page+"/", url.Values{"pin": {"11111111"}, "amount": {"8200"}}); code != http.StatusForbidden || strings.Contains(body, "₦8,200") {
		t.Errorf("a wrong PIN: %d, or it shows the payments", code)
	}
}

// unlock gives the phone a wrong PIN, then the right one.
func (c *cashierRun) unlock() {
	t, phone := c.t, c.phone
	phone.open(c.page + "/")
	if txt := phone.look(c.shots, "locked"); phone.text("#pin-form") == "" || strings.Contains(txt, "8,200") {
		t.Fatalf("the page without the PIN:\n%s", txt)
	}
	phone.typeIn("#pin", "12345678")
	phone.navigating(func() { phone.click("#pin-form button") })
	if note := phone.text("#pin-note"); note != "That PIN is not right. Try again." {
		t.Errorf("after a wrong PIN the page says %q", note)
	}
	phone.typeIn("#pin", pagePIN)
	phone.navigating(func() { phone.click("#pin-form button") })
	var cookies string
	phone.must("document.cookie", &cookies)
	if phone.text("#recent") == "" || strings.Contains(cookies, admin.CookieName) {
		t.Fatalf("after the PIN: no payments, or the cookie is readable by scripts (%q):\n%s", cookies, phone.text("main"))
	}
}

// recentList checks the recent payments, newest first, each saying who
// vouches for it, and no customer's data.
func (c *cashierRun) recentList() {
	t, phone := c.t, c.phone
	phone.look(c.shots, "payments")
	rows := phone.payments("#recent")
	want := []string{
		"₦1,500.50 HH:MM from the POS app (not confirmed by a bank) POS · sent to Fluxvend",
		"₦15,750.00 HH:MM ✓ confirmed by Monnify transfer · paid 14 Mar 10:22 · sent to Fluxvend",
		"₦8,200.00 HH:MM said to be from OPay (not signed, so not confirmed) card · paid 14 Mar 11:30 · sent to Fluxvend",
		"₦8,200.00 HH:MM from the till (not confirmed by a bank) card · sent to Fluxvend",
		"₦8,200.00 HH:MM ✓ confirmed by Monnify transfer · sent to Fluxvend",
	}
	clock := regexp.MustCompile(`^(\S+) \d\d:\d\d `)
	var got []string
	for _, row := range rows {
		got = append(got, clock.ReplaceAllString(row, "$1 HH:MM "))
	}
	if !slices.Equal(got, want) {
		t.Errorf("recent payments:\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	for _, private := range []string{"AMAKA", "0000000001", "Demo Shop", "@", "Ada", "0803000000", "0123456789", "DEMO SHOP", "6100000001"} {
		if strings.Contains(phone.text("main"), private) {
			t.Errorf("the page shows customer data %q", private)
		}
	}
}

// search types an amount as a cashier types it.
func (c *cashierRun) search() {
	t, phone := c.t, c.phone
	phone.typeIn("#amount", "8,200")
	phone.navigating(func() { phone.click("#find button") })
	if said := phone.text("#said"); said != "3 payments of ₦8,200.00 in the last hour, newest first:" {
		t.Errorf("the search for 8,200 says %q", said)
	}
	if found := phone.payments("#result"); len(found) != 3 || !strings.Contains(found[2], "confirmed by Monnify") || strings.Contains(found[1], "confirmed by Monnify") {
		t.Errorf("the search found:\n%s", strings.Join(found, "\n"))
	}
	phone.look(c.shots, "search")
}

// liveRefresh: a new sale shows by itself (the page fetches itself again)
// in the list and in the search, which stays; what the cashier is typing
// stays too.
func (c *cashierRun) liveRefresh() {
	t, phone := c.t, c.phone
	phone.typeIn("#amount", "12")
	sale, sig := monnifySale(t, "MNFY|PAGE|0002", "8200", time.Now())
	posted := time.Now()
	post(t, c.r.url+"/notify/monnify", string(sale), sig...)
	phone.until("the new sale on the open page", `document.getElementById("said").innerText.startsWith("4 payments")`)
	t.Logf("the new sale showed on the open page %v after it was answered (the page refreshes every %v)", time.Since(posted).Round(10*time.Millisecond), admin.PageRefresh)
	var field, query string
	phone.must(`document.getElementById("amount").value`, &field)
	phone.must("location.search", &query)
	if newest := phone.payments("#recent")[0]; field != "12" || query != "?amount=8%2C200" || !strings.Contains(newest, "₦8,200.00") || !strings.Contains(newest, "confirmed by Monnify") {
		t.Errorf("after the refresh: field %q, query %q, newest %q", field, query, newest)
	}
}

// otherQueries: the other ways to type an amount, and what is not there,
// from a second device.
func (c *cashierRun) otherQueries() {
	t := c.t
	c.device = pageClient(t, "127.0.0.1")
	if code, _ := fetch(t, c.device, http.MethodPost, c.page+"/", url.Values{"pin": {pagePIN}, "amount": {"8200"}}); code != http.StatusSeeOther {
		t.Fatalf("the PIN from a second device: %d", code)
	}
	for q, said := range map[string]string{"8200": "4 payments of ₦8,200.00", "₦8,200": "4 payments of ₦8,200.00", "8200.00": "4 payments of ₦8,200.00",
		"N8,200.00": "4 payments of ₦8,200.00", "1500.5": "1 payment of ₦1,500.50", "999": "No payment of ₦999.00 in the last hour.", "8,20": "Type an amount such as 8200"} {
		if _, body := fetch(t, c.device, http.MethodGet, c.page+"/?"+url.Values{"amount": {q}}.Encode(), nil); !strings.Contains(body, said) {
			t.Errorf("searching %q does not say %q", q, said)
		}
	}
}

// lockOut: five wrong PINs lock that address for a minute; others are not.
func (c *cashierRun) lockOut() {
	t := c.t
	if runtime.GOOS != "linux" { // 127.0.0.2 is a loopback address there
		return
	}
	guesser := pageClient(t, "127.0.0.2")
	for i := range admin.MaxTries {
		if code, _ := fetch(t, guesser, http.MethodPost, c.page+"/", url.Values{"pin": {fmt.Sprintf("0000%04d", i)}}); code != http.StatusForbidden {
			t.Errorf("wrong PIN %d: %d", i+1, code)
		}
	}
	if code, body := fetch(t, guesser, http.MethodPost, c.page+"/", url.Values{"pin": {pagePIN}}); code != http.StatusTooManyRequests || !strings.Contains(body, "Wait a minute") {
		t.Errorf("the right PIN after five wrong ones: %d", code)
	}
	if code, _ := fetch(t, pageClient(t, "127.0.0.3"), http.MethodPost, c.page+"/", url.Values{"pin": {pagePIN}}); code != http.StatusSeeOther {
		t.Errorf("another address is locked out too: %d", code)
	}
	if !strings.Contains(c.e.logs.String(), "wrong page PINs") {
		t.Errorf("the lock-out is not logged")
	}
}

// held: a payment held for a person makes the state say so, with whom to
// call, to anyone; the list shows it without an amount.
func (c *cashierRun) held() {
	t, phone := c.t, c.phone
	unknown := []byte(`{"eventType":"SUCCESSFUL_COLLECTION_V2","eventData":{"transactionReference":"MNFY|85|X","amountPaid":"100.00"}}`)
	if a := post(t, c.r.url+"/notify/monnify", string(unknown), "monnify-signature", monnifySignature(unknown)); a.Status != "held" {
		t.Fatalf("the unknown event: %+v", a)
	}
	phone.open(c.page + "/")
	phone.look(c.shots, "action_needed")
	if newest := phone.payments("#recent")[0]; phone.text("#state") != "ACTION NEEDED" || phone.text("#contact") != pageContact ||
		!strings.HasPrefix(newest, "amount not known") || !strings.HasSuffix(newest, "needs a person") || strings.Contains(newest, "✓") {
		t.Errorf("with a held payment: %q, contact %q, newest %q", phone.text("#state"), phone.text("#contact"), newest)
	}
	stranger := newBrowser(t) // a new device: no PIN given
	for _, other := range []*tab{stranger.tab(360), stranger.tab(1280)} {
		other.open(c.page + "/")
		if txt := other.look(c.shots, "action_needed_locked"); other.text("#contact") != pageContact || strings.Contains(txt, "8,200") || strings.Contains(txt, "amount not known") {
			t.Errorf("a new device at %d px sees:\n%s", other.width, txt)
		}
	}
}

// newPIN: a new PIN, applied on reload, ends every device's cookie.
func (c *cashierRun) newPIN() {
	t, r := c.t, c.r
	writeFile(t, c.e.cfgPath, strings.Replace(readFile(t, c.e.cfgPath), pagePIN, newPIN, 1))
	before := r.status(t).ConfigReload.At
	r.reload <- struct{}{}
	waitFor(t, "the reload", func() bool { st := r.status(t); return !st.ConfigReload.At.Equal(before) && st.ConfigReload.OK })
	c.phone.open(c.page + "/")
	if c.phone.text("#pin-form") == "" || strings.Contains(c.phone.text("main"), "8,200") {
		t.Errorf("after a new PIN the old cookie still shows the payments")
	}
	if _, body := fetch(t, c.device, http.MethodGet, c.page+"/", nil); strings.Contains(body, "₦8,200") {
		t.Errorf("after a new PIN the second device still sees the payments")
	}
}

// secretsKept: the PIN and the cookie key stay out of the logs, and the
// key file is the daemon's alone.
func (c *cashierRun) secretsKept() {
	t := c.t
	path := filepath.Join(c.e.dir, "data", PageKeyFile)
	key, err := os.ReadFile(path)
	if err != nil || len(key) != 32 {
		t.Fatalf("the cookie key: %v, %d bytes", err, len(key))
	}
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("the key file is %v; want 0600", fi.Mode().Perm())
	}
	logs := c.e.logs.String()
	for what, s := range map[string]string{"the PIN": pagePIN, "the new PIN": newPIN, "the key in hex": hex.EncodeToString(key),
		"the key in base64": base64.StdEncoding.EncodeToString(key), "the key in URL base64": base64.RawURLEncoding.EncodeToString(key), "the key": string(key)} {
		if strings.Contains(logs, s) {
			t.Errorf("the logs hold %s", what)
		}
	}
}
