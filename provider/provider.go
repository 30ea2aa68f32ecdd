// Package provider turns what a payment provider sends into a notification:
// it checks that the request is genuine, parses the provider's body and
// maps it to the Fluxvend core payload. One file per provider.
package provider

import (
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
	// (PROVIDERS.md §5).
	DedupKey string
	// Payload is the core payload; nil when the notification is ignored.
	Payload *notification.Payload
	// Ignored says why a verified notification is not a sale, or is empty.
	Ignored string
	// Dead, when set, says why a sale cannot be sent as it is: it is
	// stored as a dead letter at once, for a person.
	Dead string
	// Tenant is the Fluxvend tenant the notification belongs to.
	Tenant string
}

// Provider verifies and parses one source's notifications.
type Provider interface {
	// Verify checks that req really comes from the provider. Its error is
	// an *Error with status 401.
	Verify(req *Request) error
	// Parse maps a verified request. Its error is an *Error with status
	// 400 that names the field at fault.
	Parse(req *Request) (*Parsed, error)
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
	switch src.Provider {
	case "core":
		return &Core{Secret: secret, Tenant: tenant}, nil
	case "monnify":
		return &Monnify{Secret: secret, Tenant: tenant}, nil
	case "moniepoint-pos":
		return &Moniepoint{Secret: secret, Tenant: tenant, MaxSkew: src.MaxSkew.D()}, nil
	case "opay":
		return &OPay{Secret: secret, Tenant: tenant}, nil
	case "opay-pos":
		return &OPayPOS{MerchantID: src.MerchantID, Tenant: tenant}, nil
	case "vesicash":
		return &Vesicash{Secret: secret, BusinessID: src.BusinessID, Mode: src.SignatureMode, Tenant: tenant, Log: log}, nil
	default:
		return nil, fmt.Errorf("provider %q is not supported", src.Provider)
	}
}
