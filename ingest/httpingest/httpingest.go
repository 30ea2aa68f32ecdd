// Package httpingest is the HTTP listener for notifications:
// POST /notify/{source} with the provider's raw body and headers.
package httpingest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/provider"
)

// Handler serves POST /notify/{source}.
type Handler struct {
	intake  *ingest.Intake
	maxBody int64
	now     func() time.Time
	trusted atomic.Pointer[[]netip.Prefix]
	mux     *http.ServeMux
}

// New returns a Handler that takes bodies up to maxBody bytes.
func New(intake *ingest.Intake, maxBody int64, now func() time.Time) *Handler {
	h := &Handler{intake: intake, maxBody: maxBody, now: now, mux: http.NewServeMux()}
	h.SetTrustedProxies(nil)
	h.mux.HandleFunc("/notify/{source}", h.notify)
	h.mux.HandleFunc("/notify/{source}/{$}", h.notify) // Vesicash's dashboard tells merchants to add a slash
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found: notifications go to POST /notify/{source}")
	})
	return h
}

// SetTrustedProxies replaces the proxies whose X-Forwarded-For is believed.
func (h *Handler) SetTrustedProxies(p []netip.Prefix) { h.trusted.Store(&p) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) notify(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "use POST to send a notification")
		return
	}
	peer, err := h.peer(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	name := r.PathValue("source")
	if h.intake.Source(name) == nil {
		// answer before reading a body nobody wants
		writeAnswer(w, h.intake.Accept(r.Context(), name, nil, ingest.Meta{Peer: peer}))
		return
	}
	limits := h.intake.Limits()
	limits.MaxBody = min(h.maxBody, limits.MaxBody)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limits.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeAnswer(w, h.intake.RefuseErr(name, ingest.Meta{Peer: peer}, limits.TooLarge()))
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body failed: "+err.Error())
		return
	}
	req := &provider.Request{Body: body, Header: r.Header, Received: h.now()}
	writeAnswer(w, h.intake.Accept(r.Context(), name, req, ingest.Meta{Peer: peer}))
}

// peer is the TCP peer, or, when the peer is a trusted proxy, the last
// address in X-Forwarded-For that is not itself a trusted proxy.
func (h *Handler) peer(r *http.Request) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, nil // not TCP (a test or a unix socket): no address to check
	}
	addr := ap.Addr().Unmap()
	trusted := *h.trusted.Load()
	if !contains(trusted, addr) {
		return addr, nil
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}, errors.New("X-Forwarded-For from the trusted proxy holds " + strconv.Quote(strings.TrimSpace(hops[i])) + ", not an address")
		}
		addr = hop.Unmap()
		if !contains(trusted, addr) {
			break
		}
	}
	return addr, nil
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// statusFor is the HTTP answer to each outcome of the intake.
var statusFor = map[ingest.Outcome]int{
	ingest.Queued: http.StatusOK, ingest.Duplicate: http.StatusOK, ingest.Ignored: http.StatusOK, ingest.Held: http.StatusOK,
	ingest.NoSource: http.StatusNotFound, ingest.NotAllowed: http.StatusForbidden, ingest.NotGenuine: http.StatusUnauthorized,
	ingest.BadInput: http.StatusBadRequest, ingest.Conflict: http.StatusConflict, ingest.Unavailable: http.StatusServiceUnavailable,
	ingest.TooLarge: http.StatusRequestEntityTooLarge,
}

// writeAnswer answers the intake's outcome in HTTP's terms.
func writeAnswer(w http.ResponseWriter, a ingest.Answer) {
	code, ok := statusFor[a.Outcome]
	if !ok {
		code = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	if a.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(a.RetryAfter))
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(a)
}

// writeError answers a request that never reached the intake.
func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(ingest.Answer{Error: msg})
}
