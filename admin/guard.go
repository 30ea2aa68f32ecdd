package admin

import (
	"crypto/subtle"
	"errors"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/fluxrelay/fluxrelay/notification"
)

// refuse says why a request to the admin API is refused, or nothing. On
// the socket (token nil: its file mode and group guard it) a request that
// changes something needs a JSON content type. On admin.listen moreover:
//   - the Host must be this machine (localhost, a loopback address, the
//     address the request came in on, or the host name), so that a web
//     page on another name cannot reach the API through DNS rebinding;
//   - Authorization, when given, is "Bearer TOKEN";
//   - with admin.token set, everything but /healthz needs it;
//   - a change needs it in any case: with no token a change is refused
//     there (the CLI uses the socket).
//
// A browser cannot send a cross-site request with a JSON content type
// without asking first, and the API never answers that question, so a
// web page can change nothing.
func refuse(r *http.Request, token func() string) (int, error) {
	change := r.Method != http.MethodGet && r.Method != http.MethodHead && strings.HasPrefix(r.URL.Path, "/api/")
	if token != nil {
		if !localHost(r) {
			return http.StatusForbidden, errors.New("the admin API answers only requests for this machine: use http://127.0.0.1:PORT, the gateway's address or its host name, not " + strconv.QuoteToASCII(quote(r.Host)))
		}
		auth := r.Header.Get("Authorization")
		got, bearer := strings.CutPrefix(auth, "Bearer ")
		want := token()
		switch {
		case auth != "" && !bearer:
			return http.StatusUnauthorized, errors.New("the admin API takes Authorization: Bearer <admin.token>, nothing else")
		case want != "" && r.URL.Path != "/healthz" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1:
			return http.StatusUnauthorized, errors.New("the admin API needs Authorization: Bearer <admin.token>")
		case change && want == "":
			return http.StatusForbidden, errors.New(noTokenForChanges)
		}
	}
	if change {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			return http.StatusUnsupportedMediaType, errors.New("a request that changes something must be sent as Content-Type: application/json")
		}
	}
	return 0, nil
}

// noTokenForChanges is the answer to a change through admin.listen while
// admin.token is empty: where there is an admin socket (Linux) the command
// can use it instead; elsewhere the token is the only way.
var noTokenForChanges = func() string {
	if runtime.GOOS == "linux" {
		return "changes through admin.listen need admin.token: set it in the config and reload, or run the command on the gateway with sudo so that it uses the admin socket"
	}
	return "changes through admin.listen need admin.token: set token = \"a long random string\" under [admin] in the config (fluxrelay service install writes one), then reload, and run the command from an elevated prompt"
}()

// localHost says whether a request names this machine in its Host.
func localHost(r *http.Request) bool {
	if r.Host == "" {
		return true // HTTP/1.0 without a Host: no browser sends that
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.IsLoopback() {
			return true
		}
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if local != nil {
			if ap, err := netip.ParseAddrPort(local.String()); err == nil && ap.Addr().Unmap() == ip.Unmap() {
				return true
			}
		}
		return false
	}
	name, err := os.Hostname()
	return err == nil && (strings.EqualFold(host, name) || strings.EqualFold(host, name+".local"))
}

// redacted shows headers with every credential replaced, records stored
// by earlier releases (which kept some in clear) included.
func redacted(hs []notification.Header) []notification.Header {
	out := make([]notification.Header, len(hs))
	for i, h := range hs {
		if notification.CredentialHeader(h.Name) {
			h.Value = notification.Redacted
		}
		out[i] = h
	}
	return out
}
