package notification

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Sign returns the Fluxvend core webhook's Signature header for body:
// base64(HMAC-SHA256(key, body)).
func Sign(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks a Signature header against body in constant time.
func Verify(key string, body []byte, header string) bool {
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header))
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// SigningKey returns the HMAC key for a signature_key mode: "secret" keys
// with the API secret (Fluxvend's Java, C# and PHP samples), "key:secret"
// with apiKey + ":" + apiSecret (its JavaScript sample).
func SigningKey(mode, apiKey, apiSecret string) string {
	if mode == "key:secret" {
		return apiKey + ":" + apiSecret
	}
	return apiSecret
}
