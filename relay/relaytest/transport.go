package relaytest

import (
	"errors"
	"net/http"
	"net/http/httptest"
)

// ErrNoAnswer is what Transport returns for a request that Down says gets
// no answer, as a network error would.
var ErrNoAnswer = errors.New("connection refused (relaytest: the core is down)")

// Transport serves requests to h in-process, without a socket, so that a
// relay can be tested under testing/synctest: every wait is then on the
// bubble's clock. While down (when set) returns true, requests get no
// answer at all.
func Transport(h http.Handler, down func() bool) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if down != nil && down() {
			return nil, ErrNoAnswer
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		resp := rec.Result()
		resp.Request = req
		return resp, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
