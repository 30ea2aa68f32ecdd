// Package mqttingest takes notifications from POS terminals over MQTT:
// an embedded broker, or a subscription to an external broker. Either way
// the acknowledgement (PUBACK, or the ack to the external broker) is sent
// only after the notification is durably stored.
package mqttingest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
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

// envelope lets a terminal send the headers a provider would have sent
// over HTTP, so that header signatures can be checked as over HTTP.
type envelope struct {
	Headers map[string]string `json:"headers"`
	Body    *string           `json:"body"`
}

// Decode returns the provider body and headers of an MQTT payload: either
// the body as the provider would have POSTed it, or the envelope
// {"headers": {…}, "body": "<raw body>"}.
func Decode(payload []byte) ([]byte, http.Header) {
	h := http.Header{}
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 || trimmed[0] != '{' || !bytes.Contains(trimmed, []byte(`"body"`)) {
		return payload, h
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || env.Body == nil {
		return payload, h
	}
	for k, v := range env.Headers {
		h.Set(k, v)
	}
	return []byte(*env.Body), h
}
