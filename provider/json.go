package provider

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"hash"
	"strconv"
	"strings"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
)

// object decodes a JSON object into a map of raw members, or explains why
// it cannot.
func object(raw []byte, what string) (map[string]json.RawMessage, error) {
	if _, err := topLevel(raw); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, badRequest("%s: want a JSON object", what)
	}
	return m, nil
}

// sub decodes the member key of m as an object; a missing or null member
// gives an empty map.
func sub(m map[string]json.RawMessage, key string) (map[string]json.RawMessage, error) {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return map[string]json.RawMessage{}, nil
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, badRequest("%s: got %s, want an object", key, clip(raw))
	}
	return out, nil
}

func bytesTrim(raw json.RawMessage) []byte { return bytes.TrimSpace(raw) }

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null" }

// text returns a member that may be a string or a number as text: the
// string's contents, or the number exactly as written. Anything else is "".
func text(m map[string]json.RawMessage, key string) string {
	raw := bytes.TrimSpace(m[key])
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	if raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9') {
		return string(raw)
	}
	return ""
}

// boolField reads a boolean member; "true"/"false" strings count too.
func boolField(m map[string]json.RawMessage, key string) bool {
	raw := strings.Trim(string(bytes.TrimSpace(m[key])), `"`)
	return raw == "true"
}

// amountNaira reads a naira amount given as a number or numeric string.
func amountNaira(m map[string]json.RawMessage, key, path string) (notification.Amount, error) {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return 0, badRequest("%s: missing (want the amount paid)", path)
	}
	a, err := notification.ParseProviderAmount(raw)
	if err != nil {
		return 0, badRequest("%s: got %s, %v", path, clip(raw), err)
	}
	return a, nil
}

// amountKobo reads a kobo amount given as a whole number or numeric string.
func amountKobo(m map[string]json.RawMessage, key, path string) (notification.Amount, error) {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return 0, badRequest("%s: missing (want the amount paid, in kobo)", path)
	}
	a, err := notification.AmountFromKobo(text(m, key))
	if err != nil {
		return 0, badRequest("%s: got %s, want a positive whole number of kobo", path, clip(raw))
	}
	return a, nil
}

// macHex returns the lowercase hex HMAC of msg.
func macHex(h func() hash.Hash, key string, msg ...[]byte) string {
	m := hmac.New(h, []byte(key))
	for _, b := range msg {
		m.Write(b)
	}
	return hexString(m.Sum(nil))
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, len(b)*2)
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

// equalHex compares two hex strings in constant time, ignoring case.
func equalHex(got, want string) bool {
	return hmac.Equal([]byte(strings.ToLower(strings.TrimSpace(got))), []byte(want))
}

// lagos is West Africa Time: UTC+1 all year (no daylight saving), so it
// needs no time zone database on the gateway.
var lagos = time.FixedZone("WAT", 3600)

// parseTime tries layouts in order; a layout without a zone is read in loc.
func parseTime(s string, loc *time.Location, layouts ...string) (time.Time, bool) {
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l, strings.TrimSpace(s), loc); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// when is a notification's transaction time: the time the provider gave
// (t, ok from a parse), else the receive time, marked as defaulted so that
// it is not part of the notification's content.
func when(req *Request, t time.Time, ok bool) (time.Time, bool) {
	if ok {
		return t, false
	}
	return req.Received.UTC(), true
}

// epochMillis reads "1741948243000" as a time.
func epochMillis(s string) (time.Time, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(n).UTC(), true
}

// method maps a provider's payment method to the words the core payload uses.
func method(s string) string {
	switch strings.ToLower(s) {
	case "bankcard", "card", "purchase":
		return "CARD"
	case "banktransfer", "transfer", "account_transfer":
		return "ACCOUNT_TRANSFER"
	case "bankussd", "ussd":
		return "USSD"
	}
	return strings.ToUpper(s)
}
