// Package relaytest is a stand-in for the Fluxvend core webhook. It verifies
// every request's signature as Fluxvend documents it, records what it
// received and answers as told. Tests use it, and so does
// `fluxrelay mock-core`.
package relaytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
)

// Delivery is one request the core received.
type Delivery struct {
	At             time.Time
	Body           []byte
	Signature      string
	IdempotencyKey string
	UserAgent      string
	ContentType    string
	// Valid says the signature matched the body.
	Valid bool
	// Answered is the status code the core answered.
	Answered int
}

// Core is a fake Fluxvend core webhook. Set its fields before use.
type Core struct {
	APIKey, APISecret string
	// SignatureKey is "secret" (default) or "key:secret".
	SignatureKey string
	// Answer, when set, picks the status for a validly signed request;
	// n counts validly signed requests from 1. Nil answers 200.
	Answer func(n int, d Delivery) int
	// Out, when set, gets one line per request.
	Out io.Writer
	// DateOffset moves the Date header of the answers, as a server whose
	// clock is off would (or, seen from it, a gateway whose clock is off).
	DateOffset time.Duration

	mu       sync.Mutex
	received []Delivery
	valid    int
	accepted int
	arrived  chan struct{}
}

// ServeHTTP implements http.Handler.
func (c *Core) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read error", http.StatusBadRequest)
		return
	}
	d := Delivery{
		At: time.Now(), Body: body,
		Signature:      r.Header.Get("Signature"),
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
		UserAgent:      r.Header.Get("User-Agent"),
		ContentType:    r.Header.Get("Content-Type"),
	}
	c.mu.Lock()
	key := notification.SigningKey(c.SignatureKey, c.APIKey, c.APISecret)
	d.Valid = r.Method == http.MethodPost && notification.Verify(key, body, d.Signature)
	status := http.StatusUnauthorized
	if d.Valid {
		c.valid++
		status = http.StatusOK
		if c.Answer != nil {
			status = c.Answer(c.valid, d)
		}
	}
	d.Answered = status
	if accepted(d) {
		c.accepted++
	}
	c.received = append(c.received, d)
	if c.arrived != nil {
		select {
		case c.arrived <- struct{}{}:
		default:
		}
	}
	c.mu.Unlock()
	if c.Out != nil {
		fmt.Fprintf(c.Out, "%s %d signature=%s idempotency-key=%s %s\n", d.At.UTC().Format(time.RFC3339), status, validWord(d.Valid), d.IdempotencyKey, body)
	}
	w.Header().Set("Content-Type", "application/json")
	if c.DateOffset != 0 {
		w.Header().Set("Date", time.Now().Add(c.DateOffset).UTC().Format(http.TimeFormat))
	}
	w.WriteHeader(status)
	msg := map[string]any{"status": status}
	if !d.Valid {
		msg["message"] = "invalid signature"
	}
	_ = json.NewEncoder(w).Encode(msg)
}

func validWord(ok bool) string {
	if ok {
		return "valid"
	}
	return "INVALID"
}

// SetSecret changes the API secret, as a regeneration in the portal would.
func (c *Core) SetSecret(secret string) {
	c.mu.Lock()
	c.APISecret = secret
	c.mu.Unlock()
}

// Received returns every request so far.
func (c *Core) Received() []Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Delivery{}, c.received...)
}

// Accepted returns the validly signed requests the core answered with a
// 2xx or 409, that is the deliveries fluxrelay counts as done.
func (c *Core) Accepted() []Delivery {
	var out []Delivery
	for _, d := range c.Received() {
		if accepted(d) {
			out = append(out, d)
		}
	}
	return out
}

// AcceptedCount is len(Accepted()) without the copy, for benchmarks that
// poll it.
func (c *Core) AcceptedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.accepted
}

func accepted(d Delivery) bool {
	return d.Valid && (d.Answered/100 == 2 || d.Answered == http.StatusConflict)
}

// WaitFor waits until cond holds for what was received, or the timeout.
func (c *Core) WaitFor(timeout time.Duration, cond func([]Delivery) bool) bool {
	c.mu.Lock()
	if c.arrived == nil {
		c.arrived = make(chan struct{}, 1)
	}
	ch := c.arrived
	c.mu.Unlock()
	deadline := time.After(timeout)
	for {
		if cond(c.Received()) {
			return true
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			return cond(c.Received())
		}
	}
}
