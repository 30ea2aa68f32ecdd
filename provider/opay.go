package provider

import (
	"crypto/sha3"
	"encoding/json"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
)

// OPay verifies and maps OPay checkout (cashier) callbacks: the body's
// sha512 field is the hex HMAC-SHA3-512 of a fixed template of eight
// payload fields, keyed with the merchant's private key (PROVIDERS.md §2.1).
type OPay struct {
	Secret string
	Tenant string
}

func newSHA3() hash.Hash { return sha3.New512() }

// opaySigningString builds the template OPay signs, values verbatim.
func opaySigningString(p map[string]json.RawMessage) string {
	refunded := "f"
	if boolField(p, "refunded") {
		refunded = "t"
	}
	return fmt.Sprintf(`{Amount:"%s",Currency:"%s",Reference:"%s",Refunded:%s,Status:"%s",Timestamp:"%s",Token:"%s",TransactionID:"%s"}`,
		text(p, "amount"), text(p, "currency"), text(p, "reference"), refunded, text(p, "status"), text(p, "timestamp"), text(p, "token"), text(p, "transactionId"))
}

// Verify implements Provider.
func (o *OPay) Verify(req *Request) error {
	top, err := object(req.Body, "the body")
	if err != nil {
		return unauthorized("the body is not an OPay callback, so its signature cannot be checked")
	}
	sig := text(top, "sha512")
	if sig == "" {
		return unauthorized("the sha512 field is missing; is this request really an OPay callback?")
	}
	payload, err := sub(top, "payload")
	if err != nil {
		return unauthorized("payload is not an object, so the signature cannot be checked")
	}
	if !equalHex(sig, macHex(newSHA3, o.Secret, []byte(opaySigningString(payload)))) {
		return unauthorized("sha512 does not match the payload; check that secret is the OPay private key (OPAYPRV…)")
	}
	return nil
}

// Parse implements Provider. Only SUCCESS that is not refunded is a sale.
func (o *OPay) Parse(req *Request) (*Parsed, error) {
	top, err := object(req.Body, "the body")
	if err != nil {
		return nil, err
	}
	p, err := sub(top, "payload")
	if err != nil {
		return nil, err
	}
	id, status := text(p, "transactionId"), strings.ToUpper(text(p, "status"))
	if id == "" {
		return nil, badRequest("payload.transactionId: missing")
	}
	key := id + ":" + status
	if status != "SUCCESS" || boolField(p, "refunded") {
		reason := "OPay status " + status
		if msg := text(p, "displayedFailure"); msg != "" {
			reason += ": " + msg
		}
		if boolField(p, "refunded") {
			reason += " (refunded)"
		}
		return &Parsed{DedupKey: key, Ignored: reason + " is not a sale", Tenant: o.Tenant}, nil
	}
	raw := text(p, "amount")
	var amount notification.Amount
	if strings.Contains(raw, ".") { // the older format sent naira
		amount, err = notification.ParseAmount(raw)
	} else {
		amount, err = notification.AmountFromKobo(raw)
	}
	if err != nil {
		return nil, badRequest("payload.amount: got %q, want kobo as a whole number (\"820000\") or naira with decimals", raw)
	}
	ts := text(p, "timestamp")
	t, ok := parseTime(ts, time.UTC, time.RFC3339Nano)
	if !ok {
		return nil, badRequest("payload.timestamp: got %q, want RFC 3339 such as \"2025-03-14T10:30:41Z\"", ts)
	}
	pay := &notification.Payload{TenantID: o.Tenant, TransactionRef: id, PaymentRef: text(p, "reference"),
		PaymentMethod: method(text(p, "instrumentType")), Amount: amount, TransactionDate: t}
	return &Parsed{DedupKey: key, Payload: pay, Tenant: o.Tenant}, nil
}

// OPayPOS takes OPay's offline "general payment" webhooks from OPay POS
// terminals and static accounts. They carry no HMAC: the merchantId header
// must be this merchant's, and X-Opay-Tranid must name the body's payment
// (PROVIDERS.md §2.2); the allow list does the rest.
type OPayPOS struct {
	MerchantID string
	Tenant     string
}

// Verify implements Provider.
func (o *OPayPOS) Verify(req *Request) error {
	if got := req.Header.Get("merchantId"); got != o.MerchantID {
		return unauthorized("the merchantId header is %q, not this source's merchant_id; check merchant_id", got)
	}
	top, err := object(req.Body, "the body")
	if err != nil {
		return err
	}
	if _, encrypted := top["paramContent"]; encrypted {
		return badRequest("this is an RSA-encrypted OPay envelope (paramContent), which fluxrelay does not decrypt yet; ask OPay to send plaintext {\"data\": …} notifications")
	}
	d, err := sub(top, "data")
	if err != nil {
		return err
	}
	tran := req.Header.Get("X-Opay-Tranid")
	if tran == "" || (tran != text(d, "payNo") && tran != text(d, "orderNo")) {
		return unauthorized("X-Opay-Tranid %q does not name the payment in the body (payNo %q)", tran, text(d, "payNo"))
	}
	return nil
}

// Parse implements Provider.
func (o *OPayPOS) Parse(req *Request) (*Parsed, error) {
	top, err := object(req.Body, "the body")
	if err != nil {
		return nil, err
	}
	d, err := sub(top, "data")
	if err != nil {
		return nil, err
	}
	order := text(d, "orderNo")
	if order == "" {
		return nil, badRequest("data.orderNo: missing")
	}
	if status := strings.ToUpper(text(d, "status")); status != "SUCCESS" {
		return &Parsed{DedupKey: order, Ignored: "OPay POS status " + status + " " + text(d, "errorMsg") + " is not a sale", Tenant: o.Tenant}, nil
	}
	amount, err := amountNaira(d, "amount", "data.amount")
	if err != nil {
		return nil, err
	}
	t, ok := epochMillis(text(d, "completedTime"))
	if !ok {
		if t, ok = epochMillis(text(d, "transactionTime")); !ok {
			return nil, badRequest("data.completedTime: got %q, want epoch milliseconds", text(d, "completedTime"))
		}
	}
	pay := &notification.Payload{TenantID: o.Tenant, TransactionRef: order, PaymentRef: text(d, "outOrderNo"),
		PaymentMethod: method(text(d, "payMethod")), Amount: amount, TransactionDate: t,
		Customer:      notification.Customer{Name: text(d, "senderName")},
		AccountNumber: text(d, "senderAccount"), BankName: text(d, "senderBank"), AccountName: text(d, "senderName")}
	if pay.PaymentRef == "" {
		pay.PaymentRef = order
	}
	return &Parsed{DedupKey: order, Payload: pay, Tenant: o.Tenant}, nil
}
