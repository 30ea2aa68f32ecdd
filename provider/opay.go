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
// payload fields, keyed with the merchant's private key (docs/providers.md).
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

// opayStatus sorts the status words OPay's API generations use: the
// checkout sends SUCCESS, FAIL, PENDING, INITIAL, CLOSE; the older cashier
// sends them in lower case and says "successful" and "failed".
func opayStatus(status string) (sale, known bool) {
	switch strings.ToUpper(strings.TrimSpace(status)) {
	case "SUCCESS", "SUCCESSFUL", "SUCCEEDED":
		return true, true
	case "FAIL", "FAILED", "FAILURE", "PENDING", "INITIAL", "PROCESSING", "CLOSE", "CLOSED", "CANCEL", "CANCELLED", "CANCELED", "EXPIRED", "REVERSED", "REFUNDED":
		return false, true
	}
	return false, false
}

// opayIgnored explains why a known OPay status is not a sale.
func opayIgnored(what, status, detail string, refunded bool) string {
	reason := what + " status " + status
	if detail != "" {
		reason += ": " + detail
	}
	if refunded {
		reason += " (refunded)"
	}
	return reason + " is not a sale"
}

// Parse implements Provider. Only a success that is not refunded is a sale.
func (o *OPay) Parse(req *Request) (*Parsed, error) {
	top, err := object(req.Body, "the body")
	if err != nil {
		return nil, err
	}
	p, err := sub(top, "payload")
	if err != nil {
		return nil, err
	}
	id, status := text(p, "transactionId"), text(p, "status")
	if id == "" {
		return nil, badRequest("payload.transactionId: missing")
	}
	sale, known := opayStatus(status)
	if !known {
		return nil, badRequest("payload.status: got %q, a status fluxrelay does not know", status)
	}
	key := id + ":" + strings.ToUpper(status)
	if sale {
		key = id + ":SUCCESS" // the same payment, whichever generation's word
	}
	if refunded := boolField(p, "refunded"); !sale || refunded {
		return &Parsed{DedupKey: key, Ignored: opayIgnored("OPay", status, text(p, "displayedFailure"), refunded), Tenant: o.Tenant}, nil
	}
	raw := text(p, "amount")
	var amount notification.Amount
	if strings.Contains(raw, ".") { // the older cashier sent naira: "10.00"
		amount, err = notification.ParseAmount(raw)
	} else {
		amount, err = notification.AmountFromKobo(raw)
	}
	if err != nil {
		return nil, badRequest("payload.amount: got %q, want kobo as a whole number (\"820000\") or naira with decimals", raw)
	}
	t, ok := parseTime(text(p, "timestamp"), time.UTC, time.RFC3339Nano)
	pay := &notification.Payload{TenantID: o.Tenant, TransactionRef: id, PaymentRef: text(p, "reference"),
		PaymentMethod: method(text(p, "instrumentType")), Amount: amount}
	pay.TransactionDate, pay.DateDefaulted = when(req, t, ok)
	return &Parsed{DedupKey: key, Payload: pay, Tenant: o.Tenant}, nil
}

// OPayPOS takes OPay's offline "general payment" webhooks from OPay POS
// terminals and static accounts. They carry no HMAC: the merchantId header
// must be this merchant's, and X-Opay-Tranid must name the body's payment
// (docs/providers.md); the allow list does the rest.
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
	// Each attempt under an order has its own payNo: a declined card can
	// be followed by a success for the same order.
	key := order
	if pay := text(d, "payNo"); pay != "" {
		key = order + ":" + pay
	}
	status := text(d, "status")
	sale, known := opayStatus(status)
	if !known {
		return nil, badRequest("data.status: got %q, a status fluxrelay does not know", status)
	}
	if refunded := boolField(d, "refunded"); !sale || refunded {
		return &Parsed{DedupKey: key, Ignored: opayIgnored("OPay POS", status, text(d, "errorMsg"), refunded), Tenant: o.Tenant}, nil
	}
	amount, err := amountNaira(d, "amount", "data.amount")
	if err != nil {
		return nil, err
	}
	t, ok := epochMillis(text(d, "completedTime"))
	if !ok {
		t, ok = epochMillis(text(d, "transactionTime"))
	}
	pay := &notification.Payload{TenantID: o.Tenant, TransactionRef: order, PaymentRef: text(d, "outOrderNo"),
		PaymentMethod: method(text(d, "payMethod")), Amount: amount,
		Customer:      notification.Customer{Name: text(d, "senderName")},
		AccountNumber: text(d, "senderAccount"), BankName: text(d, "senderBank"), AccountName: text(d, "senderName")}
	pay.TransactionDate, pay.DateDefaulted = when(req, t, ok)
	if pay.PaymentRef == "" {
		pay.PaymentRef = order
	}
	return &Parsed{DedupKey: key, Payload: pay, Tenant: o.Tenant}, nil
}

// Verification implements Provider.
func (o *OPay) Verification() string {
	return "the body's sha512 field: HMAC-SHA3-512 of the payment's fields"
}

// Verification implements Provider.
func (o *OPayPOS) Verification() string {
	return "the merchantId and X-Opay-Tranid headers (OPay signs nothing here; the allow list guards it)"
}
