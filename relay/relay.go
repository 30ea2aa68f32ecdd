// Package relay delivers stored notifications to the Fluxvend core webhook:
// it renders and signs each one at send time, posts it once per attempt,
// sorts the answer (delivered, retry later, dead letter, or pause for a
// person) and records every attempt and its outcome in the queue. The
// relay owns the retries: each request is an attempt on the trail, and the
// store's schedule says when the next one goes.
package relay

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/fluxrelay/fluxrelay/notification"
)

// Queue is what the relay needs from the store.
type Queue interface {
	// Due yields the notifications due at now, oldest schedule first,
	// passing over those in skip, outside the store's transactions; next
	// gives, after the range, the first later attempt it came to.
	Due(now time.Time, skip map[string]bool) (due iter.Seq2[*notification.Record, error], next func() time.Time)
	Update(ctx context.Context, id string, fn func(*notification.Record) error) error
	// UpdateFrom is Update starting from read, a record Due returned, when
	// it is still the stored one.
	UpdateFrom(ctx context.Context, read *notification.Record, fn func(*notification.Record) error) error
	CapSchedule(ctx context.Context, limit time.Time) (int, error)
	Wake() <-chan struct{}
}

// maxConcurrency is the most deliveries in flight that a config may ask for.
const maxConcurrency = 64

// Options configure a Relay.
type Options struct {
	Concurrency  int
	Timeout      time.Duration
	RetryMaxWait time.Duration
	MaxAge       time.Duration
	// PauseProbe is how often a paused target is tried again (default 3m).
	PauseProbe time.Duration
	Version    string
	Now        func() time.Time
	Logger     *slog.Logger
	// Observe, when set, is told each attempt's result ("delivered",
	// "retry", "unreachable", "paused", "dead_letter") and, for a delivery,
	// the time since the notification was received: once per request
	// made to a webhook.
	Observe func(result string, sinceReceipt time.Duration)

	// Transport, when set, carries the requests instead of a pooled
	// network transport: tests serve the core in-process with it, so that
	// they can run under testing/synctest with time under their control.
	Transport http.RoundTripper
}

// Relay delivers notifications. Its methods are safe for concurrent use.
type Relay struct {
	q      Queue
	opts   Options
	log    *slog.Logger
	client *retryablehttp.Client

	mu        sync.Mutex
	def       *gate
	bySource  map[string]*gate
	delivered map[string]int64 // by source
	lastOK    time.Time
	changed   chan struct{}
}

// New returns a Relay over q. Call SetTargets before Run.
func New(q Queue, opts Options) *Relay {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PauseProbe == 0 {
		opts.PauseProbe = 3 * time.Minute
	}
	return &Relay{
		q: q, opts: opts, log: opts.Logger,
		client:    newClient(opts.Timeout, opts.Concurrency, opts.Transport),
		def:       newGate(Target{}),
		bySource:  map[string]*gate{},
		delivered: map[string]int64{},
		changed:   make(chan struct{}, 1),
	}
}

// Limits are the delivery settings a reload may change.
type Limits struct {
	Concurrency  int
	Timeout      time.Duration
	RetryMaxWait time.Duration
	MaxAge       time.Duration
}

// SetLimits applies new delivery settings to everything from now on.
func (r *Relay) SetLimits(l Limits) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l.Timeout != r.opts.Timeout || l.Concurrency != r.opts.Concurrency {
		r.client = newClient(l.Timeout, l.Concurrency, r.opts.Transport)
	}
	r.opts.Concurrency, r.opts.Timeout, r.opts.RetryMaxWait, r.opts.MaxAge = l.Concurrency, l.Timeout, l.RetryMaxWait, l.MaxAge
}

// SetTargets sets the default target and the sources that deliver to
// another tenant's webhook. Called at start and on every successful reload:
// credentials apply to everything still queued, and a pause is lifted so
// the new settings are tried at once.
func (r *Relay) SetTargets(def Target, bySource map[string]Target) { r.setTargets(def, bySource) }

// setTargets is SetTargets, returning the modes of the targets as the
// reload left them, before any delivery under the new settings.
func (r *Relay) setTargets(def Target, bySource map[string]Target) []Mode {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.def = r.reload(r.def, def)
	next := map[string]*gate{}
	for src, t := range bySource {
		next[src] = r.reload(r.bySource[src], t)
	}
	r.bySource = next
	select {
	case r.changed <- struct{}{}:
	default:
	}
	var modes []Mode
	for _, g := range r.gates() {
		modes = append(modes, g.mode)
	}
	return modes
}

// reload has a target's gate take its new settings. Call it with r.mu
// held.
func (r *Relay) reload(g *gate, t Target) *gate {
	g, lifted := g.reload(t)
	if lifted != "" {
		r.log.Info("deliveries resumed after a reload", "was", lifted)
	}
	return g
}

func (r *Relay) gateFor(source string) *gate {
	if g, ok := r.bySource[source]; ok {
		return g
	}
	return r.def
}

// Run delivers until ctx ends. Deliveries in flight when it ends are
// abandoned and stay queued (at-least-once).
func (r *Relay) Run(ctx context.Context) error {
	now := r.opts.Now()
	// A schedule saved under a wrong clock must not strand the queue.
	r.mu.Lock()
	limit := now.Add(r.opts.RetryMaxWait)
	r.mu.Unlock()
	if n, err := r.q.CapSchedule(ctx, limit); err != nil {
		return fmt.Errorf("cap the retry schedule: %w", err)
	} else if n > 0 {
		r.log.Warn("retry times in the future were brought forward (was the clock wrong?)", "count", n)
	}
	// A delivery keeps its id in inflight from the read of the queue until
	// its outcome is on disk, so the queue never hands it out twice, but
	// holds one of core.concurrency's slots only while it is being sent:
	// the next one goes out while the outcome is being written. At most
	// window times the concurrency are under way, so the channels never
	// block.
	w := &underway{inflight: map[string]bool{},
		sent:     make(chan struct{}, window*maxConcurrency),
		recorded: make(chan job, window*maxConcurrency)}
	var wg sync.WaitGroup
	defer r.releaseAll()
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wake := r.dispatch(ctx, w, &wg)
		timer.Reset(max(wake.Sub(r.opts.Now()), time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-w.sent:
			w.sending--
		case j := <-w.recorded:
			r.done(w, j)
		case <-r.q.Wake():
		case <-r.changed:
			r.forget(w) // read again under the new settings
		case <-timer.C:
		}
		// Take in everything else that finished meanwhile, so that one
		// pass fills every free slot.
	more:
		for {
			select {
			case <-w.sent:
				w.sending--
			case j := <-w.recorded:
				r.done(w, j)
			default:
				break more
			}
		}
	}
}

// releaseAll gives back every probe when Run ends: what was under way
// stays queued, and a Run started again must be able to probe.
func (r *Relay) releaseAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.gates() {
		g.stopped()
	}
}
