package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/fluxrelay/fluxrelay/notification"
)

// kind is how one delivery attempt ended.
type kind int

const (
	delivered   kind = iota // 2xx or 409
	retry                   // 408, 425, 429, 5xx: try this one again later
	unreachable             // no answer at all: network error or timeout
	pause                   // 401, 403, 404, 410, 3xx: the webhook itself needs a person
	reject                  // any other 4xx: this notification is refused
	// unsendable: no request can ever be made of it (no amount, a header
	// value or a URL Go refuses): a dead letter at once, and nothing said
	// of the webhook.
	unsendable
)

// result is one attempt's outcome.
type result struct {
	kind       kind
	skew       *time.Duration // this clock minus the server's, from its Date header
	status     int
	retryAfter time.Duration
	body       string // the start of the answer, for dead letters and logs
	err        error
	took       time.Duration // how long the request took
}

// describe says what happened in words, for status and dead letters.
func (r result) describe() string {
	if r.kind == unsendable {
		return r.err.Error()
	}
	if r.err != nil {
		return "no answer from Fluxvend: " + r.err.Error()
	}
	s := fmt.Sprintf("Fluxvend answered %d", r.status)
	if r.body != "" {
		s += ": " + r.body
	}
	return s
}

// classify sorts an answer by the delivery rules (docs/design.md).
func classify(status int) kind {
	switch {
	case status >= 200 && status < 300, status == http.StatusConflict:
		return delivered
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly, status == http.StatusTooManyRequests, status >= 500:
		return retry
	case status == http.StatusUnauthorized, status == http.StatusForbidden, status == http.StatusNotFound, status == http.StatusGone,
		status >= 300 && status < 400:
		return pause
	default:
		return reject
	}
}

// answerBytes is how much of an answer is kept, for dead letters and logs.
const answerBytes = 300

// newClient returns the client that makes every attempt: one request each
// (RetryMax 0). The relay owns the retries, so that every request is an
// attempt on the notification's trail, in the metrics and in its target's
// gate, and the store's schedule says when the next one goes
// (docs/design.md).
func newClient(timeout time.Duration, concurrency int, rt http.RoundTripper) *retryablehttp.Client {
	if rt == nil {
		tr := cleanhttp.DefaultPooledTransport()
		tr.MaxIdleConnsPerHost = concurrency
		rt = tr
	}
	c := retryablehttp.NewClient()
	c.HTTPClient = &http.Client{
		Transport: rt,
		Timeout:   timeout,
		// A redirect means the URL is wrong; following it would turn the
		// POST into a GET.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c.Logger = nil
	c.RetryMax = 0
	c.CheckRetry = func(context.Context, *http.Response, error) (bool, error) { return false, nil }
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	return c
}

// retryAfter reads a Retry-After header (seconds or an HTTP date).
func retryAfter(resp *http.Response, now time.Time) time.Duration {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// send posts one notification to its target and classifies the answer.
// The body is rendered and signed here, at send time, so a rotated secret
// applies to everything still queued.
func (r *Relay) send(ctx context.Context, client *retryablehttp.Client, rec *notification.Record, t Target) result {
	req, err := r.request(ctx, rec, t)
	if err != nil {
		return result{kind: unsendable, err: err}
	}
	start := r.opts.Now()
	resp, err := client.Do(req)
	took := r.opts.Now().Sub(start)
	if resp == nil {
		if err == nil {
			err = errors.New("no response")
		}
		return result{kind: unreachable, err: cleanErr(err), took: took}
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, answerBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	var skew *time.Duration
	if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		d := r.opts.Now().Sub(t)
		skew = &d
	}
	return result{
		skew:       skew,
		kind:       classify(resp.StatusCode),
		status:     resp.StatusCode,
		retryAfter: retryAfter(resp, r.opts.Now()),
		body:       strings.TrimSpace(string(bytes.ToValidUTF8(head, []byte("?")))),
		took:       took,
	}
}

// cleanErr says why a request got no answer, without the webhook's URL
// (which carries the tenant): the cause inside the *url.Error that the
// client returns (retryablehttp passes it through unchanged).
func cleanErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return errors.New("timed out (core.timeout)")
	}
	return errors.New(err.Error())
}
