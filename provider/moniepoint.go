package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
)

// Moniepoint verifies and maps Moniepoint POS terminal webhooks ("POS as a
// Platform"): base64 HMAC-SHA256 of id + "__" + timestamp + "__" + body in
// moniepoint-webhook-signature, keyed with the subscription secret
// (PROVIDERS.md §1.7). Timestamps older than MaxSkew are refused.
type Moniepoint struct {
	Secret  string
	Tenant  string
	MaxSkew time.Duration
}

// Verify implements Provider.
func (p *Moniepoint) Verify(req *Request) error {
	id, ts, sig := req.Header.Get("moniepoint-webhook-id"), req.Header.Get("moniepoint-webhook-timestamp"), req.Header.Get("moniepoint-webhook-signature")
	if id == "" || ts == "" || sig == "" {
		return unauthorized("the moniepoint-webhook-id, -timestamp and -signature headers are all needed; is this request really from Moniepoint?")
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	m := hmac.New(sha256.New, []byte(p.Secret))
	m.Write([]byte(id + "__" + ts + "__"))
	m.Write(req.Body)
	if err != nil || !hmac.Equal(got, m.Sum(nil)) {
		return unauthorized("moniepoint-webhook-signature does not match; check that secret is this webhook subscription's secret")
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return unauthorized("moniepoint-webhook-timestamp %q is not epoch milliseconds", ts)
	}
	if age := req.Received.Sub(time.UnixMilli(ms)); p.MaxSkew > 0 && (age > p.MaxSkew || age < -p.MaxSkew) {
		return unauthorized("moniepoint-webhook-timestamp is %s away from this gateway's clock, more than max_skew (%s); check the gateway's clock, or it is a replay", age.Round(time.Second), p.MaxSkew)
	}
	return nil
}

// Parse implements Provider. Amounts are taken as kobo (PROVIDERS.md §1.7
// leaves the unit open; 1575000 in the fixtures is ₦15,750.00).
func (p *Moniepoint) Parse(req *Request) (*Parsed, error) {
	top, err := object(req.Body, "the body")
	if err != nil {
		return nil, err
	}
	event := text(top, "eventId")
	if event == "" {
		event = req.Header.Get("moniepoint-webhook-id")
	}
	if event == "" {
		return nil, badRequest("eventId: missing")
	}
	d, err := sub(top, "data")
	if err != nil {
		return nil, err
	}
	status, kind, code := strings.ToUpper(text(d, "transactionStatus")), strings.ToUpper(text(d, "transactionType")), text(d, "responseCode")
	switch {
	case status != "COMPLETED" && status != "SUCCESSFUL" && status != "SUCCESS":
		return &Parsed{DedupKey: event, Ignored: "Moniepoint " + text(top, "eventType") + " with status " + status + " is not a completed payment", Tenant: p.Tenant}, nil
	case code != "" && code != "00":
		return &Parsed{DedupKey: event, Ignored: "Moniepoint response code " + code + " (" + text(d, "responseMessage") + ") is not an approved payment", Tenant: p.Tenant}, nil
	case kind == "AIRTIME" || kind == "BILL_PAYMENT" || kind == "DATA":
		return &Parsed{DedupKey: event, Ignored: "Moniepoint " + kind + " sold at the terminal is not a payment for a sale", Tenant: p.Tenant}, nil
	}
	ref := text(d, "transactionReference")
	if ref == "" {
		return nil, badRequest("data.transactionReference: missing")
	}
	amount, err := amountKobo(d, "amount", "data.amount")
	if err != nil {
		return nil, err
	}
	when := text(d, "transactionTime")
	t, ok := parseTime(when, lagos, "2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", time.RFC3339Nano, "2006-01-02T15:04:05.000")
	if !ok {
		return nil, badRequest("data.transactionTime: got %q, want a time such as \"2025-03-14T10:22:33.120+0100\"", when)
	}
	custom, _ := sub(d, "customFields")
	pay := &notification.Payload{
		TenantID: p.Tenant, TransactionRef: ref, PaymentRef: text(d, "merchantReference"),
		PaymentMethod: method(kind), Amount: amount, TransactionDate: t,
		Customer: notification.Customer{ID: text(d, "terminalSerial")},
	}
	if pay.PaymentRef == "" {
		pay.PaymentRef = text(custom, "Invoice ID")
	}
	return &Parsed{DedupKey: event, Payload: pay, Tenant: p.Tenant}, nil
}
