package provider

import (
	"crypto/sha256"
	"log/slog"
	"strings"

	"github.com/fluxrelay/fluxrelay/notification"
)

// Vesicash verifies and maps Vesicash webhooks. The body is only the event's
// data, so the event is told apart by its keys. How Vesicash fills
// X-Vesicash-Webhook-Secret is not settled (docs/providers.md): Mode "A"
// (its sender code: a constant HMAC of key:business_id), "B" (the doc
// example: an HMAC of the body keyed with key:business_id), or "none".
type Vesicash struct {
	Secret     string
	BusinessID string
	Mode       string
	Tenant     string
	Log        *slog.Logger
}

// vesicashRecipes computes the candidate header values for a body.
func (v *Vesicash) vesicashRecipes(body []byte) map[string]string {
	keyed := v.Secret + ":" + v.BusinessID
	return map[string]string{
		"A": macHex(sha256.New, v.Secret, []byte(keyed)),
		"B": macHex(sha256.New, keyed, body),
		"C": macHex(sha256.New, v.Secret, body),
	}
}

// Verify implements Provider. When the header fails, the log says which
// other recipe would have matched, so the real one shows on the first live
// delivery.
func (v *Vesicash) Verify(req *Request) error {
	if v.Mode == "none" {
		return nil
	}
	got := req.Header.Get("X-Vesicash-Webhook-Secret")
	if got == "" {
		got = req.Header.Get("mor-signature")
	}
	if got == "" {
		return unauthorized("the X-Vesicash-Webhook-Secret header is missing; is this request really from Vesicash?")
	}
	recipes := v.vesicashRecipes(req.Body)
	if equalHex(got, recipes[v.Mode]) {
		return nil
	}
	for name, want := range recipes {
		if name != v.Mode && equalHex(got, want) {
			if v.Log != nil {
				v.Log.Warn("Vesicash signed with another recipe than signature_mode; set signature_mode to it", "signature_mode", v.Mode, "matches", name)
			}
			return unauthorized("X-Vesicash-Webhook-Secret matches recipe %s, not signature_mode %q; set signature_mode = %q if Vesicash really signs that way", name, v.Mode, name)
		}
	}
	return unauthorized("X-Vesicash-Webhook-Secret matches no known recipe for this secret and business_id; check both in the Vesicash dashboard")
}

// vesicashEvents sorts the event names Vesicash sends: its webhook page's
// payment.success and payment.failed, its plugin's "payment" (whose data
// carries payment_status), its sender code's bank-transfer.* and
// disbursement.*, and the escrow lifecycle of per-transaction webhooks.
// The value is the kind of payment; "" for events that are not payments.
var vesicashEvents = map[string]string{
	"payment": "payment", "payment.success": "payment", "payment.failed": "payment",
	"bank-transfer.success": "bank-transfer", "bank-transfer.failed": "bank-transfer",
	"disbursement.success": "", "disbursement.failed": "",
	"transaction_created": "", "transaction_sent": "", "transaction_accepted": "", "transaction_rejected": "",
	"milestone_delivered": "", "milestone_delivery_accepted": "", "milestone_delivery_rejected": "",
	"due_date_extension_requested": "", "due_date_extension_approved": "",
	"broker_bank_details_missing": "", "seller_bank_details_missing": "", "buyer_bank_details_missing": "",
}

// Parse implements Provider. Vesicash sends either the event's data alone
// (its sender code) or {"event", "data"} (its webhook page and plugin).
func (v *Vesicash) Parse(req *Request) (*Parsed, error) {
	d, err := object(req.Body, "the body")
	if err != nil {
		return nil, err
	}
	event := text(d, "event")
	if data, ok := d["data"]; ok && event != "" && len(bytesTrim(data)) > 0 && bytesTrim(data)[0] == '{' {
		if d, err = sub(d, "data"); err != nil {
			return nil, err
		}
	}
	status := strings.ToLower(text(d, "status"))
	if status == "" {
		status = strings.ToLower(text(d, "payment_status"))
	}
	var kind, ref, method string
	switch {
	case text(d, "disbursement_id") != "":
		kind, ref = "disbursement", text(d, "disbursement_id")
	case text(d, "payment_id") != "":
		kind, ref, method = "bank-transfer", text(d, "payment_id"), "ACCOUNT_TRANSFER"
	case text(d, "transaction_id") != "":
		kind, ref, method = "payment", text(d, "transaction_id"), "VESICASH"
	case text(d, "reference") != "":
		kind, ref, method = "payment", text(d, "reference"), "VESICASH"
	}
	if event != "" {
		evKind, known := vesicashEvents[event]
		switch {
		case !known:
			return nil, badRequest("event: got %q, an event fluxrelay does not know", event)
		case evKind == "":
			return &Parsed{DedupKey: event + ":" + ref, Ignored: "Vesicash " + event + " is not a payment for a sale", Tenant: v.Tenant}, nil
		}
		if kind != "disbursement" && method == "" {
			method = "VESICASH"
		}
		if _, word, ok := strings.Cut(event, "."); ok && status == "" {
			status = word // payment.success says it in its name
		}
	}
	if ref == "" {
		return nil, badRequest("the body has none of payment_id, transaction_id, reference or disbursement_id; it is not a Vesicash event fluxrelay knows")
	}
	key := kind + ":" + ref + ":" + status
	switch {
	case kind == "disbursement":
		return &Parsed{DedupKey: key, Ignored: "a Vesicash disbursement is not a payment for a sale", Tenant: v.Tenant}, nil
	case status == "failed" || status == "pending" || status == "cancelled" || status == "abandoned" || status == "reversed":
		return &Parsed{DedupKey: key, Ignored: "Vesicash " + kind + " " + status + " is not a sale", Tenant: v.Tenant}, nil
	case status != "success" && status != "successful":
		return nil, badRequest("status: got %q, a status fluxrelay does not know", status)
	}
	key = kind + ":" + ref + ":success"
	pay := &notification.Payload{TenantID: v.Tenant, TransactionRef: ref, PaymentRef: ref, PaymentMethod: method,
		TransactionDate: req.Received.UTC(), DateDefaulted: true}
	if r := text(d, "reference"); r != "" {
		pay.PaymentRef = r
	}
	parsed := &Parsed{DedupKey: key, Payload: pay, Tenant: v.Tenant}
	if _, ok := d["amount"]; !ok {
		// Never sent as 0.00: kept for a person to look at.
		parsed.Held = "Vesicash reported a successful payment without an amount; confirm it in the Vesicash dashboard and record it by hand"
		return parsed, nil
	}
	if pay.Amount, err = amountNaira(d, "amount", "amount"); err != nil {
		return nil, err
	}
	return parsed, nil
}

// Verification implements Provider.
func (v *Vesicash) Verification() string {
	switch v.Mode {
	case "none":
		return "not checked (signature_mode none; the allow list guards it)"
	case "B":
		return "X-Vesicash-Webhook-Secret: HMAC-SHA256 of the body (recipe B)"
	}
	return "X-Vesicash-Webhook-Secret: a constant per business (recipe A; the allow list guards the body)"
}
