package remotewrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// verdict is what an answer means for the snapshots it carried.
type verdict int

const (
	// accepted: the receiver has them.
	accepted verdict = iota
	// refused: the receiver will never take them (400 and the other 4xx
	// that are about the request): they are dropped.
	refused
	// retry: try again later, with the same snapshots. The receiver
	// could not be reached, failed (5xx), asked to slow down (429), or
	// wants the endpoint itself fixed (401, 403, 404): none of that is the
	// snapshots' fault.
	retry
)

// answer is what one request came to.
type answer struct {
	verdict verdict
	words   string    // what went wrong, for status and the log
	date    time.Time // the receiver's Date header; zero when none
	at      time.Time // this clock when the answer came
}

// post sends one remote-write request.
func (w *worker) post(ctx context.Context, body []byte) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.ep.URL, bytes.NewReader(body))
	if err != nil {
		return answer{verdict: retry, words: "the url cannot be used; check it in [[remote_write]]", at: w.p.opts.Now()}
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	if w.p.opts.UserAgent != "" {
		req.Header.Set("User-Agent", w.p.opts.UserAgent)
	}
	switch {
	case w.ep.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+w.ep.BearerToken)
	case w.ep.Username != "":
		req.SetBasicAuth(w.ep.Username, w.ep.Password)
	}
	resp, err := w.p.opts.Client.Do(req)
	if err != nil {
		return answer{verdict: retry, words: "cannot reach the receiver (" + withoutURL(err) + "); snapshots are kept and sent when it is back", at: w.p.opts.Now()}
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so that the connection is reused
	a := answer{at: w.p.opts.Now()}
	a.date, _ = http.ParseTime(resp.Header.Get("Date"))
	a.verdict, a.words = judge(resp.StatusCode, oneLine(excerpt))
	return a
}

// judge classifies a receiver's answer and says it in words.
func judge(code int, body string) (verdict, string) {
	said := fmt.Sprintf("the receiver answered %d", code)
	if body != "" {
		said += ": " + body
	}
	switch {
	case code/100 == 2:
		return accepted, ""
	case code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusProxyAuthRequired:
		return retry, said + "; check bearer_token, or username and password, in [[remote_write]]"
	case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
		return retry, said + "; check the url in [[remote_write]] (a Prometheus needs --web.enable-remote-write-receiver and the path /api/v1/write)"
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code/100 == 5:
		return retry, said + "; snapshots are kept and sent again"
	case code/100 == 4:
		return refused, said
	default:
		return retry, said
	}
}

// withoutURL keeps the URL, a secret, out of an error: the cause inside
// the *url.Error the client returns.
func withoutURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// oneLine makes a receiver's answer fit one line of status.
func oneLine(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(b), "?"))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
