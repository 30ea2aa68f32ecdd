package admin

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/fluxrelay/fluxrelay/notification"
)

// backend is a Backend with one dead letter; it counts replays.
type backend struct {
	Backend
	replays int
}

func (b *backend) Find(prefix string) (*notification.Record, error) {
	return &notification.Record{ID: "abc123", Source: "till", Delivery: notification.Delivery{State: notification.Dead},
		Headers: []notification.Header{{Name: "Mor-Signature", Value: "constant-secret"}, {Name: "Monnify-Signature", Value: "ab12"}}}, nil
}

func (b *backend) Replay(_ context.Context, id string) (Replayed, error) {
	b.replays++
	return Replayed{Status: "replayed", ID: id}, nil
}

// serve runs the handler on a loopback listener, as the daemon does, so
// that the request's local address is real.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func send(t *testing.T, method, url, host string, header http.Header) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader("{}"))
	for k, v := range header {
		req.Header[k] = v
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAdminRefusesWhatAWebPageCouldSend: on admin.listen, a change needs
// the token and a JSON content type; a Host that is not this machine (DNS
// rebinding) is refused; Authorization must be Bearer; with no token set,
// changes are refused there (the CLI uses the socket). On the socket a
// change needs a JSON content type only.
func TestAdminRefusesWhatAWebPageCouldSend(t *testing.T) {
	json := http.Header{"Content-Type": {"application/json"}}
	bearer := func(tok string) http.Header {
		return http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + tok}}
	}
	hostname, _ := os.Hostname()
	for _, c := range []struct {
		name, token, method, path, host string
		header                          http.Header
		code                            int
	}{
		{"a cross-site text/plain replay, no token configured", "", "POST", "/api/dead-letters/abc/replay", "", http.Header{"Content-Type": {"text/plain"}}, 403},
		{"a JSON replay, no token configured", "", "POST", "/api/dead-letters/abc/replay", "", json, 403},
		{"reading status, no token configured", "", "GET", "/healthz", "", nil, 200},
		{"DNS rebinding", "", "GET", "/healthz", "evil.example:8089", nil, 403},
		{"DNS rebinding with the token", "tok", "POST", "/api/dead-letters/abc/replay", "evil.example", bearer("tok"), 403},
		{"localhost by name", "", "GET", "/healthz", "localhost:8089", nil, 200},
		{"the machine's host name", "", "GET", "/healthz", hostname, nil, 200},
		{"another loopback address", "", "GET", "/healthz", "127.0.0.2:1", nil, 200},
		{"an address that is not this one", "", "GET", "/healthz", "192.0.2.7:8089", nil, 403},
		{"the token without Bearer", "tok", "POST", "/api/dead-letters/abc/replay", "", http.Header{"Content-Type": {"application/json"}, "Authorization": {"tok"}}, 401},
		{"Basic auth", "tok", "GET", "/healthz", "", http.Header{"Authorization": {"Basic dG9rOg=="}}, 401},
		{"a wrong token", "tok", "POST", "/api/dead-letters/abc/replay", "", bearer("nope"), 401},
		{"the token but text/plain", "tok", "POST", "/api/dead-letters/abc/replay", "", http.Header{"Content-Type": {"text/plain"}, "Authorization": {"Bearer tok"}}, 415},
		{"the token and JSON", "tok", "POST", "/api/dead-letters/abc/replay", "", bearer("tok"), 200},
		{"JSON with a charset", "tok", "POST", "/api/dead-letters/abc/replay", "", http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Authorization": {"Bearer tok"}}, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := &backend{}
			url := serve(t, Handler(b, func() string { return c.token }, nil))
			if got := send(t, c.method, url+c.path, c.host, c.header); got != c.code {
				t.Errorf("%d; want %d", got, c.code)
			}
			if want := map[bool]int{true: 1, false: 0}[c.code == 200 && c.method == "POST"]; b.replays != want {
				t.Errorf("%d replays; want %d", b.replays, want)
			}
		})
	}
	sock := &backend{}
	url := serve(t, Handler(sock, nil, nil))
	if got := send(t, "POST", url+"/api/dead-letters/abc/replay", "fluxrelay", json); got != 200 || sock.replays != 1 {
		t.Errorf("on the socket, JSON: %d, %d replays", got, sock.replays)
	}
	if got := send(t, "POST", url+"/api/dead-letters/abc/replay", "fluxrelay", http.Header{"Content-Type": {"text/plain"}}); got != 415 || sock.replays != 1 {
		t.Errorf("on the socket, text/plain: %d, %d replays", got, sock.replays)
	}
}

// TestDeadLetterShowRedactsCredentials: dlq show never prints a credential
// header, even one an earlier release stored in clear.
func TestDeadLetterShowRedactsCredentials(t *testing.T) {
	url := serve(t, Handler(&backend{}, nil, nil))
	resp, err := http.Get(url + "/api/dead-letters/abc")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(body), "constant-secret") || !strings.Contains(string(body), "ab12") {
		t.Errorf("dlq show: %s", body)
	}
}
