package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/fluxrelay/fluxrelay/notification"
)

// request builds the request for one attempt, or says why none can ever
// be made of this notification with these settings: such a notification
// is a dead letter at once, never taken for the webhook being down.
func (r *Relay) request(ctx context.Context, rec *notification.Record, t Target) (*retryablehttp.Request, error) {
	if err := checkURL(t.URL); err != nil {
		return nil, err
	}
	var body []byte
	h := http.Header{}
	switch {
	case t.Raw:
		body = rec.Raw
		h.Set("Content-Type", "application/json")
		forwardHeaders(h, rec.Provider, rec.Headers)
	case rec.Payload == nil || rec.Payload.Amount <= 0:
		// A held notification has nothing the core can take; replay
		// re-maps it first, and one that is queued anyway goes back to a
		// person instead of being sent as 0.00.
		return nil, errors.New("it has no amount that can be sent to Fluxvend; record the payment in Fluxvend by hand, then drop it")
	default:
		p := *rec.Payload
		if p.TenantID == "" {
			p.TenantID = t.Tenant
		}
		body = p.Render()
		h.Set("Content-Type", "application/json")
		h.Set("Signature", notification.Sign(t.SigningKey, body))
		h.Set("User-Agent", "fluxrelay/"+r.opts.Version)
	}
	h.Set("Idempotency-Key", rec.ID)
	if err := checkHeaders(h); err != nil {
		return nil, err
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, t.URL, body)
	if err != nil {
		return nil, fmt.Errorf("the request to Fluxvend cannot be made (%v); it will never be sent as it is: record the payment in Fluxvend by hand, then drop it", err)
	}
	req.Header = h
	return req, nil
}

// checkURL says why Go would refuse a webhook URL, without the URL (it
// carries the tenant).
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("the webhook URL cannot be read, so no request can be made; fix the URL in the config and reload, then replay this dead letter")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("the webhook URL has the scheme %q, not http or https, so no request can be made; fix the URL in the config and reload, then replay this dead letter", u.Scheme)
	case u.Host == "":
		return errors.New("the webhook URL has no host, so no request can be made; fix the URL in the config and reload, then replay this dead letter")
	}
	return nil
}

// checkHeaders says which header Go's HTTP client would refuse to send.
func checkHeaders(h http.Header) error {
	for name, vals := range h {
		if !validHeaderName(name) {
			return fmt.Errorf("the header name %q cannot be sent, so this notification can never be forwarded as it is; record the payment in Fluxvend by hand, then drop it", name)
		}
		for _, v := range vals {
			if !validHeaderValue(v) {
				return fmt.Errorf("the %s header holds a control character (a line break?), so this notification can never be forwarded as it is; record the payment in Fluxvend by hand, then drop it", name)
			}
		}
	}
	return nil
}

// validHeaderName reports whether name is an HTTP token (RFC 9110).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v holds no control character but a tab.
func validHeaderValue(v string) bool {
	for _, c := range []byte(v) {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// signedHeaders are, per provider, the headers a raw forward passes on
// besides Content-Type: those its webhook checks a notification by
// (docs/providers.md). Nothing else a sender put on the request goes.
var signedHeaders = map[string][]string{
	"core":           {"Signature"},
	"monnify":        {"Monnify-Signature"},
	"moniepoint-pos": {"Moniepoint-Webhook-Id", "Moniepoint-Webhook-Timestamp", "Moniepoint-Webhook-Signature"},
	"opay":           nil, // signed inside the body
	"opay-pos":       {"Merchantid", "X-Opay-Tranid"},
	"vesicash":       {"X-Vesicash-Webhook-Secret", "Mor-Signature", "Vesi_sec"},
}

// forwardHeaders puts on a raw forward the provider's content type and
// the headers it signs with, as they arrived. Headers stored redacted
// cannot be.
func forwardHeaders(dst http.Header, provider string, hs []notification.Header) {
	for _, h := range hs {
		name := http.CanonicalHeaderKey(h.Name)
		if h.Value == notification.Redacted {
			continue
		}
		switch {
		case name == "Content-Type":
			dst.Set(name, h.Value)
		case isSigned(provider, name):
			dst.Add(name, h.Value)
		}
	}
}

func isSigned(provider, name string) bool {
	for _, s := range signedHeaders[provider] {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}
