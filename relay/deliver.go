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
)

// result is one attempt's outcome.
type result struct {
	kind       kind
	skew       *time.Duration // this clock minus the server's, from its Date header
	status     int
	retryAfter time.Duration
	body       string // the start of the answer, for dead letters and logs
	err        error
	took       time.Duration // how long the attempt (its burst included) took
}

// describe says what happened in words, for status and dead letters.
func (r result) describe() string {
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

// inProcess bounds the short burst of retries inside one attempt; the long
// horizon lives in the store's schedule.
const (
	burstRetries = 2
	burstWaitMin = 500 * time.Millisecond
	burstWaitMax = 5 * time.Second
	answerBytes  = 300
)

func newClient(timeout time.Duration, concurrency int, burstWait time.Duration, rt http.RoundTripper) *retryablehttp.Client {
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
	c.RetryMax = burstRetries
	c.RetryWaitMin, c.RetryWaitMax = burstWaitMin, burstWaitMax
	if burstWait > 0 {
		c.RetryWaitMin, c.RetryWaitMax = burstWait, burstWait
	}
	c.CheckRetry = checkRetry
	// retryablehttp follows Retry-After without a cap (its issue #247):
	// cap every wait at the burst maximum.
	c.Backoff = func(lo, hi time.Duration, n int, resp *http.Response) time.Duration {
		return min(retryablehttp.DefaultBackoff(lo, hi, n, resp), hi)
	}
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	return c
}

// checkRetry retries network errors and retryable answers within the
// burst, but not an answer that asks for a longer wait than the burst
// allows: that one goes back to the store's schedule.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	if classify(resp.StatusCode) != retry || resp.StatusCode == http.StatusNotImplemented {
		return false, nil
	}
	return retryAfter(resp, time.Now()) <= burstWaitMax, nil
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
	var body []byte
	if t.Raw {
		body = rec.Raw
	} else {
		p := *rec.Payload
		if p.TenantID == "" {
			p.TenantID = t.Tenant
		}
		body = p.Render()
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, t.URL, body)
	if err != nil {
		return result{kind: pause, err: fmt.Errorf("the webhook URL cannot be used: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	if t.Raw {
		copyProviderHeaders(req.Header, rec.Headers)
	} else {
		req.Header.Set("Signature", notification.Sign(t.SigningKey, body))
		req.Header.Set("User-Agent", "fluxrelay/"+r.opts.Version)
	}
	req.Header.Set("Idempotency-Key", rec.ID)
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

// hopHeaders are not the provider's to pass on.
var hopHeaders = map[string]bool{"Host": true, "Content-Length": true, "Connection": true, "Transfer-Encoding": true,
	"Accept-Encoding": true, "X-Forwarded-For": true, "X-Forwarded-Proto": true, "X-Forwarded-Host": true,
	"X-Real-Ip": true, "Keep-Alive": true, "Te": true, "Trailer": true, "Upgrade": true, "Proxy-Connection": true}

// copyProviderHeaders puts the provider's own headers (its signature ones
// among them) on a raw forward. Headers stored redacted cannot be.
func copyProviderHeaders(dst http.Header, hs []notification.Header) {
	for _, h := range hs {
		name := http.CanonicalHeaderKey(h.Name)
		if hopHeaders[name] || h.Value == notification.Redacted {
			continue
		}
		if name == "Content-Type" {
			dst.Set(name, h.Value)
			continue
		}
		dst.Add(name, h.Value)
	}
}
