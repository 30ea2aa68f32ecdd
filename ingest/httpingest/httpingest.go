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
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAnswer(w, ingest.Answer{Code: http.StatusNotFound, Error: "not found: notifications go to POST /notify/{source}"})
	})
	return h
}

// SetTrustedProxies replaces the proxies whose X-Forwarded-For is believed.
func (h *Handler) SetTrustedProxies(p []netip.Prefix) { h.trusted.Store(&p) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) notify(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeAnswer(w, ingest.Answer{Code: http.StatusMethodNotAllowed, Error: "use POST to send a notification"})
		return
	}
	peer, err := h.peer(r)
	if err != nil {
		writeAnswer(w, ingest.Answer{Code: http.StatusBadRequest, Error: err.Error()})
		return
	}
	name := r.PathValue("source")
	if h.intake.Source(name) == nil {
		// answer before reading a body nobody wants
		writeAnswer(w, h.intake.Accept(r.Context(), name, nil, ingest.Meta{Peer: peer}))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeAnswer(w, ingest.Answer{Code: http.StatusRequestEntityTooLarge, Error: "the body is larger than http.max_body (" + strconv.FormatInt(h.maxBody, 10) + " bytes)"})
			return
		}
		writeAnswer(w, ingest.Answer{Code: http.StatusBadRequest, Error: "reading the body failed: " + err.Error()})
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

func writeAnswer(w http.ResponseWriter, a ingest.Answer) {
	w.Header().Set("Content-Type", "application/json")
	if a.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(a.RetryAfter))
	}
	w.WriteHeader(a.Code)
	_ = json.NewEncoder(w).Encode(a)
}
