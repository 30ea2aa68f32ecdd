package notification

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Customer is the customer block of the core payload.
type Customer struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone"`
}

// Field is a top-level key the core format does not document, kept with its
// raw JSON value so it can be sent on unchanged, in its original order.
type Field struct {
	Key   string          `json:"k"`
	Value json.RawMessage `json:"v"`
}

// Payload is the Fluxvend core webhook payload. Render gives its wire form.
type Payload struct {
	TenantID        string    `json:"tenantId"`
	TransactionRef  string    `json:"transactionRef"`
	PaymentRef      string    `json:"paymentRef"`
	PaymentMethod   string    `json:"paymentMethod"`
	Amount          Amount    `json:"amount"`
	Customer        Customer  `json:"customer"`
	TransactionDate time.Time `json:"transactionDate"`
	// DateDefaulted is set when the source gave no date and the receive
	// time stands in; such a date is not part of the notification's content.
	DateDefaulted bool    `json:"dateDefaulted,omitempty"`
	AccountNumber string  `json:"accountNumber"`
	BankCode      string  `json:"bankCode"`
	BankName      string  `json:"bankName"`
	AccountName   string  `json:"accountName"`
	Extra         []Field `json:"extra,omitempty"`
}

// coreKeys are the documented keys, in the order they are sent.
var coreKeys = []string{"tenantId", "transactionRef", "paymentRef", "paymentMethod", "amount",
	"customer", "transactionDate", "accountNumber", "bankCode", "bankName", "accountName"}

// Render returns the exact bytes sent to the core webhook: every documented
// key in the documented order, then the extra keys in their original order.
func (p *Payload) Render() []byte { return p.render(false) }

// Fingerprint is the rendering used to tell a repeat from a conflicting
// notification: Render without a defaulted date, as canonical JSON (keys
// sorted at every depth, numbers by value), so that a resend with its keys
// in another order or "8200.0" for "8200" is a repeat, not a conflict.
func (p *Payload) Fingerprint() []byte { return p.canonical() }

func (p *Payload) render(fingerprint bool) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	str := func(key, v string) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		writeJSON(&b, key)
		b.WriteByte(':')
		writeJSON(&b, v)
	}
	str("tenantId", p.TenantID)
	str("transactionRef", p.TransactionRef)
	str("paymentRef", p.PaymentRef)
	str("paymentMethod", p.PaymentMethod)
	b.WriteString(`,"amount":`)
	b.WriteString(p.Amount.String())
	b.WriteString(`,"customer":{`)
	writeCustomer(&b, p.Customer)
	b.WriteByte('}')
	date := ""
	if !p.TransactionDate.IsZero() && !(fingerprint && p.DateDefaulted) {
		date = FormatTime(p.TransactionDate)
	}
	str("transactionDate", date)
	str("accountNumber", p.AccountNumber)
	str("bankCode", p.BankCode)
	str("bankName", p.BankName)
	str("accountName", p.AccountName)
	for _, f := range p.Extra {
		b.WriteByte(',')
		writeJSON(&b, f.Key)
		b.WriteByte(':')
		b.Write(f.Value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func writeCustomer(b *bytes.Buffer, c Customer) {
	for i, kv := range [][2]string{{"id", c.ID}, {"name", c.Name}, {"email", c.Email}, {"phone", c.Phone}} {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(b, kv[0])
		b.WriteByte(':')
		writeJSON(b, kv[1])
	}
}

// writeJSON writes s as a JSON string without escaping <, > and &.
func writeJSON(b *bytes.Buffer, s string) {
	if plainJSON(s) {
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
		return
	}
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	b.Truncate(b.Len() - 1)
}

// plainJSON reports whether s needs no escaping in a JSON string: printable
// ASCII but for the quote and the backslash (most text a payload holds).
// Whatever needs escaping goes through encoding/json, as it always did.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// FormatTime renders t as RFC 3339 in UTC, to the millisecond.
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
}

// DiffFields says how two fingerprints of the same source and dedup key
// differ, for a 409 answer: both amounts when they differ, and the names
// (never the values) of the other top-level keys that differ, so that the
// answer carries no customer data.
func DiffFields(old, new []byte) string {
	var a, b map[string]json.RawMessage
	if json.Unmarshal(old, &a) != nil || json.Unmarshal(new, &b) != nil {
		return "content differs"
	}
	var diffs, others []string
	seen := map[string]bool{}
	keys := append(append([]string{}, coreKeys...), sortedKeys(a, b)...)
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		va, vb := a[k], b[k]
		if bytes.Equal(Canonical(va), Canonical(vb)) {
			continue
		}
		if k == "amount" {
			diffs = append(diffs, fmt.Sprintf("amount %s was %s", amountText(vb), amountText(va)))
			continue
		}
		others = append(others, k)
	}
	if len(others) > 0 {
		diffs = append(diffs, strings.Join(others, ", ")+" differ")
	}
	if len(diffs) == 0 {
		return "content differs"
	}
	return strings.Join(diffs, "; ")
}

// amountText shows an amount from a fingerprint with two decimals.
func amountText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "(absent)"
	}
	if a, err := ParseAmountJSON(raw); err == nil {
		return a.String()
	}
	return "(unreadable)"
}

func sortedKeys(ms ...map[string]json.RawMessage) []string {
	var keys []string
	for _, m := range ms {
		keys = append(keys, slices.Sorted(maps.Keys(m))...)
	}
	return keys
}
