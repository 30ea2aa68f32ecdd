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
	"strings"
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
	TooLarge                       // the body is over the size limit (http.max_body)
)

var outcomeNames = [...]string{Queued: "queued", Duplicate: "duplicate", Ignored: "ignored", Held: "held",
	NoSource: "no_source", NotAllowed: "not_allowed", NotGenuine: "not_genuine", BadInput: "bad_input",
	Conflict: "conflict", Unavailable: "unavailable", TooLarge: "too_large"}

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
	limits  atomic.Pointer[Limits]
	refused *RateLog
	Stats   *Stats
}

// NewIntake returns an Intake that stores into sink, with DefaultLimits.
func NewIntake(sink Sink, log *slog.Logger, now func() time.Time) *Intake {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &Intake{sink: sink, log: log, now: now, Stats: NewStats(), refused: NewRateLog(time.Minute, 1024)}
	in.SetSources(nil)
	in.SetLimits(DefaultLimits)
	return in
}

// SetLimits replaces the input limits (at start: http.max_body and
// store.dedup_window).
func (in *Intake) SetLimits(l Limits) { in.limits.Store(&l) }

// Limits returns the input limits in force.
func (in *Intake) Limits() Limits { return *in.limits.Load() }

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
	limits := in.Limits()
	if err := in.checkLimits(limits, src, req); err != nil {
		return in.reject(name, meta, refusal(err))
	}
	parsed, err := in.verifyAndParse(name, src, req)
	if err == nil {
		err = checkParsed(limits, src, req, parsed)
	}
	if err != nil {
		return in.reject(name, meta, refusal(err))
	}
	r := in.record(name, src, req, meta, parsed)
	st, err := in.sink.Enqueue(ctx, r)
	return in.settle(name, meta, r, st, err, limits)
}

// checkLimits holds a request to the input limits before its provider
// reads it.
func (in *Intake) checkLimits(l Limits, src *Source, req *provider.Request) error {
	if err := l.CheckSize(int64(len(req.Body))); err != nil {
		return err
	}
	if err := CheckHeaders(req.Header); err != nil {
		return err
	}
	doc := provider.DocumentedKeys(src.Provider)
	if err := CheckHeaderRefs(req.Header, doc); err != nil {
		return err
	}
	return CheckBody(req.Body, doc)
}

// checkParsed holds what the provider made of a request to the limits
// that only then show: a signed send time older than the dedup window (a
// replay of a notification the gateway may have forgotten), and references
// the adapter derived from elsewhere than the documented keys.
func checkParsed(l Limits, src *Source, req *provider.Request, parsed *provider.Parsed) error {
	if st, ok := src.Verifier.(provider.Stamped); ok && l.DedupWindow > 0 {
		if at, ok := st.SignedAt(req); ok && req.Received.Sub(at) > l.DedupWindow {
			return &provider.Error{Status: http.StatusUnauthorized, Msg: fmt.Sprintf("the notification was signed %s ago, longer than store.dedup_window (%s): it may be a replay of one this gateway has delivered and forgotten, so it is refused", req.Received.Sub(at).Round(time.Hour), l.DedupWindow)}
		}
	}
	if p := parsed.Payload; p != nil {
		for _, f := range []struct{ key, v string }{{"transactionRef", p.TransactionRef}, {"paymentRef", p.PaymentRef}} {
			if len(f.v) > MaxRef {
				return overLimit("%s: %d bytes, longer than the %d bytes a reference may have", f.key, len(f.v), MaxRef)
			}
		}
	}
	return nil
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
	var le *LimitError
	if errors.As(err, &le) {
		if le.TooLarge {
			return Answer{Outcome: TooLarge, Error: le.Msg}
		}
		return Answer{Outcome: BadInput, Error: le.Msg}
	}
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
// publish for the source, a body over the size limit), as Accept does its
// own refusals: it is received and rejected.
func (in *Intake) Refuse(name string, meta Meta, o Outcome, msg string) Answer {
	if in.Source(name) != nil {
		in.Stats.source(name).Received.Add(1)
	}
	return in.reject(name, meta, Answer{Outcome: o, Error: msg})
}

// RefuseErr is Refuse for an error of the input limits (LimitError) or a
// provider's (*provider.Error).
func (in *Intake) RefuseErr(name string, meta Meta, err error) Answer {
	a := refusal(err)
	return in.Refuse(name, meta, a.Outcome, a.Error)
}

func (in *Intake) reject(name string, meta Meta, a Answer) Answer {
	if in.Source(name) != nil {
		in.Stats.source(name).Rejected.Add(1)
	}
	in.Stats.remember(Rejection{At: in.now().UTC(), Source: name, Peer: addrString(meta.Peer), Terminal: meta.Terminal, Outcome: a.Outcome.String(), Error: a.Error})
	if a.Outcome == NotGenuine || a.Outcome == NotAllowed {
		in.logRefused(name, meta, a)
	}
	return a
}

// logRefused logs a 401 or 403 refusal, at most once a minute for each
// source and sender: the source, the sender and why, never the body.
func (in *Intake) logRefused(name string, meta Meta, a Answer) {
	sender := addrString(meta.Peer)
	if meta.Terminal != "" {
		sender = "terminal " + meta.Terminal
	}
	ok, skipped := in.refused.Allow(name+"\x00"+sender, in.now())
	if !ok {
		return
	}
	args := []any{"source", name, "outcome", a.Outcome.String(), "error", a.Error}
	if meta.Peer.IsValid() {
		args = append(args, "peer", sender)
	}
	if meta.Terminal != "" {
		args = append(args, "terminal", meta.Terminal)
	}
	if skipped > 0 {
		args = append(args, "more_refused_since_last_line", skipped)
	}
	in.log.Warn("notification refused: not from who it claims to be, or from an address not allowed", args...)
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
