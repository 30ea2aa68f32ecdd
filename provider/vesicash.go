package provider

import (
	"crypto/sha256"
	"log/slog"
	"strings"

	"github.com/fluxrelay/fluxrelay/notification"
)

// Vesicash verifies and maps Vesicash webhooks. The body is only the event's
// data, so the event is told apart by its keys. How Vesicash fills
// X-Vesicash-Webhook-Secret is not settled (PROVIDERS.md §3.3): Mode "A"
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

// Parse implements Provider.
func (v *Vesicash) Parse(req *Request) (*Parsed, error) {
	d, err := object(req.Body, "the body")
	if err != nil {
		return nil, err
	}
	status := strings.ToLower(text(d, "status"))
	if status == "" {
		status = strings.ToLower(text(d, "payment_status"))
	}
	var event, ref, pref, method string
	switch {
	case text(d, "disbursement_id") != "":
		event, ref = "disbursement", text(d, "disbursement_id")
	case text(d, "payment_id") != "":
		event, ref, pref, method = "bank-transfer", text(d, "payment_id"), text(d, "payment_id"), "ACCOUNT_TRANSFER"
	case text(d, "transaction_id") != "":
		event, ref, pref, method = "payment", text(d, "transaction_id"), text(d, "transaction_id"), "VESICASH"
	case text(d, "reference") != "":
		event, ref, pref, method = "payment", text(d, "reference"), text(d, "reference"), "VESICASH"
	default:
		return nil, badRequest("the body has none of payment_id, transaction_id, reference or disbursement_id; it is not a Vesicash event fluxrelay knows")
	}
	key := event + ":" + ref + ":" + status
	if event == "disbursement" || status != "success" {
		return &Parsed{DedupKey: key, Ignored: "Vesicash " + event + " " + status + " is not a sale", Tenant: v.Tenant}, nil
	}
	pay := &notification.Payload{TenantID: v.Tenant, TransactionRef: ref, PaymentRef: pref, PaymentMethod: method,
		TransactionDate: req.Received.UTC(), DateDefaulted: true}
	if r := text(d, "reference"); r != "" {
		pay.PaymentRef = r
	}
	parsed := &Parsed{DedupKey: key, Payload: pay, Tenant: v.Tenant}
	if _, ok := d["amount"]; !ok {
		// Never sent as 0.00 (SPEC §6): kept for a person to look at.
		parsed.Dead = "Vesicash reported a successful payment without an amount; confirm it in the Vesicash dashboard and record it by hand"
		return parsed, nil
	}
	if pay.Amount, err = amountNaira(d, "amount", "amount"); err != nil {
		return nil, err
	}
	return parsed, nil
}
