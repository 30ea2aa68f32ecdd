// Package mqttingest takes notifications from POS terminals over MQTT:
// an embedded broker, or a subscription to an external broker. Either way
// the acknowledgement (PUBACK, or the ack to the external broker) is sent
// only after the notification is durably stored.
package mqttingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/provider"
)

// Topic splits {prefix}/{source}/{terminal}. ok is false for anything else.
func Topic(prefix, topic string) (source, terminal string, ok bool) {
	rest, found := strings.CutPrefix(topic, prefix+"/")
	if !found {
		return "", "", false
	}
	source, terminal, found = strings.Cut(rest, "/")
	if !found || source == "" || terminal == "" || strings.Contains(terminal, "/") {
		return "", "", false
	}
	return source, terminal, true
}

// envelopeKeys are the keys of an envelope, held to the input limits like
// any body (no key twice, at any depth).
var envelopeKeys = &provider.Documented{Body: &provider.Keys{Fields: map[string]*provider.Keys{"headers": nil, "body": nil}}}

// Decode returns the provider body and headers of an MQTT payload: either
// the body as the provider would have POSTed it, or the envelope
// {"headers": {…}, "body": "<raw body>"} (an object with a "body" and no
// key besides "headers"). An envelope that breaks its rules is an error:
// a key given twice, a body that is not a string, a header value that is
// not a string, a header named twice (names do not depend on case).
func Decode(payload []byte) ([]byte, http.Header, error) {
	h := http.Header{}
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 || trimmed[0] != '{' || !bytes.Contains(trimmed, []byte(`"body"`)) {
		return payload, h, nil
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(trimmed, &top) != nil {
		return payload, h, nil
	}
	if _, ok := top["body"]; !ok {
		return payload, h, nil
	}
	for k := range top {
		if k != "headers" && k != "body" {
			return payload, h, nil // a body that happens to have a "body" key
		}
	}
	if err := ingest.CheckBody(trimmed, envelopeKeys); err != nil {
		return nil, nil, err
	}
	var body string
	if err := json.Unmarshal(top["body"], &body); err != nil {
		return nil, nil, envelopeError("the envelope's body must be one JSON string holding the exact bytes the provider signed, not %s", kind(top["body"]))
	}
	if raw, ok := top["headers"]; ok && string(raw) != "null" {
		var hm map[string]json.RawMessage
		if err := json.Unmarshal(raw, &hm); err != nil {
			return nil, nil, envelopeError("the envelope's headers must be an object of names and string values, not %s", kind(raw))
		}
		for name, rv := range hm {
			var v string
			if err := json.Unmarshal(rv, &v); err != nil {
				return nil, nil, envelopeError("the envelope's header %s must have a string value, not %s", strconv.QuoteToASCII(clip(name)), kind(rv))
			}
			canon := http.CanonicalHeaderKey(name)
			if _, dup := h[canon]; dup {
				return nil, nil, envelopeError("the envelope names header %s twice (header names do not depend on case)", strconv.QuoteToASCII(clip(canon)))
			}
			h[canon] = []string{v}
		}
	}
	return []byte(body), h, nil
}

func envelopeError(format string, args ...any) error {
	return &provider.Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// kind names the JSON type of a value, for a message.
func kind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "true or false"
	case 'n':
		return "null"
	}
	return "a number"
}
