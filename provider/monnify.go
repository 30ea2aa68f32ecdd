package provider

import (
	"crypto/sha512"
	"encoding/json"
	"strings"

	"github.com/fluxrelay/fluxrelay/notification"
)

// Monnify verifies and maps Monnify webhooks: {"eventType", "eventData"}
// signed in the monnify-signature header with the hex HMAC-SHA512 of the
// raw body, keyed with the merchant's client secret (docs/providers.md).
type Monnify struct {
	Secret string
	Tenant string
}

// Verify implements Provider.
func (p *Monnify) Verify(req *Request) error {
	sig := req.Header.Get("monnify-signature")
	if sig == "" {
		return unauthorized("the monnify-signature header is missing; is this request really from Monnify?")
	}
	if !equalHex(sig, macHex(sha512.New, p.Secret, req.Body)) {
		return unauthorized("monnify-signature does not match the body; check that secret is the Monnify client secret (Developers → API Keys)")
	}
	return nil
}

// monnifyRefs names the field that identifies each event that is stored but
// not relayed.
var monnifyRefs = map[string]string{
	"REJECTED_PAYMENT": "transactionReference", "SUCCESSFUL_DISBURSEMENT": "reference",
	"FAILED_DISBURSEMENT": "reference", "REVERSED_DISBURSEMENT": "reference",
	"SUCCESSFUL_REFUND": "refundReference", "FAILED_REFUND": "refundReference",
	"SETTLEMENT": "settlementReference", "MANDATE_UPDATE": "mandateCode",
	"ACCOUNT_ACTIVITY": "reference", "LOW_BALANCE_ALERT": "transactionTime",
}

// Parse implements Provider.
func (p *Monnify) Parse(req *Request) (*Parsed, error) {
	top, err := object(req.Body, "the body")
	if err != nil {
		return nil, err
	}
	event := text(top, "eventType")
	if event == "" {
		return nil, badRequest("eventType: missing (want a Monnify webhook such as SUCCESSFUL_TRANSACTION)")
	}
	data, err := sub(top, "eventData")
	if err != nil {
		return nil, err
	}
	if event == "SUCCESSFUL_TRANSACTION" {
		return p.sale(data, req)
	}
	refKey, known := monnifyRefs[event]
	if !known {
		return nil, badRequest("eventType: got %q, an event fluxrelay does not know", event)
	}
	return &Parsed{DedupKey: event + ":" + text(data, refKey), Ignored: "Monnify " + event + " is not a sale", Tenant: p.Tenant}, nil
}

func (p *Monnify) sale(d map[string]json.RawMessage, req *Request) (*Parsed, error) {
	ref := text(d, "transactionReference")
	if ref == "" {
		return nil, badRequest("eventData.transactionReference: missing")
	}
	amount, err := amountNaira(d, "amountPaid", "eventData.amountPaid")
	if err != nil {
		return nil, err
	}
	product, err := sub(d, "product")
	if err != nil {
		return nil, err
	}
	customer, err := sub(d, "customer")
	if err != nil {
		return nil, err
	}
	meta, _ := sub(d, "metaData") // free-form: anything but an object is ignored
	pay := &notification.Payload{
		TenantID: p.Tenant, TransactionRef: ref, PaymentRef: text(d, "paymentReference"),
		PaymentMethod: text(d, "paymentMethod"), Amount: amount,
		Customer: notification.Customer{Name: text(customer, "name"), Email: text(customer, "email"), Phone: text(meta, "phoneNumber")},
	}
	pay.Customer.ID = pay.Customer.Email
	if text(product, "type") == "RESERVED_ACCOUNT" {
		pay.Customer.ID = text(product, "reference")
	}
	t, ok := parseTime(text(d, "paidOn"), lagos, "2006-01-02 15:04:05.000", "2006-01-02 15:04:05", "02/01/2006 3:04:05 PM", "02/01/2006 03:04:05 PM", "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05Z07:00")
	pay.TransactionDate, pay.DateDefaulted = when(req, t, ok)
	src, err := payer(d["paymentSourceInformation"])
	if err != nil {
		return nil, err
	}
	pay.AccountNumber, pay.BankCode, pay.AccountName = text(src, "accountNumber"), text(src, "bankCode"), text(src, "accountName")
	return &Parsed{DedupKey: ref, Payload: pay, Tenant: p.Tenant}, nil
}

// payer reads paymentSourceInformation: an array (its first element), an
// object, or empty.
func payer(raw json.RawMessage) (map[string]json.RawMessage, error) {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "" || s == "null" || s == "{}" || s == "[]":
		return map[string]json.RawMessage{}, nil
	case s[0] == '[':
		var list []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, badRequest("eventData.paymentSourceInformation: want a list of objects")
		}
		if len(list) == 0 || list[0] == nil { // "[ ]" and "[null]" are sent too
			return map[string]json.RawMessage{}, nil
		}
		return list[0], nil
	default:
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, badRequest("eventData.paymentSourceInformation: got %s, want an object or a list", clip(raw))
		}
		return m, nil
	}
}

// Verification implements Provider.
func (p *Monnify) Verification() string {
	return "monnify-signature: HMAC-SHA512 of the body"
}
