// Package provider turns what a payment provider sends into a notification:
// it checks that the request is genuine, parses the provider's body and
// maps it to the Fluxvend core payload. One file per provider.
package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/fluxrelay/fluxrelay/config"
	"github.com/fluxrelay/fluxrelay/notification"
)

// Request is a notification as it arrived, before anything is trusted.
type Request struct {
	Body     []byte
	Header   http.Header
	Received time.Time
}

// Parsed is a verified notification, mapped.
type Parsed struct {
	// DedupKey identifies the notification within its provider and tenant
	// (docs/providers.md).
	DedupKey string
	// Payload is the core payload; nil when the notification is ignored
	// or held.
	Payload *notification.Payload
	// Ignored says why a verified notification is known not to be a sale,
	// or is empty.
	Ignored string
	// Held, when set, says why a verified notification cannot be sent as
	// it is (an unknown status or shape, an amount that cannot be read
	// exactly): it is stored as a dead letter at once, for a person.
	Held string
	// Tenant is the Fluxvend tenant the notification belongs to.
	Tenant string
	// Refs are the provider's own references of a held notification, where
	// they can be read, so that a person can find it by them.
	Refs []string
}

// Provider verifies and parses one source's notifications.
type Provider interface {
	// Verify checks that req really comes from the provider. Its error is
	// an *Error with status 401.
	Verify(req *Request) error
	// Parse maps a verified request. Its error is an *Error with status
	// 400 that names the field at fault. For a provider source, New wraps
	// Parse so that such an error holds the notification instead.
	Parse(req *Request) (*Parsed, error)
	// Verification says in words how Verify checks a request, for the
	// notification's trail.
	Verification() string
}

// Error is a refusal with the HTTP status to answer and a message a
// technician can act on.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func unauthorized(format string, args ...any) error {
	return &Error{Status: http.StatusUnauthorized, Msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// New returns the provider for a [[source]] table. tenant is the tenant id
// its notifications belong to (the source's own, else core.tenant_id).
func New(src config.Source, tenant string, log *slog.Logger) (Provider, error) {
	secret := src.Secret.Value()
	var p Provider
	switch src.Provider {
	case "core":
		// A core source is an app speaking Fluxvend's own format: a
		// missing field is its bug, answered 400 so that it shows there.
		return &Core{Secret: secret, Tenant: tenant}, nil
	case "monnify":
		p = &Monnify{Secret: secret, Tenant: tenant}
	case "moniepoint-pos":
		p = &Moniepoint{Secret: secret, Tenant: tenant, MaxSkew: src.MaxSkew.D()}
	case "opay":
		p = &OPay{Secret: secret, Tenant: tenant}
	case "opay-pos":
		p = &OPayPOS{MerchantID: src.MerchantID, Tenant: tenant}
	case "vesicash":
		p = &Vesicash{Secret: secret, BusinessID: src.BusinessID, Mode: src.SignatureMode, Tenant: tenant, Log: log}
	default:
		return nil, fmt.Errorf("provider %q is not supported", src.Provider)
	}
	return Holding(p, tenant), nil
}

// Holding wraps a payment provider's adapter with the rules every provider
// shares, so that no genuine payment is lost to fluxrelay's own parsing:
//
//   - A verified JSON body that Parse cannot classify or map is held, not
//     refused: a provider treats a 4xx as a failure and in the end gives
//     up, and the payment would be gone. Only a body that is not JSON at
//     all is refused.
//   - A notification known not to be a sale (ignored) or held is keyed
//     apart from sales, by its own content, so that it can never block a
//     sale with the same reference or conflict with one (409); a resend of
//     the same body is still a duplicate.
func Holding(p Provider, tenant string) Provider { return &holding{Provider: p, tenant: tenant} }

type holding struct {
	Provider
	tenant string
}

func (h *holding) Parse(req *Request) (*Parsed, error) {
	parsed, err := h.Provider.Parse(req)
	var pe *Error
	switch {
	case err == nil && parsed.Ignored != "":
		parsed.DedupKey = "ignored:" + parsed.DedupKey + ":" + contentKey(req.Body)
	case err == nil && parsed.Held != "":
		parsed.DedupKey = "held:" + contentKey(req.Body)
		parsed.Refs = heldRefs(req.Body)
	case err == nil:
	case errors.As(err, &pe) && pe.Status == http.StatusBadRequest && json.Valid(req.Body):
		return &Parsed{DedupKey: "held:" + contentKey(req.Body), Held: "fluxrelay could not map this notification (" + pe.Msg + "); check it in the provider's dashboard and record it in Fluxvend by hand", Tenant: h.tenant, Refs: heldRefs(req.Body)}, nil
	}
	return parsed, err
}

// contentKey names a body by its content.
func contentKey(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:12])
}
