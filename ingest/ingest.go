// Package ingest takes notifications in: it checks where each comes from,
// has its provider verify and map it, and hands it to the Sink, answering
// only once the Sink has it on disk. The HTTP and MQTT listeners share it.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/provider"
)

// Sink stores notifications durably. Enqueue returns only after the record
// is on disk; notification.ErrFull means it was refused, not dropped.
type Sink interface {
	Enqueue(ctx context.Context, r *notification.Record) (notification.Status, error)
}

// Source is one configured source as the listeners see it.
type Source struct {
	Name     string
	Provider string // the provider's name, e.g. "core", "monnify"
	Verifier provider.Provider
	// Allow lists the addresses it may send from; empty allows any.
	Allow []netip.Prefix
}

// Allowed reports whether addr may send for this source.
func (s *Source) Allowed(addr netip.Addr) bool {
	if len(s.Allow) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range s.Allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Outcome is how the intake of one notification ended, whatever the
// transport: the HTTP listener translates it into a status code, the MQTT
// ones into an acknowledgement or none.
type Outcome int

// The outcomes. The first four stored the notification; the others stored
// nothing.
const (
	Queued      Outcome = iota + 1 // stored, to be relayed
	Duplicate                      // seen before with the same content: nothing new stored
	Ignored                        // genuine, known not to be a sale: stored, not relayed
	Held                           // genuine, but not mappable: stored as a dead letter for a person
	NoSource                       // no source has that name
	NotAllowed                     // the sender's address is not in the source's allow list
	NotGenuine                     // the signature or merchant check failed
	BadInput                       // not JSON, or a required field missing or malformed
	Conflict                       // a known sale's key with other sale content
	Unavailable                    // not stored (disk budget, store closing): send again later
)

var outcomeNames = [...]string{Queued: "queued", Duplicate: "duplicate", Ignored: "ignored", Held: "held",
	NoSource: "no_source", NotAllowed: "not_allowed", NotGenuine: "not_genuine", BadInput: "bad_input",
	Conflict: "conflict", Unavailable: "unavailable"}

func (o Outcome) String() string {
	if o > 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Stored reports whether the notification is on disk: what may be
// acknowledged as taken.
func (o Outcome) Stored() bool { return o >= Queued && o <= Held }

// Answer is the outcome of one notification, as the listener will tell it.
type Answer struct {
	Outcome    Outcome `json:"-"`
	Status     string  `json:"status,omitempty"` // the outcome's name, for those that stored it
	ID         string  `json:"id,omitempty"`
	Reason     string  `json:"reason,omitempty"`
	Error      string  `json:"error,omitempty"`
	RetryAfter int     `json:"-"` // seconds, with Unavailable
}

// stored answers a notification that is on disk.
func stored(o Outcome, id, reason string) Answer {
	return Answer{Outcome: o, Status: o.String(), ID: id, Reason: reason}
}

// Intake runs notifications from any listener through the same steps.
type Intake struct {
	sink    Sink
	log     *slog.Logger
	now     func() time.Time
	sources atomic.Pointer[map[string]*Source]
	Stats   *Stats
}

// NewIntake returns an Intake that stores into sink.
func NewIntake(sink Sink, log *slog.Logger, now func() time.Time) *Intake {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &Intake{sink: sink, log: log, now: now, Stats: NewStats()}
	in.SetSources(nil)
	return in
}

// SetSources replaces the configured sources (at start and on reload).
func (in *Intake) SetSources(srcs []*Source) {
	m := make(map[string]*Source, len(srcs))
	for _, s := range srcs {
		m[s.Name] = s
	}
	in.sources.Store(&m)
}

// Source returns the named source, or nil.
func (in *Intake) Source(name string) *Source { return (*in.sources.Load())[name] }

// Meta is what is known of a notification's arrival besides its body.
type Meta struct {
	Peer     netip.Addr
	Terminal string // MQTT only
}

// Accept verifies, maps and stores one notification for the named source.
// A refused notification stores nothing; it is counted and remembered.
func (in *Intake) Accept(ctx context.Context, name string, req *provider.Request, meta Meta) Answer {
	src := in.Source(name)
	if src == nil {
		return in.reject(name, meta, Answer{Outcome: NoSource, Error: "no source named " + quote(name) + " is configured; add a [[source]] with this name or fix the URL"})
	}
	in.Stats.source(name).Received.Add(1)
	if meta.Peer.IsValid() && !src.Allowed(meta.Peer) {
		return in.reject(name, meta, Answer{Outcome: NotAllowed, Error: "address " + meta.Peer.String() + " is not in this source's allow list; add it to allow if it is genuine"})
	}
	parsed, err := in.verifyAndParse(name, src, req)
	if err != nil {
		return in.reject(name, meta, refusal(err))
	}
	r := &notification.Record{
		ID:         notification.NewID(src.Provider, parsed.Tenant, parsed.DedupKey),
		Source:     name,
		Provider:   src.Provider,
		Tenant:     parsed.Tenant,
		DedupKey:   parsed.DedupKey,
		ReceivedAt: req.Received,
		Terminal:   meta.Terminal,
		Headers:    Redact(req.Header),
		Raw:        req.Body,
		Payload:    parsed.Payload,
		Verified:   src.Verifier.Verification(),
		Refs:       parsed.Refs,
		Delivery:   notification.Delivery{State: notification.Pending, NextAttempt: req.Received},
	}
	if meta.Peer.IsValid() {
		r.Peer = meta.Peer.String()
	}
	switch {
	case parsed.Ignored != "":
		r.State, r.Reason, r.Payload = notification.Ignored, parsed.Ignored, nil
	case parsed.Held != "":
		r.State, r.Reason, r.DeadAt = notification.Dead, parsed.Held, req.Received
	}
	st, err := in.sink.Enqueue(ctx, r)
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
	case st == notification.StatusHeld:
		counts.Held.Add(1)
		in.log.Warn("notification held for a person: verified, but it cannot be sent as it is", "source", name, "id", r.ID, "transaction_ref", r.TransactionRef(), "reason", r.Reason)
		return stored(Held, r.ID, r.Reason)
	default:
		counts.Queued.Add(1)
		return stored(Queued, r.ID, "")
	}
}

// errPanicked is what a provider's panic is answered with.
var errPanicked = errors.New("fluxrelay could not read this notification; nothing was stored. If it is genuine, send the body to your fluxrelay technician")

// verifyAndParse has the source's provider verify and map req. A panic in
// either is recovered here, at the intake's boundary, so that no input can
// crash the daemon or drop a connection: it is logged (the source only,
// never the body or a secret), counted and refused like any bad input.
func (in *Intake) verifyAndParse(name string, src *Source, req *provider.Request) (parsed *provider.Parsed, err error) {
	defer func() {
		if p := recover(); p != nil {
			in.Stats.source(name).Panics.Add(1)
			in.log.Error("a provider's parser failed on a notification; it was refused with 400. Please report this fluxrelay bug", "source", name, "provider", src.Provider, "panic", fmt.Sprintf("%T", p), "stack", panicSite())
			parsed, err = nil, errPanicked
		}
	}()
	if err := src.Verifier.Verify(req); err != nil {
		return nil, err
	}
	return src.Verifier.Parse(req)
}

// panicSite names the function that panicked, without any values.
func panicSite() string {
	pcs := make([]uintptr, 16)
	n := runtime.Callers(4, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			return fmt.Sprintf("%s (%s:%d)", f.Function, filepath.Base(f.File), f.Line)
		}
		if !more {
			return ""
		}
	}
}

func refusal(err error) Answer {
	var pe *provider.Error
	if errors.As(err, &pe) && pe.Status == http.StatusUnauthorized {
		return Answer{Outcome: NotGenuine, Error: pe.Msg}
	}
	if errors.As(err, &pe) {
		return Answer{Outcome: BadInput, Error: pe.Msg}
	}
	return Answer{Outcome: BadInput, Error: err.Error()}
}

// Refuse counts and remembers a notification its transport refused before
// the intake saw it (a topic naming no source, an MQTT user not allowed to
// publish for the source), as Accept does its own refusals.
func (in *Intake) Refuse(name string, meta Meta, o Outcome, msg string) Answer {
	return in.reject(name, meta, Answer{Outcome: o, Error: msg})
}

func (in *Intake) reject(name string, meta Meta, a Answer) Answer {
	if in.Source(name) != nil {
		in.Stats.source(name).Rejected.Add(1)
	}
	in.Stats.remember(Rejection{At: in.now().UTC(), Source: name, Peer: addrString(meta.Peer), Terminal: meta.Terminal, Outcome: a.Outcome.String(), Error: a.Error})
	return a
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return `"` + s + `"`
}

// credentialHeader tells headers that carry a credential; they are kept
// for audit with their value replaced.
func credentialHeader(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"secret", "password", "token", "authorization", "cookie", "api-key", "apikey", "vesi_sec", "vesi-sec"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Redact copies the headers worth keeping with a notification, with
// credential-bearing values replaced by notification.Redacted.
func Redact(h http.Header) []notification.Header {
	var out []notification.Header
	for name, vals := range h {
		for _, v := range vals {
			if credentialHeader(name) {
				v = notification.Redacted
			}
			out = append(out, notification.Header{Name: name, Value: v})
		}
	}
	slices.SortStableFunc(out, func(a, b notification.Header) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Counts are one source's counters since the daemon started.
type Counts struct {
	Received, Queued, Duplicates, Ignored, Held, Rejected atomic.Int64
	// Panics counts notifications a provider's parser failed on.
	Panics atomic.Int64
}

// Rejection is a refused request, kept in memory for status.
type Rejection struct {
	At       time.Time `json:"at"`
	Source   string    `json:"source"`
	Peer     string    `json:"peer,omitempty"`
	Terminal string    `json:"terminal,omitempty"`
	Outcome  string    `json:"outcome"`
	Error    string    `json:"error"`
}

// Stats holds the per-source counters and the last 100 rejections.
type Stats struct {
	mu       sync.Mutex
	sources  map[string]*Counts
	rejected []Rejection
	next     int
}

// NewStats returns empty Stats.
func NewStats() *Stats { return &Stats{sources: map[string]*Counts{}} }

func (s *Stats) source(name string) *Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.sources[name]
	if !ok {
		c = new(Counts)
		s.sources[name] = c
	}
	return c
}

// Source returns the counters of one source.
func (s *Stats) Source(name string) *Counts { return s.source(name) }

const keepRejections = 100

func (s *Stats) remember(r Rejection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rejected) < keepRejections {
		s.rejected = append(s.rejected, r)
		return
	}
	s.rejected[s.next] = r
	s.next = (s.next + 1) % keepRejections
}

// Rejections returns the remembered rejections, oldest first.
func (s *Stats) Rejections() []Rejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(append([]Rejection{}, s.rejected[s.next:]...), s.rejected[:s.next]...)
}
