package notification

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Canonical returns JSON in one spelling for one value: object keys sorted
// at every depth, no insignificant space, strings re-escaped one way, and
// numbers by value ("8200.00", "8200" and "8.2e3" are all 8200) — without
// going through a float, so no digit is ever lost. Input that is not valid
// JSON is returned as it is.
func Canonical(raw []byte) []byte {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return raw
	}
	var b bytes.Buffer
	writeCanonical(&b, v)
	return b.Bytes()
}

// canonical is Canonical(p.render(true)), written from the payload's
// fields instead of decoded again from that rendering (the costliest part
// of taking a notification in): the documented values are canonical as
// they are (the amount is spelled by value), and only the extra keys'
// values go through Canonical. Where the two could differ — an extra value
// that is not valid JSON, a key given twice — it takes the long way.
func (p *Payload) canonical() []byte {
	type member struct {
		key string
		val []byte
	}
	quoted := func(v string) []byte {
		var b bytes.Buffer
		writeJSON(&b, decodedText(v))
		return b.Bytes()
	}
	date := ""
	if !p.TransactionDate.IsZero() && !p.DateDefaulted {
		date = FormatTime(p.TransactionDate)
	}
	var customer bytes.Buffer
	customer.WriteByte('{')
	for i, kv := range [][2]string{{"email", p.Customer.Email}, {"id", p.Customer.ID}, {"name", p.Customer.Name}, {"phone", p.Customer.Phone}} {
		if i > 0 {
			customer.WriteByte(',')
		}
		writeJSON(&customer, kv[0])
		customer.WriteByte(':')
		writeJSON(&customer, decodedText(kv[1]))
	}
	customer.WriteByte('}')
	members := []member{
		{"tenantId", quoted(p.TenantID)}, {"transactionRef", quoted(p.TransactionRef)}, {"paymentRef", quoted(p.PaymentRef)},
		{"paymentMethod", quoted(p.PaymentMethod)}, {"amount", []byte(canonicalNumber(p.Amount.String()))},
		{"customer", customer.Bytes()}, {"transactionDate", quoted(date)}, {"accountNumber", quoted(p.AccountNumber)},
		{"bankCode", quoted(p.BankCode)}, {"bankName", quoted(p.BankName)}, {"accountName", quoted(p.AccountName)},
	}
	for _, f := range p.Extra {
		key := decodedText(f.Key)
		if !json.Valid(f.Value) || slices.ContainsFunc(members, func(m member) bool { return m.key == key }) {
			return Canonical(p.render(true))
		}
		members = append(members, member{key, Canonical(f.Value)})
	}
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(&b, m.key)
		b.WriteByte(':')
		b.Write(m.val)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// decodedText is s as the rendering gives it back once decoded: every byte
// that is not UTF-8 became U+FFFD when it was written.
func decodedText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

func writeCanonical(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, k)
			b.WriteByte(':')
			writeCanonical(b, v[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, e)
		}
		b.WriteByte(']')
	case json.Number:
		b.WriteString(canonicalNumber(string(v)))
	case string:
		writeJSON(b, v)
	case bool:
		b.WriteString(strconv.FormatBool(v))
	default: // nil
		b.WriteString("null")
	}
}

// canonicalNumber spells a JSON number by its value: no leading or
// trailing zeros, no exponent unless the plain form would run past 40
// digits, "0" for any zero.
func canonicalNumber(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, expText, hasExp := strings.Cut(strings.ToLower(s), "e")
	exp := 0
	if hasExp {
		e, err := strconv.Atoi(expText)
		if err != nil {
			return s // an exponent too large to matter: keep it as written
		}
		exp = e
	}
	whole, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(whole+frac, "0")
	exp -= len(frac)
	if digits == "" {
		return "0"
	}
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	digits = trimmed
	var out string
	switch {
	case exp >= 0 && len(digits)+exp <= 40:
		out = digits + strings.Repeat("0", exp)
	case exp < 0 && -exp <= 40 && len(digits) > -exp:
		out = digits[:len(digits)+exp] + "." + digits[len(digits)+exp:]
	case exp < 0 && -exp <= 40:
		out = "0." + strings.Repeat("0", -exp-len(digits)) + digits
	default:
		out = digits + "e" + strconv.Itoa(exp)
	}
	if neg {
		return "-" + out
	}
	return out
}
