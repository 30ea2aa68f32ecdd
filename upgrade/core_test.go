package upgrade

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fluxrelay/fluxrelay/relay/relaytest"
)

const (
	coreKey    = "upgrade-key"
	coreSecret = "upgrade-secret-0001"
	tenant     = "acme"
)

// core is the fake Fluxvend core: relaytest.Core verifies every
// signature and records each delivery; it answers 422 to the sales meant
// to be dead letters, and 503 to everything while it is down.
type core struct {
	*relaytest.Core
	url  string
	down atomic.Bool
}

func newCore(t *testing.T) *core {
	c := &core{}
	c.Core = &relaytest.Core{APIKey: coreKey, APISecret: coreSecret, Answer: c.answer}
	srv := httptest.NewServer(c.Core)
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

func (c *core) answer(_ int, d relaytest.Delivery) int {
	if c.down.Load() {
		return http.StatusServiceUnavailable
	}
	if strings.HasPrefix(refOf(d.Body), deadPrefix) {
		return http.StatusUnprocessableEntity
	}
	return http.StatusOK
}

// refOf is a delivery's transactionRef.
func refOf(body []byte) string {
	var p struct {
		TransactionRef string `json:"transactionRef"`
	}
	_ = json.Unmarshal(body, &p)
	return p.TransactionRef
}

// byKey returns, for each Idempotency-Key, the validly signed deliveries
// the core accepted (2xx), and every answered one.
func (c *core) byKey() (accepted, answered map[string][]relaytest.Delivery) {
	accepted, answered = map[string][]relaytest.Delivery{}, map[string][]relaytest.Delivery{}
	for _, d := range c.Received() {
		if !d.Valid {
			continue
		}
		answered[d.IdempotencyKey] = append(answered[d.IdempotencyKey], d)
		if d.Answered/100 == 2 {
			accepted[d.IdempotencyKey] = append(accepted[d.IdempotencyKey], d)
		}
	}
	return accepted, answered
}

// invalid counts the deliveries whose signature did not verify.
func (c *core) invalid() int {
	n := 0
	for _, d := range c.Received() {
		if !d.Valid {
			n++
		}
	}
	return n
}
