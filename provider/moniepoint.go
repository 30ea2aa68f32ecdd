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
// (docs/providers.md). Timestamps older than MaxSkew are refused.
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
	sent, err := moniepointTime(ts)
	if err != nil {
		return err
	}
	if age := req.Received.Sub(sent); p.MaxSkew > 0 && (age > p.MaxSkew || age < -p.MaxSkew) {
		return unauthorized("moniepoint-webhook-timestamp is %s away from this gateway's clock, more than max_skew (%s); check the gateway's clock, or it is a replay", age.Round(time.Second), p.MaxSkew)
	}
	return nil
}

// moniepointTime reads moniepoint-webhook-timestamp: epoch milliseconds.
// A timestamp in seconds is refused with a message that says so, rather
// than read as a date in January 1970.
func moniepointTime(ts string) (time.Time, error) {
	ms, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
	switch {
	case err != nil || ms <= 0:
		return time.Time{}, unauthorized("moniepoint-webhook-timestamp %q is not epoch milliseconds (Moniepoint sends e.g. \"1741948243000\")", clip([]byte(ts)))
	case ms >= 1e9 && ms < 1e11:
		return time.Time{}, unauthorized("moniepoint-webhook-timestamp %q is in seconds, not the milliseconds Moniepoint sends (%s000); the sender does not follow Moniepoint's webhook format — tell whoever runs it", ts, ts)
	}
	return time.UnixMilli(ms), nil
}

// SignedAt implements Stamped: Moniepoint signs the time it sent the
// notification.
func (p *Moniepoint) SignedAt(req *Request) (time.Time, bool) {
	t, err := moniepointTime(req.Header.Get("moniepoint-webhook-timestamp"))
	return t, err == nil
}

// moniepointTypes sorts the transaction types a Moniepoint terminal
// reports: true for money a customer pays the shop (card purchases and
// transfers in), false for the agent-banking services a terminal also sells
// (cash withdrawals, airtime, data, bills, transfers out). A type not
// listed is held for a person, never guessed.
var moniepointTypes = map[string]bool{
	"PURCHASE": true, "CARD_PURCHASE": true, "CARD": true, "POS_PURCHASE": true,
	"TRANSFER": true, "TRANSFER_IN": true, "INBOUND_TRANSFER": true, "PAY_WITH_TRANSFER": true,
	"WITHDRAWAL": false, "CASH_WITHDRAWAL": false, "CASHOUT": false, "CASH_OUT": false,
	"AIRTIME": false, "DATA": false, "BILL_PAYMENT": false, "BILLS": false,
	"TRANSFER_OUT": false, "OUTBOUND_TRANSFER": false, "DEPOSIT": false, "CASH_DEPOSIT": false,
}

// moniepointNotDone are the statuses of a transaction that did not (yet)
// take the customer's money.
var moniepointNotDone = map[string]bool{
	"PENDING": true, "FAILED": true, "FAILURE": true, "DECLINED": true, "REVERSED": true,
	"CANCELLED": true, "TIMEOUT": true, "PROCESSING": true, "INITIATED": true,
}

// Parse implements Provider. Amounts are taken as kobo (docs/providers.md
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
	sale, knownKind := moniepointTypes[kind]
	switch {
	case moniepointNotDone[status]:
		return &Parsed{DedupKey: event, Ignored: "Moniepoint " + kind + " with status " + status + " is not a completed payment", Tenant: p.Tenant}, nil
	case status != "COMPLETED" && status != "SUCCESSFUL" && status != "SUCCESS":
		return nil, badRequest("data.transactionStatus: got %q, a status fluxrelay does not know", status)
	case !knownKind:
		return nil, badRequest("data.transactionType: got %q, a transaction type fluxrelay does not know", kind)
	case !sale:
		return &Parsed{DedupKey: event, Ignored: "Moniepoint " + kind + " at the terminal is not a payment for a sale", Tenant: p.Tenant}, nil
	case code != "" && code != "00":
		return &Parsed{DedupKey: event, Ignored: "Moniepoint response code " + code + " (" + text(d, "responseMessage") + ") is not an approved payment", Tenant: p.Tenant}, nil
	}
	ref := text(d, "transactionReference")
	if ref == "" {
		return nil, badRequest("data.transactionReference: missing")
	}
	amount, err := amountKobo(d, "amount", "data.amount")
	if err != nil {
		return nil, err
	}
	t, ok := parseTime(text(d, "transactionTime"), lagos, "2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", time.RFC3339Nano, "2006-01-02T15:04:05.000")
	custom, _ := sub(d, "customFields")
	pay := &notification.Payload{
		TenantID: p.Tenant, TransactionRef: ref, PaymentRef: text(d, "merchantReference"),
		PaymentMethod: method(kind), Amount: amount,
		Customer: notification.Customer{ID: text(d, "terminalSerial")},
	}
	pay.TransactionDate, pay.DateDefaulted = when(req, t, ok)
	if pay.PaymentRef == "" {
		pay.PaymentRef = text(custom, "Invoice ID")
	}
	return &Parsed{DedupKey: event, Payload: pay, Tenant: p.Tenant}, nil
}

// Verification implements Provider.
func (p *Moniepoint) Verification() string {
	return "moniepoint-webhook-signature: HMAC-SHA256 of its id, timestamp and body"
}
