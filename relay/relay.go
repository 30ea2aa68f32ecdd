// Package relay delivers stored notifications to the Fluxvend core webhook:
// it renders and signs each one at send time, posts it with a short burst
// of retries, sorts the answer (delivered, retry later, dead letter, or
// pause for a person) and records the outcome in the queue.
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
	// the time since the notification was received.
	Observe func(result string, sinceReceipt time.Duration)

	// Transport, when set, carries the requests instead of a pooled
	// network transport: tests serve the core in-process with it, so that
	// they can run under testing/synctest with time under their control.
	Transport http.RoundTripper

	// burstWait, when set, replaces the waits within a burst (tests that
	// make many attempts).
	burstWait time.Duration
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
		client:    newClient(opts.Timeout, opts.Concurrency, opts.burstWait, opts.Transport),
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
		r.client = newClient(l.Timeout, l.Concurrency, r.opts.burstWait, r.opts.Transport)
	}
	r.opts.Concurrency, r.opts.Timeout, r.opts.RetryMaxWait, r.opts.MaxAge = l.Concurrency, l.Timeout, l.RetryMaxWait, l.MaxAge
}

// SetTargets sets the default target and the sources that deliver to
// another tenant's webhook. Called at start and on every successful reload:
// credentials apply to everything still queued, and a pause is lifted so
// the new settings are tried at once.
func (r *Relay) SetTargets(def Target, bySource map[string]Target) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.def = r.refresh(r.def, def)
	next := map[string]*gate{}
	for src, t := range bySource {
		next[src] = r.refresh(r.bySource[src], t)
	}
	r.bySource = next
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *Relay) refresh(g *gate, t Target) *gate {
	if g == nil || g.cfg.URL != t.URL || g.mode == ModeNotConfigured || t.URL == "" {
		return newGate(t)
	}
	g.cfg = t
	g.gen++
	if g.mode == ModePaused {
		r.log.Info("deliveries resumed after a reload", "was", g.reason)
		g.mode, g.reason, g.probing, g.streak = ModeOK, "", false, nil
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
	sent := make(chan struct{}, window*maxConcurrency)
	recorded := make(chan string, window*maxConcurrency)
	w := &underway{inflight: map[string]bool{}}
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wake := r.dispatch(ctx, w, sent, recorded, &wg)
		timer.Reset(max(wake.Sub(r.opts.Now()), time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-sent:
			w.sending--
		case id := <-recorded:
			delete(w.inflight, id)
		case <-r.q.Wake():
		case <-r.changed:
			w.forget() // read again under the new settings
		case <-timer.C:
		}
		// Take in everything else that finished meanwhile, so that one
		// pass fills every free slot.
	more:
		for {
			select {
			case <-sent:
				w.sending--
			case id := <-recorded:
				delete(w.inflight, id)
			default:
				break more
			}
		}
	}
}

// window bounds the deliveries under way (read ahead, being sent, or
// having their outcome written) to this many times core.concurrency:
// outcomes are written in batches, one fsync each, and meanwhile the next
// ones are sent from what was read ahead.
const window = 16

// readAhead bounds what one read of the queue takes, in times
// core.concurrency: enough that a read serves many freed slots.
const readAhead = 8

// underway is what Run has under way; only Run's goroutine touches it.
type underway struct {
	inflight map[string]bool // read ahead, being sent, or its outcome being written
	sending  int
	ahead    []job // read from the queue, admitted, not yet sent; oldest first
}

// job is a notification read ahead, and the target it was admitted to.
type job struct {
	rec   *notification.Record
	g     *gate
	probe bool // let through while the target is not ok
}

// forget drops what was read ahead; it stays queued as it is.
func (w *underway) forget() {
	for _, j := range w.ahead {
		delete(w.inflight, j.rec.ID)
	}
	w.ahead = nil
}

// dispatch starts deliveries for what is due and returns when to look
// again if nothing else happens first. The queue is read a window at a
// time, without r.mu, so that deliveries finishing meanwhile can settle.
func (r *Relay) dispatch(ctx context.Context, w *underway, sent chan<- struct{}, recorded chan<- string, wg *sync.WaitGroup) time.Time {
	now := r.opts.Now()
	wake := now.Add(time.Minute)
	r.mu.Lock()
	concurrency := min(r.opts.Concurrency, maxConcurrency)
	free := concurrency - w.sending
	room := min(window*concurrency-len(w.inflight), readAhead*concurrency-len(w.ahead))
	admits := r.anyAdmits(now)
	r.mu.Unlock()
	if free <= 0 {
		return wake
	}
	if len(w.ahead) < free && room > 0 && admits {
		// The scheduler: due records are pulled from the store, each
		// admitted (or not) by its target's gate, until room is full.
		due, next := r.q.Due(now, w.inflight)
		for rec, err := range due {
			if err != nil {
				r.log.Error("reading the queue failed", "err", err)
				wake = now.Add(time.Second)
				break
			}
			r.mu.Lock()
			g := r.gateFor(rec.Source)
			admitted := g.admit(now)
			r.mu.Unlock()
			if !admitted {
				continue
			}
			w.ahead = append(w.ahead, job{rec: rec, g: g, probe: g.mode != ModeOK})
			w.inflight[rec.ID] = true
			if room--; room == 0 {
				break
			}
		}
		if n := next(); !n.IsZero() && n.Before(wake) {
			wake = n
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(w.ahead) > 0 && free > 0 {
		j := w.ahead[0]
		w.ahead = w.ahead[1:]
		if r.gateFor(j.rec.Source) != j.g || (j.g.mode != ModeOK && !j.probe) {
			// Its target was replaced or stopped taking deliveries since
			// it was read: leave it queued.
			delete(w.inflight, j.rec.ID)
			continue
		}
		free--
		w.sending++
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.deliver(ctx, j.rec, j.g, func() { sent <- struct{}{} })
			recorded <- j.rec.ID
		}()
	}
	// What is left ahead goes out when a slot frees, which wakes Run.
	return r.nextProbe(wake)
}

func (r *Relay) gates() []*gate {
	gs := []*gate{r.def}
	for _, g := range r.bySource {
		gs = append(gs, g)
	}
	return gs
}

// anyAdmits reports whether any target could take a delivery now, so that
// an outage does not scan the queue for nothing.
func (r *Relay) anyAdmits(now time.Time) bool {
	for _, g := range r.gates() {
		if g.mode == ModeOK || (g.mode != ModeNotConfigured && !g.probing && !now.Before(g.nextProbe)) {
			return true
		}
	}
	return false
}

func (r *Relay) nextProbe(wake time.Time) time.Time {
	for _, g := range r.gates() {
		if (g.mode == ModeOutage || g.mode == ModePaused) && !g.probing && g.nextProbe.Before(wake) {
			wake = g.nextProbe
		}
	}
	return wake
}

// deliver makes one attempt and records its outcome. It calls sent once
// the attempt is over, before the outcome is written.
func (r *Relay) deliver(ctx context.Context, rec *notification.Record, g *gate, sent func()) {
	r.mu.Lock()
	t, gen, client := g.cfg, g.gen, r.client
	r.mu.Unlock()
	if !t.Raw && (rec.Payload == nil || rec.Payload.Amount <= 0) {
		// A held notification has nothing the core can take; replay
		// refuses it, and one that is queued anyway goes back to a person
		// instead of being sent as 0.00.
		sent()
		err := r.q.UpdateFrom(context.WithoutCancel(ctx), rec, func(x *notification.Record) error {
			x.State, x.DeadAt, x.NextAttempt = notification.Dead, r.opts.Now(), time.Time{}
			x.Reason = "it has no amount that can be sent to Fluxvend; record the payment in Fluxvend by hand, then drop it"
			return nil
		})
		if err != nil {
			r.log.Error("recording a delivery outcome failed; it will be attempted again", "id", rec.ID, "err", err)
		}
		return
	}
	res := r.send(ctx, client, rec, t)
	sent()
	if ctx.Err() != nil && res.kind != delivered {
		r.mu.Lock()
		g.probing = false
		r.mu.Unlock()
		return // shutting down: the notification stays queued as it was
	}
	fn, refused := r.settle(rec, g, gen, res)
	if r.opts.Observe != nil {
		outcome := res.kind
		if outcome == reject && !refused {
			outcome = pause // refused the way that paused deliveries: it stays queued
		}
		r.opts.Observe(outcomeName(outcome), r.opts.Now().Sub(rec.ReceivedAt))
	}
	// Record a delivery even while shutting down: the store closes last.
	bg := context.WithoutCancel(ctx)
	var deadReason string
	edit := func(x *notification.Record) error {
		err := fn(x)
		if err == nil && x.State == notification.Dead {
			deadReason = x.Reason
		}
		return err
	}
	if err := r.q.UpdateFrom(bg, rec, edit); err != nil {
		r.log.Error("recording a delivery outcome failed; it will be attempted again", "id", rec.ID, "err", err)
		return
	}
	if deadReason != "" {
		r.log.Warn("dead letter: a payment waits for a person (fluxrelay dlq list)", "id", rec.ID, "source", rec.Source, "transaction_ref", rec.TransactionRef(), "reason", deadReason)
	}
	if !refused {
		return
	}
	// Only now that this dead letter is written can it be counted: a
	// streak that pauses takes back exactly the dead letters already
	// written, whatever order concurrent deliveries finish in.
	for _, id := range r.countRefusal(g, gen, rec.ID, res) {
		var back bool
		err := r.q.Update(bg, id, func(x *notification.Record) error {
			if x.State == notification.Dead && x.LastStatus == res.status {
				x.State, x.Reason, x.NextAttempt, x.DeadAt = notification.Pending, "", r.opts.Now(), time.Time{}
				x.Attempts = max(x.Attempts-1, 0) // the webhook refused, not this notification
				back = true
			}
			return nil
		})
		if err != nil {
			r.log.Error("re-queueing a notification failed", "id", id, "err", err)
		} else if back {
			r.log.Info("dead letter taken back: the webhook refuses every notification the same way, so it waits with the others", "id", id)
		}
	}
}

// limits returns the settings the gates decide by. Call it with r.mu held.
func (r *Relay) limits() limits {
	return limits{RetryMaxWait: r.opts.RetryMaxWait, MaxAge: r.opts.MaxAge, PauseProbe: r.opts.PauseProbe}
}

// settle has the target's gate decide what one outcome means and returns
// the change to make to the notification, and whether that change
// dead-letters it for a refusal that must be counted once it is written.
func (r *Relay) settle(rec *notification.Record, g *gate, gen int, res result) (func(*notification.Record) error, bool) {
	now := r.opts.Now()
	r.mu.Lock()
	lim := r.limits()
	d := g.observe(rec.ID, gen, res, now, lim)
	if d.write == writeDelivered {
		r.lastOK = now
		r.delivered[rec.Source]++
	}
	url, reason, since := g.cfg.URL, g.reason, g.since
	r.mu.Unlock()
	r.logChange(d.change, url, reason, d.was, now.Sub(since), res)
	return d.edit(res, now, lim), d.counts
}

// countRefusal has the gate count a refusal's dead letter, now written,
// and returns the dead letters to take back if the streak paused
// deliveries.
func (r *Relay) countRefusal(g *gate, gen int, id string, res result) []string {
	now := r.opts.Now()
	r.mu.Lock()
	takeBack, c := g.recorded(id, gen, res.status, res.body, now, r.limits())
	url, reason := g.cfg.URL, g.reason
	r.mu.Unlock()
	r.logChange(c, url, reason, "", 0, res)
	return takeBack
}

// logChange says in the log what a gate's transition means.
func (r *Relay) logChange(c change, url, reason, was string, after time.Duration, res result) {
	switch c {
	case outageBegan:
		r.log.Warn("Fluxvend unreachable; deliveries wait", "url", url, "last", res.describe())
	case reachableAgain:
		r.log.Info("Fluxvend reachable again", "after", after.Round(time.Second).String(), "url", url)
	case pauseBegan:
		r.log.Error("deliveries paused: ACTION NEEDED", "reason", reason)
	case resumed:
		r.log.Info("deliveries resumed", "was", was)
	}
}

func outcomeName(k kind) string {
	return [...]string{delivered: "delivered", retry: "retry", unreachable: "unreachable", pause: "paused", reject: "dead_letter"}[k]
}
