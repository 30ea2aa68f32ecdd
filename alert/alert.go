// Package alert tells a person when something needs them: it sends events
// to webhooks (as JSON) and to Telegram chats, each receiver from a
// goroutine of its own with a bounded queue and retries, so that a receiver
// that is slow or down never holds up ingest or delivery.
package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The kinds of event.
const (
	KindState          = "state"           // the gateway's state changed
	KindDeadLetter     = "dead_letter"     // payments became dead letters
	KindDisk           = "disk"            // free space fell below twice the reserve
	KindUncleanRestart = "unclean_restart" // the last stop was not clean
	KindHeartbeat      = "heartbeat"       // still alive (to the receivers that asked)
)

// Event is what a receiver is told. It carries no secret and no customer
// data. Gateway is the configured name of the gateway.
type Event struct {
	Kind          string    `json:"kind"`
	Gateway       string    `json:"gateway"`
	State         string    `json:"state"`
	PreviousState string    `json:"previous_state"`
	Reasons       []string  `json:"reasons"`
	QueueDepth    int64     `json:"queue_depth"`
	DeadLetters   int64     `json:"dead_letters"`
	At            time.Time `json:"at"`
}

// Receiver is one [[alert]] table.
type Receiver struct {
	URL         string // a secret: never logged
	Format      string // "json" or "telegram"
	ChatID      string // telegram
	MinInterval time.Duration
	// Heartbeat, when not zero, is how often the receiver is sent a
	// "still alive" event (Beat); min_interval does not apply to it.
	Heartbeat time.Duration
}

// Options tune the sending. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// Timeout bounds one request (default 10s).
	Timeout time.Duration
	// Tries is how many times an event is sent before it is given up
	// (default 6), with a wait that doubles from RetryWait (default 2s).
	Tries     int
	RetryWait time.Duration
	// Queue bounds the events waiting per receiver (default 32); past it
	// the oldest is dropped.
	Queue int
}

// Alerter sends events to its receivers. Send never blocks.
type Alerter struct {
	opts   Options
	log    *slog.Logger
	client *http.Client

	mu       sync.Mutex
	outboxes []*outbox
	ctx      context.Context // Run's; nil before Run
	wg       sync.WaitGroup
}

type outbox struct {
	r      Receiver
	queue  chan Event
	last   map[string]time.Time // when each kind was last queued
	beat   time.Time            // when the last heartbeat was queued
	cancel context.CancelFunc
}

// New returns an Alerter with no receivers.
func New(opts Options) *Alerter {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Tries == 0 {
		opts.Tries = 6
	}
	if opts.RetryWait == 0 {
		opts.RetryWait = 2 * time.Second
	}
	if opts.Queue == 0 {
		opts.Queue = 32
	}
	return &Alerter{opts: opts, log: opts.Logger, client: &http.Client{Timeout: opts.Timeout}}
}

// SetReceivers replaces the receivers (at start and on reload). Events
// still queued for the old ones are dropped; a receiver that stays (same
// URL, format and chat) keeps its heartbeat's rhythm.
func (a *Alerter) SetReceivers(rs []Receiver) {
	a.mu.Lock()
	defer a.mu.Unlock()
	beats := map[[3]string]time.Time{}
	for _, o := range a.outboxes {
		if o.cancel != nil {
			o.cancel()
		}
		beats[[3]string{o.r.URL, o.r.Format, o.r.ChatID}] = o.beat
	}
	a.outboxes = nil
	for _, r := range rs {
		o := &outbox{r: r, queue: make(chan Event, a.opts.Queue), last: map[string]time.Time{},
			beat: beats[[3]string{r.URL, r.Format, r.ChatID}]}
		a.outboxes = append(a.outboxes, o)
		if a.ctx != nil {
			a.start(o)
		}
	}
}

// Run sends until ctx ends.
func (a *Alerter) Run(ctx context.Context) error {
	a.mu.Lock()
	a.ctx = ctx
	for _, o := range a.outboxes {
		a.start(o)
	}
	a.mu.Unlock()
	<-ctx.Done()
	a.wg.Wait()
	return nil
}

// start runs o's goroutine. Call it with a.mu held.
func (a *Alerter) start(o *outbox) {
	ctx, cancel := context.WithCancel(a.ctx)
	o.cancel = cancel
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-o.queue:
				a.deliver(ctx, o.r, e)
			}
		}
	}()
}

// Send queues e for every receiver that has not had an alert of its kind
// within its min_interval ("back to OK" always goes). It never blocks: a
// full queue loses its oldest event.
func (a *Alerter) Send(e Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	backToOK := e.Kind == KindState && e.State == "ok"
	for _, o := range a.outboxes {
		if last, ok := o.last[e.Kind]; ok && !backToOK && e.At.Sub(last) < o.r.MinInterval {
			continue
		}
		o.last[e.Kind] = e.At
		a.queue(o, e)
	}
}

// Beat queues e, a heartbeat, for every receiver that wants one and has
// had none for its heartbeat interval (or none yet). Call it often: at
// start and every few seconds.
func (a *Alerter) Beat(e Event) {
	e.Kind = KindHeartbeat
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, o := range a.outboxes {
		if o.r.Heartbeat <= 0 || (!o.beat.IsZero() && e.At.Sub(o.beat) < o.r.Heartbeat && !e.At.Before(o.beat)) {
			continue
		}
		o.beat = e.At
		a.queue(o, e)
	}
}

// queue puts e in o's queue without blocking: a full queue loses its
// oldest event. Call it with a.mu held.
func (a *Alerter) queue(o *outbox, e Event) {
	for {
		select {
		case o.queue <- e:
			return
		default:
			select {
			case <-o.queue: // full: the oldest goes
				a.log.Warn("alert queue full; the oldest alert was dropped", "format", o.r.Format)
			default:
			}
		}
	}
}

// deliver sends one event to one receiver, trying again with backoff.
func (a *Alerter) deliver(ctx context.Context, r Receiver, e Event) {
	body, err := render(r, e)
	if err != nil {
		a.log.Error("an alert could not be rendered", "err", err)
		return
	}
	wait := a.opts.RetryWait
	for try := 1; ; try++ {
		err := a.post(ctx, r.URL, body)
		if err == nil {
			return
		}
		if try == a.opts.Tries || ctx.Err() != nil {
			a.log.Warn("an alert could not be sent; check the [[alert]] url and that the receiver is up", "format", r.Format, "kind", e.Kind, "tries", try, "last", err)
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, time.Minute)
	}
}

func (a *Alerter) post(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("the url cannot be used")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return errWithoutURL(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the receiver answered %d", resp.StatusCode)
	}
	return nil
}

// errWithoutURL keeps the URL, which may carry a bot token, out of logs:
// the cause inside the *url.Error the client returns.
func errWithoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("no answer: %w", err)
}

// stateWords is a state as a person reads it.
var stateWords = map[string]string{"ok": "OK", "delayed": "DELAYED", "action_needed": "ACTION NEEDED"}

func render(r Receiver, e Event) ([]byte, error) {
	if r.Format != "telegram" {
		return json.Marshal(e)
	}
	var b strings.Builder
	switch e.Kind {
	case KindState:
		fmt.Fprintf(&b, "fluxrelay on %s: %s (was %s)", e.Gateway, stateWords[e.State], stateWords[e.PreviousState])
	case KindDeadLetter:
		fmt.Fprintf(&b, "fluxrelay on %s: %d payment(s) wait for a person", e.Gateway, e.DeadLetters)
	case KindDisk:
		fmt.Fprintf(&b, "fluxrelay on %s: the disk is nearly full", e.Gateway)
	case KindUncleanRestart:
		fmt.Fprintf(&b, "fluxrelay on %s restarted after an unclean stop (a power cut?)", e.Gateway)
	case KindHeartbeat:
		fmt.Fprintf(&b, "fluxrelay on %s is alive: %s", e.Gateway, stateWords[e.State])
	default:
		fmt.Fprintf(&b, "fluxrelay on %s: %s", e.Gateway, e.Kind)
	}
	for _, reason := range e.Reasons {
		b.WriteString("\n• " + reason)
	}
	fmt.Fprintf(&b, "\n%d waiting, %d dead letters · %s", e.QueueDepth, e.DeadLetters, e.At.UTC().Format("2006-01-02 15:04 UTC"))
	return json.Marshal(map[string]string{"chat_id": r.ChatID, "text": b.String()})
}
