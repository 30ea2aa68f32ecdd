package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/jsonscan"
	"github.com/fluxrelay/fluxrelay/notification"
)

// Core takes notifications that already speak the Fluxvend core format,
// from a POS app or a till. With a Secret, each must carry
// Signature: base64(HMAC-SHA256(Secret, raw body)).
type Core struct {
	Secret string
	Tenant string
}

// Verify implements Provider.
func (c *Core) Verify(req *Request) error {
	if c.Secret == "" {
		return nil
	}
	sig := req.Header.Get("Signature")
	if sig == "" {
		return unauthorized("the Signature header is missing; this source needs Signature: base64(HMAC-SHA256(secret, body))")
	}
	if !notification.Verify(c.Secret, req.Body, sig) {
		return unauthorized("the Signature header does not match the body; check the secret configured in the app and in this source")
	}
	return nil
}

// Parse implements Provider.
func (c *Core) Parse(req *Request) (*Parsed, error) {
	fields, err := topLevel(req.Body)
	if err != nil {
		return nil, err
	}
	p := &notification.Payload{}
	str := map[string]*string{
		"tenantId": &p.TenantID, "transactionRef": &p.TransactionRef, "paymentRef": &p.PaymentRef,
		"paymentMethod": &p.PaymentMethod, "accountNumber": &p.AccountNumber, "bankCode": &p.BankCode,
		"bankName": &p.BankName, "accountName": &p.AccountName,
	}
	var haveAmount bool
	for _, f := range fields {
		switch {
		case str[f.Key] != nil:
			if err := jsonString(f.Key, f.Value, str[f.Key]); err != nil {
				return nil, err
			}
		case f.Key == "amount":
			a, err := notification.ParseAmountJSON(f.Value)
			if err != nil {
				return nil, badRequest("amount: got %s, %v", clip(f.Value), err)
			}
			p.Amount, haveAmount = a, true
		case f.Key == "customer":
			if err := parseCustomer(f.Value, &p.Customer); err != nil {
				return nil, err
			}
		case f.Key == "transactionDate":
			var s string
			if err := jsonString(f.Key, f.Value, &s); err != nil {
				return nil, err
			}
			if s != "" {
				t, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					return nil, badRequest("transactionDate: got %q, want RFC 3339, e.g. \"2024-08-13T15:30:00Z\"", s)
				}
				p.TransactionDate = t.UTC()
			}
		default:
			p.Extra = append(p.Extra, notification.Field{Key: f.Key, Value: compactJSON(f.Value)})
		}
	}
	if strings.TrimSpace(p.TransactionRef) == "" {
		return nil, badRequest("transactionRef: missing or empty (want the sale's unique transaction reference)")
	}
	if !haveAmount {
		return nil, badRequest("amount: missing (want the amount in naira, e.g. 1500.00)")
	}
	switch {
	case p.TenantID == "":
		p.TenantID = c.Tenant
	case c.Tenant != "" && p.TenantID != c.Tenant:
		return nil, badRequest("tenantId: got %q, but this source belongs to tenant %q", p.TenantID, c.Tenant)
	}
	if p.TransactionDate.IsZero() {
		p.TransactionDate, p.DateDefaulted = req.Received.UTC(), true
	}
	return &Parsed{DedupKey: p.TransactionRef, Payload: p, Tenant: p.TenantID}, nil
}

// topLevel decodes a JSON object's members in order, refusing anything
// that is not one object or that repeats a key. Valid input, which is
// nearly all of it, takes one pass to check and one to split; anything
// else is decoded token by token to say what is wrong.
func topLevel(body []byte) ([]notification.Field, error) {
	if json.Valid(body) {
		if fields, ok := splitObject(body); ok {
			return fields, nil
		}
	}
	return topLevelTokens(body)
}

// splitObject splits valid JSON that is one object into its members, in
// order. It reports false for anything else (not an object, a repeated
// key), which topLevelTokens then explains.
func splitObject(b []byte) ([]notification.Field, bool) {
	i := jsonscan.SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	var out []notification.Field
	seen := make(map[string]bool, 16)
	for i = jsonscan.SkipSpace(b, i+1); i < len(b) && b[i] == '"'; i = jsonscan.SkipSpace(b, i+1) {
		end := jsonscan.StringEnd(b, i)
		key, ok := jsonscan.Unquote(b[i:end])
		if !ok || seen[key] {
			return nil, false
		}
		seen[key] = true
		i = jsonscan.SkipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		start := jsonscan.SkipSpace(b, i+1)
		end = jsonscan.ValueEnd(b, start)
		out = append(out, notification.Field{Key: key, Value: json.RawMessage(b[start:end])})
		if i = jsonscan.SkipSpace(b, end); i >= len(b) || b[i] != ',' {
			break
		}
	}
	if i >= len(b) || b[i] != '}' {
		return nil, false
	}
	return out, true
}

// topLevelTokens is topLevel, token by token, for input that is not one
// valid object with distinct keys: it says what is wrong.
func topLevelTokens(body []byte) ([]notification.Field, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, badRequest("the body is not JSON: %v", jsonErr(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, badRequest("the body is not a JSON object (want {\"transactionRef\": …, \"amount\": …})")
	}
	var out []notification.Field
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, badRequest("the body is not valid JSON: %v", jsonErr(err))
		}
		key := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, badRequest("the body is not valid JSON near %q: %v", key, jsonErr(err))
		}
		if seen[key] {
			return nil, badRequest("%s: given twice", key)
		}
		seen[key] = true
		out = append(out, notification.Field{Key: key, Value: v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, badRequest("the body is not valid JSON: %v", jsonErr(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badRequest("the body has more after the JSON object")
	}
	return out, nil
}

func jsonErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("it ends too early")
	}
	return err
}

// jsonString reads a string member; null counts as empty.
func jsonString(key string, raw json.RawMessage, dst *string) error {
	if string(raw) == "null" {
		*dst = ""
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return badRequest("%s: got %s, want a string", key, clip(raw))
	}
	return nil
}

func parseCustomer(raw json.RawMessage, c *notification.Customer) error {
	if string(raw) == "null" {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return badRequest("customer: got %s, want an object {\"id\", \"name\", \"email\", \"phone\"}", clip(raw))
	}
	for key, dst := range map[string]*string{"id": &c.ID, "name": &c.Name, "email": &c.Email, "phone": &c.Phone} {
		if v, ok := m[key]; ok {
			if err := jsonString("customer."+key, v, dst); err != nil {
				return err
			}
		}
	}
	return nil
}

func compactJSON(v json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return v
	}
	return b.Bytes()
}

// clip shows at most 40 bytes of a value in an error message.
func clip(v []byte) string {
	s := string(v)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

// Verification implements Provider.
func (c *Core) Verification() string {
	if c.Secret == "" {
		return "not checked (the source has no secret; the allow list guards it)"
	}
	return "Signature: HMAC-SHA256 of the body"
}
