// Package notification defines the value that flows through fluxrelay: a
// verified payment notification, its core payload and its delivery state.
package notification

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// State is where a notification is in its life.
type State string

// The states of a notification. Pending ones are waiting to be delivered;
// dead ones wait for a person; delivered and ignored ones are kept until the
// retention period ends.
const (
	Pending   State = "pending"
	Delivered State = "delivered"
	Ignored   State = "ignored"
	Dead      State = "dead"
)

// Redacted stands in for the value of a header that carries a credential.
const Redacted = "[redacted]"

// CredentialHeader tells a header that carries, or may carry, a credential
// (a secret, a token, a password, a cookie, or a signature that some
// provider makes without covering the body, such as Vesicash's): it is
// stored and shown as Redacted. Signatures that cover the body (Monnify's,
// Moniepoint's, the core Signature) are kept, as a raw forward needs them.
func CredentialHeader(name string) bool {
	n := strings.ToLower(name)
	if n == "idempotency-key" {
		return false
	}
	for _, w := range []string{"secret", "password", "passwd", "token", "auth", "cookie", "api-key", "apikey", "api_key",
		"private", "credential", "session", "vesi_sec", "vesi-sec", "mor-signature"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return strings.HasSuffix(n, "-key") || strings.HasSuffix(n, "_key") || n == "key"
}

// Header is one request header kept for audit. Credential-bearing headers
// are stored redacted.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Record is a stored notification: what arrived, which never changes once
// it is stored, and how its delivery is going (Delivery), which does.
type Record struct {
	ID         string    `json:"id"`
	Source     string    `json:"source"`
	Provider   string    `json:"provider"`
	Tenant     string    `json:"tenant"`
	DedupKey   string    `json:"dedupKey"`
	ReceivedAt time.Time `json:"receivedAt"`
	Peer       string    `json:"peer,omitempty"`
	Terminal   string    `json:"terminal,omitempty"`
	Headers    []Header  `json:"headers,omitempty"`
	Raw        []byte    `json:"raw,omitempty"`
	Payload    *Payload  `json:"payload,omitempty"`
	// Verified says how the notification was checked to be genuine.
	Verified string `json:"verified,omitempty"`
	// Refs are references a person may look the notification up by
	// besides its payload's (the provider's own reference of one that was
	// held, which has no payload).
	Refs []string `json:"refs,omitempty"`
	// StoredAt is when it was written (acknowledged once that write was
	// synced).
	StoredAt time.Time `json:"storedAt,omitzero"`

	Delivery

	// Rev is the store's revision of the record when it was read (zero
	// when unknown); it is not stored.
	Rev uint64 `json:"-"`
	// Blob names the file where the store keeps a large record's raw body,
	// payload and headers, apart from its delivery state; set by the store
	// when it reads such a record, and not stored in the record itself.
	Blob string `json:"-"`
	// AliasIDs are ids under which the same notification may already be
	// known: the id an earlier release gave it (LegacyID). The store treats
	// a known alias like the id itself, so that a provider's resend after an
	// upgrade is still a duplicate. Not stored.
	AliasIDs []string `json:"-"`
}

// Delivery is the part of a record that changes as delivery goes on; the
// rest is what arrived, which the store's Update never changes.
type Delivery struct {
	State State `json:"state"`
	// Reason says why a record is ignored or dead.
	Reason string `json:"reason,omitempty"`

	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"nextAttempt"`
	LastAttempt time.Time `json:"lastAttempt"`
	// FailingFor is how long this notification has failed with retryable
	// answers while other notifications were delivered (core.max_age).
	FailingFor  time.Duration `json:"failingFor,omitempty"`
	LastStatus  int           `json:"lastStatus,omitempty"`
	LastError   string        `json:"lastError,omitempty"`
	DeliveredAt time.Time     `json:"deliveredAt"`
	DeadAt      time.Time     `json:"deadAt"`
	// Trail is every attempt to deliver it, the first and the last ones
	// when there were more than TrailKeep; TrailLeftOut counts those in
	// between that were not kept.
	Trail        []Attempt `json:"trail,omitempty"`
	TrailLeftOut int       `json:"trailLeftOut,omitempty"`
}

// Attempt is one attempt to deliver a notification.
type Attempt struct {
	At time.Time `json:"at"`
	// Status is Fluxvend's answer (0 when there was none).
	Status int `json:"status,omitempty"`
	// Error says in words what went wrong, when it did.
	Error string        `json:"error,omitempty"`
	Took  time.Duration `json:"took"`
	// Reconstructed marks an attempt rebuilt from what a release that kept
	// no trail recorded of the last attempt: its time, answer and error.
	Reconstructed bool `json:"reconstructed,omitempty"`
}

// TrailKeep bounds a record's trail: the first TrailFirst attempts and the
// last TrailKeep-TrailFirst are kept.
const (
	TrailKeep  = 12
	TrailFirst = 3
)

// Note adds an attempt to the trail, keeping it bounded.
func (d *Delivery) Note(a Attempt) {
	d.Trail = append(d.Trail, a)
	if len(d.Trail) > TrailKeep {
		d.Trail = append(d.Trail[:TrailFirst], d.Trail[TrailFirst+1:]...)
		d.TrailLeftOut++
	}
}

// Fingerprint is what the dedup index keeps: the payload's fingerprint, or
// the reason for an ignored notification with no payload, as canonical
// JSON (sorted keys, numbers by value), so that a resend in another key
// order or number spelling is the same notification.
func (r *Record) Fingerprint() []byte {
	if r.Payload != nil {
		return r.Payload.Fingerprint()
	}
	return Canonical(r.previousFingerprint())
}

// Fingerprints are every form of the fingerprint a store may hold for this
// notification: the canonical one first, then the form releases before it
// wrote (the payload's documented keys in order, extra keys as sent). A
// match with any of them is the same notification.
func (r *Record) Fingerprints() [][]byte {
	prev := r.previousFingerprint()
	if r.Payload != nil {
		prev = r.Payload.render(true)
	}
	fp := r.Fingerprint()
	if bytes.Equal(fp, prev) {
		return [][]byte{fp}
	}
	return [][]byte{fp, prev}
}

func (r *Record) previousFingerprint() []byte {
	return []byte(`{"ignored":` + fmt.Sprintf("%q", r.Reason) + `}`)
}

// Held reports whether the notification was held at ingest: genuine, but
// it could not be mapped (its dedup key is its content's, "held:…").
func (r *Record) Held() bool { return strings.HasPrefix(r.DedupKey, "held:") }

// TransactionRef returns the payload's transactionRef, else the first of
// Refs (a held notification's provider reference), else the dedup key.
func (r *Record) TransactionRef() string {
	switch {
	case r.Payload != nil && r.Payload.TransactionRef != "":
		return r.Payload.TransactionRef
	case len(r.Refs) > 0:
		return r.Refs[0]
	}
	return r.DedupKey
}

// NewID derives a notification's id from the name of the source it came
// through, its provider, tenant and dedup key. Two gateways that name their
// sources alike give the same notification the same id (and Fluxvend the
// same Idempotency-Key), and one source can never block, dedup or reveal
// another source's notifications.
func NewID(source, provider, tenant, dedupKey string) string {
	return hashID(source, provider, tenant, dedupKey)
}

// LegacyID is the id releases before the source became part of it gave a
// notification (provider, tenant and dedup key only): what a store written
// by them holds, set as an alias of the new id.
func LegacyID(provider, tenant, dedupKey string) string {
	return hashID(provider, tenant, dedupKey)
}

// hashID hashes each part with its length, so that no two lists of parts
// give the same id.
func hashID(parts ...string) string {
	h := sha256.New()
	for _, s := range parts {
		fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Status is how an enqueue ended.
type Status string

// Enqueue results.
const (
	StatusQueued    Status = "queued"
	StatusDuplicate Status = "duplicate"
	StatusIgnored   Status = "ignored"
	// StatusHeld is a verified notification that could not be classified
	// or mapped: stored as a dead letter at once, for a person.
	StatusHeld Status = "held"
)

// ErrFull means the disk budget or free space is exhausted: new input is
// refused (never dropped) until space is freed.
var ErrFull = errors.New("the gateway's disk budget is used up (store.max_disk) or the disk is nearly full; nothing was stored, send again later")

// ErrClosed means the store is shutting down.
var ErrClosed = errors.New("fluxrelay is shutting down; send again shortly")

// ErrNotFound means no notification has that id.
var ErrNotFound = errors.New("no such notification")

// ConflictError is returned when a notification reuses a known dedup key
// with different content.
type ConflictError struct {
	ID       string
	DedupKey string
	Diff     string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%q was already received (id %s) with different content: %s", e.DedupKey, e.ID, e.Diff)
}
