package ingest

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/provider"
)

// record is the notification to store, with what is known of its arrival.
func (in *Intake) record(name string, src *Source, req *provider.Request, meta Meta, parsed *provider.Parsed) *notification.Record {
	r := NewRecord(name, src.Provider, parsed, req.Received)
	r.Terminal, r.Headers, r.Raw, r.Verified = meta.Terminal, Redact(req.Header), req.Body, src.Verifier.Verification()
	if meta.Peer.IsValid() {
		r.Peer = meta.Peer.String()
	}
	return r
}

// NewRecord is the notification a source's verified and mapped request
// becomes, as it arrives or when a held one is mapped again: its id
// derives from the source, provider, tenant and dedup key, and the id an
// earlier release gave it is its alias, so that a resend across an upgrade
// is still a duplicate. It is pending from received, or ignored, or held.
func NewRecord(source, providerName string, parsed *provider.Parsed, received time.Time) *notification.Record {
	r := &notification.Record{
		ID:         notification.NewID(source, providerName, parsed.Tenant, parsed.DedupKey),
		AliasIDs:   []string{notification.LegacyID(providerName, parsed.Tenant, parsed.DedupKey)},
		Source:     source,
		Provider:   providerName,
		Tenant:     parsed.Tenant,
		DedupKey:   parsed.DedupKey,
		ReceivedAt: received,
		Payload:    parsed.Payload,
		Refs:       parsed.Refs,
		Delivery:   notification.Delivery{State: notification.Pending, NextAttempt: received},
	}
	switch {
	case parsed.Ignored != "":
		r.State, r.Reason, r.Payload = notification.Ignored, parsed.Ignored, nil
	case parsed.Held != "":
		r.State, r.Reason, r.DeadAt = notification.Dead, parsed.Held, received
	}
	return r
}

// settle answers how the store took a notification, and counts it.
func (in *Intake) settle(name string, meta Meta, r *notification.Record, st notification.Status, err error, l Limits) Answer {
	counts := in.Stats.source(name)
	var conflict *notification.ConflictError
	switch {
	case errors.As(err, &conflict):
		return in.reject(name, meta, Answer{Outcome: Conflict, ID: r.ID, Error: conflict.Error()})
	case errors.Is(err, notification.ErrFull):
		in.log.Warn("notification refused: disk budget exhausted", "source", name, "err", err)
		return in.reject(name, meta, Answer{Outcome: Unavailable, Error: err.Error(), RetryAfter: 60})
	case err != nil:
		in.log.Error("notification not stored", "source", name, "err", err)
		return in.reject(name, meta, Answer{Outcome: Unavailable, Error: "the store is unavailable: " + err.Error(), RetryAfter: 10})
	case st == notification.StatusDuplicate:
		counts.Duplicates.Add(1)
		return stored(Duplicate, r.ID, "")
	case st == notification.StatusIgnored:
		counts.Ignored.Add(1)
		return stored(Ignored, r.ID, r.Reason)
	}
	in.noteStale(name, r, l)
	if st == notification.StatusHeld {
		counts.Held.Add(1)
		in.log.Warn("notification held for a person: verified, but it cannot be sent as it is", "source", name, "id", r.ID, "transaction_ref", r.TransactionRef(), "reason", r.Reason)
		return stored(Held, r.ID, r.Reason)
	}
	counts.Queued.Add(1)
	return stored(Queued, r.ID, "")
}

// noteStale counts and logs a new notification whose own date is older
// than the dedup window. It is either a provider's very late first
// delivery or a replay of one this gateway delivered and has since
// forgotten: nothing the gateway still holds tells the two apart, so it
// goes on (a genuine payment is never refused for its age), and Fluxvend's
// own check of the transactionRef is the last guard.
func (in *Intake) noteStale(name string, r *notification.Record, l Limits) {
	p := r.Payload
	if p == nil || p.DateDefaulted || p.TransactionDate.IsZero() || l.DedupWindow <= 0 || r.ReceivedAt.Sub(p.TransactionDate) <= l.DedupWindow {
		return
	}
	in.Stats.source(name).Stale.Add(1)
	in.log.Warn("a notification older than store.dedup_window was new to this gateway: a very late delivery, or a replay of one delivered and since forgotten; check it with fluxrelay find",
		"source", name, "id", r.ID, "transaction_ref", r.TransactionRef(), "transaction_date", p.TransactionDate.UTC().Format(time.RFC3339))
}

// Redact copies the headers worth keeping with a notification, with
// credential-bearing values replaced by notification.Redacted.
func Redact(h http.Header) []notification.Header {
	var out []notification.Header
	for name, vals := range h {
		for _, v := range vals {
			if notification.CredentialHeader(name) {
				v = notification.Redacted
			}
			out = append(out, notification.Header{Name: name, Value: v})
		}
	}
	slices.SortStableFunc(out, func(a, b notification.Header) int { return strings.Compare(a.Name, b.Name) })
	return out
}
