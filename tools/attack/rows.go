package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
)

// httpRows are the attacks over HTTP ingest (items 3, 4 and 6).
func httpRows() []row {
	return []row{
		{"3", "the unsigned till posts ₦1.00 under the reference the signed app then sends ₦8,200.00 with", "the app's sale is queued and the ₦8,200.00 delivered", crossSource},
		{"3", "the till resends a reference with another amount and another customer", "409 names both amounts, no customer data", conflictLeak},
		{"4", `a body with "amount":"1.00" and "Amount":"8200.00"`, "400 naming Amount", caseVariant(`{"transactionRef":"CASE-1","amount":"1.00","Amount":"8200.00"}`, "Amount")},
		{"4", `a body with "TenantId":"another-shop"`, "400 naming TenantId", caseVariant(`{"transactionRef":"CASE-2","amount":"1.00","TenantId":"another-shop"}`, "TenantId")},
		{"4", "a customer with its name given twice", "400 naming customer.name", caseVariant(`{"transactionRef":"DUP-1","amount":"1.00","customer":{"name":"A","name":"B"}}`, "customer.name")},
		{"4", "an unknown field nested 10,000 arrays deep (~20 KB)", "400 naming the depth limit (64)", caseVariant(`{"transactionRef":"DEEP-1","amount":"1.00","x":`+strings.Repeat("[", 10000)+strings.Repeat("]", 10000)+`}`, "64")},
		{"4", "a resend of a sale with its keys in another order and 8200 for 8200.00", "duplicate, not 409", reordered},
		{"6", "a signed Moniepoint notification replayed 2 h later (dedup_window 1h, max_skew 24h)", "401: older than the dedup window", moniepointReplay},
		{"6", "a Moniepoint timestamp in seconds", "401 saying it is in seconds", moniepointSeconds},
	}
}

func crossSource(e *env) (string, bool) {
	ref := fmt.Sprintf("SALE-%d", time.Now().UnixNano())
	fakeCode, _ := e.post("/notify/till", `{"transactionRef":"`+ref+`","amount":"1.00"}`, nil)
	body := `{"transactionRef":"` + ref + `","amount":"8200.00","paymentMethod":"CARD"}`
	code, answer := e.post("/notify/app", body, http.Header{"Signature": {notification.Sign(appSecret, []byte(body))}})
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && !contains(e.core.deliveries(ref), "8200.00"); {
		time.Sleep(50 * time.Millisecond)
	}
	got := e.core.deliveries(ref)
	return fmt.Sprintf("till %d, app %d %s; Fluxvend got %v", fakeCode, code, clipText(answer, 60), got), code == 200 && contains(got, "8200.00")
}

func conflictLeak(e *env) (string, bool) {
	ref := fmt.Sprintf("CONFLICT-%d", time.Now().UnixNano())
	e.post("/notify/till", `{"transactionRef":"`+ref+`","amount":"1.00","customer":{"name":"AMAKA EXAMPLE","phone":"08031234567"}}`, nil)
	code, answer := e.post("/notify/till", `{"transactionRef":"`+ref+`","amount":"2.00","customer":{"name":"MALLAM FAKE","phone":"08099999999"}}`, nil)
	leak := strings.Contains(answer, "AMAKA") || strings.Contains(answer, "0803") || strings.Contains(answer, "MALLAM")
	return fmt.Sprintf("%d %s", code, clipText(answer, 90)), code == 409 && strings.Contains(answer, "1.00") && strings.Contains(answer, "2.00") && !leak
}

func caseVariant(body, names string) func(*env) (string, bool) {
	return func(e *env) (string, bool) {
		code, answer := e.post("/notify/till", body, nil)
		return fmt.Sprintf("%d %s", code, clipText(answer, 80)), code == 400 && strings.Contains(answer, names)
	}
}

func reordered(e *env) (string, bool) {
	ref := fmt.Sprintf("ORDER-%d", time.Now().UnixNano())
	e.post("/notify/till", `{"transactionRef":"`+ref+`","amount":"8200.00","paymentMethod":"CARD","lane":{"a":1,"b":2}}`, nil)
	code, answer := e.post("/notify/till", `{"lane":{"b":2,"a":1},"paymentMethod":"CARD","amount":8200,"transactionRef":"`+ref+`"}`, nil)
	return fmt.Sprintf("%d %s", code, clipText(answer, 80)), code == 200 && strings.Contains(answer, "duplicate")
}

// moniepoint signs a Moniepoint POS notification sent at ts.
func moniepoint(id, ts string) (string, http.Header) {
	body := `{"eventId":"` + id + `","eventType":"V1_POS_PURCHASE_TRANSACTION","data":{"transactionStatus":"COMPLETED","transactionType":"PURCHASE","transactionReference":"` + id + `-REF","amount":250000,"responseCode":"00"}}`
	m := hmac.New(sha256.New, []byte(moniepointSecret))
	m.Write([]byte(id + "__" + ts + "__" + body))
	return body, http.Header{"Moniepoint-Webhook-Id": {id}, "Moniepoint-Webhook-Timestamp": {ts},
		"Moniepoint-Webhook-Signature": {base64.StdEncoding.EncodeToString(m.Sum(nil))}}
}

func moniepointReplay(e *env) (string, bool) {
	body, h := moniepoint(fmt.Sprintf("MP-%d", time.Now().UnixNano()), strconv.FormatInt(time.Now().Add(-2*time.Hour).UnixMilli(), 10))
	code, answer := e.post("/notify/moniepoint", body, h)
	return fmt.Sprintf("%d %s", code, clipText(answer, 80)), code == 401 && strings.Contains(answer, "dedup_window")
}

func moniepointSeconds(e *env) (string, bool) {
	body, h := moniepoint(fmt.Sprintf("MPS-%d", time.Now().UnixNano()), strconv.FormatInt(time.Now().Unix(), 10))
	code, answer := e.post("/notify/moniepoint", body, h)
	return fmt.Sprintf("%d %s", code, clipText(answer, 80)), code == 401 && strings.Contains(answer, "in seconds")
}

// adminRows are the attacks on the admin API, the files and the config
// (items 7, 8 and 9), and issue 27's trailing slash.
func adminRows() []row {
	return []row{
		{"7", "a web page's text/plain POST /api/replay {delivered: true}, no admin.token set", "refused; nothing re-queued", crossSitePost},
		{"7", "GET /api/status with Host: evil.example (DNS rebinding)", "403", rebinding},
		{"7", "the modes of everything under data_dir", "files 0600, folders 0700", fileModes},
		{"8", "check-config on this gateway's config (a core source with neither secret nor allow)", "a warning that says what it means", checkConfigWarns},
		{"8", "Authorization: <the token> without Bearer, once admin.token is set", "401", noBearer},
		{"9", "a held Vesicash notification sent with mor-signature, then dlq show", "the header shown redacted", morSignature},
		{"27", "POST /notify/till/ (a trailing slash, as Vesicash's dashboard says)", "taken as /notify/till", trailingSlash},
	}
}

func crossSitePost(e *env) (string, bool) {
	before := e.core.total()
	req, _ := http.NewRequest(http.MethodPost, "http://"+e.adminAddr+"/api/replay", strings.NewReader(`{"since":"2000-01-01","delivered":true}`))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err.Error(), false
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	time.Sleep(2 * time.Second)
	again := e.core.total() - before
	return fmt.Sprintf("%d %s; %d delivered again", resp.StatusCode, clipText(strings.Join(strings.Fields(string(b)), " "), 60), again), resp.StatusCode != 200 && again == 0
}

func rebinding(e *env) (string, bool) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+e.adminAddr+"/api/status", nil)
	req.Host = "evil.example"
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err.Error(), false
	}
	resp.Body.Close()
	return strconv.Itoa(resp.StatusCode), resp.StatusCode == http.StatusForbidden
}

func fileModes(e *env) (string, bool) {
	var open []string
	filepath.WalkDir(filepath.Join(e.dir, "data"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil && info.Mode().Perm()&0o077 != 0 {
			rel, _ := filepath.Rel(e.dir, path)
			open = append(open, fmt.Sprintf("%s %04o", rel, info.Mode().Perm()))
		}
		return nil
	})
	if len(open) == 0 {
		return "none open to others", true
	}
	return fmt.Sprintf("%d open to others, e.g. %s", len(open), open[0]), false
}

func checkConfigWarns(e *env) (string, bool) {
	out, _ := exec.Command(e.bin, "check-config", "-c", e.cfg).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "neither secret nor allow") {
			return clipText(line[strings.Index(line, "warning"):], 90), true
		}
	}
	return "no such warning: " + clipText(strings.Join(strings.Fields(string(out)), " "), 70), false
}

func noBearer(e *env) (string, bool) {
	if err := e.reloadWithToken(); err != nil {
		return err.Error(), false
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+e.adminAddr+"/api/status", nil)
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				break // the token is in force
			}
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+e.adminAddr+"/api/status", nil)
	req.Header.Set("Authorization", adminToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err.Error(), false
	}
	resp.Body.Close()
	return strconv.Itoa(resp.StatusCode), resp.StatusCode == http.StatusUnauthorized
}

func morSignature(e *env) (string, bool) {
	ref := fmt.Sprintf("VSC-%d", time.Now().UnixNano())
	code, answer := e.post("/notify/vesicash", `{"payment_id":"`+ref+`","status":"success"}`, http.Header{"Mor-Signature": {"vesicash-constant-credential"}})
	id := jsonField(answer, "id")
	if code != 200 || id == "" {
		return fmt.Sprintf("held? %d %s", code, clipText(answer, 60)), false
	}
	resp, err := e.adminDo(http.MethodGet, "/api/dead-letters/"+id, "", nil)
	if err != nil {
		return err.Error(), false
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	shown := strings.Contains(string(b), "vesicash-constant-credential")
	return fmt.Sprintf("dlq show %d; the credential shown: %v", resp.StatusCode, shown), resp.StatusCode == 200 && !shown
}

func trailingSlash(e *env) (string, bool) {
	code, answer := e.post("/notify/till/", fmt.Sprintf(`{"transactionRef":"SLASH-%d","amount":"5.00"}`, time.Now().UnixNano()), nil)
	return fmt.Sprintf("%d %s", code, clipText(answer, 60)), code == 200
}

// countersAddUp checks, after every attack, that each source's counters
// add up (issue 27).
func countersAddUp(e *env) (string, bool) {
	st, err := e.status()
	if err != nil {
		return err.Error(), false
	}
	var off []string
	for name, s := range st.Sources {
		if sum := s.Queued + s.Duplicates + s.Ignored + s.Held + s.Rejected; sum != s.Received {
			off = append(off, fmt.Sprintf("%s: %d received, %d counted", name, s.Received, sum))
		}
	}
	if len(off) == 0 {
		return fmt.Sprintf("all %d sources add up", len(st.Sources)), true
	}
	return strings.Join(off, "; "), false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func jsonField(answer, key string) string {
	_, rest, ok := strings.Cut(answer, `"`+key+`":"`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// clipText shortens s for a table cell.
func clipText(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
