// Package admin is fluxrelay's admin surface: health and readiness, the
// status API, dead letters, Prometheus metrics, and a status page a shop
// attendant can read at a glance. It serves what a Backend tells it.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fluxrelay/fluxrelay/notification"
)

// Backend is what the admin surface needs from the daemon.
type Backend interface {
	Status() Status
	Ready() bool
	DeadLetters() ([]*notification.Record, error)
	// Find returns the one notification whose id starts with prefix.
	Find(prefix string) (*notification.Record, error)
	// Replay puts a dead letter back in the queue, due now; a held one is
	// mapped again by its source's provider first.
	Replay(ctx context.Context, id string) (Replayed, error)
	// Drop deletes a dead letter.
	Drop(ctx context.Context, id string) error
	// FindRef returns the notifications whose transactionRef or paymentRef
	// is ref, or whose id starts with it.
	FindRef(ref string) ([]*notification.Record, error)
	// Report counts the sales received from the day from to the day to
	// (2006-01-02, in the gateway's zone; empty: today).
	Report(from, to string) (Report, error)
	// Today is today's report, for the status page, which has st.
	Today(st Status) ReportDay
	// ReplayWindow queues again the dead letters (and, asked, the delivered
	// notifications) received in a window; with DryRun it only counts them.
	ReplayWindow(ctx context.Context, w ReplayWindow) (ReplayResult, error)
	// Reload re-reads the config file, as SIGHUP does (`fluxrelay reload`,
	// the way on Windows), and says what came of it.
	Reload() ReloadResult
}

// ReplayWindow is what `fluxrelay replay` asks for. Times are RFC 3339, or
// "2006-01-02" or "2006-01-02 15:04" in the gateway's time zone.
type ReplayWindow struct {
	Since     string `json:"since"`
	Until     string `json:"until,omitempty"` // empty: now
	Source    string `json:"source,omitempty"`
	Delivered bool   `json:"delivered,omitempty"`
	DryRun    bool   `json:"dry_run,omitempty"`
}

// ReplayResult says what a replay found, and did.
type ReplayResult struct {
	Since       time.Time `json:"since"`
	Until       time.Time `json:"until"`
	DeadLetters int       `json:"dead_letters"`
	Delivered   int       `json:"delivered"`
	// Held are dead letters that cannot be sent as they are (no amount):
	// left for a person.
	Held     int `json:"held"`
	Replayed int `json:"replayed"`
}

// Replayed is what a replay of one dead letter did.
type Replayed struct {
	Status string `json:"status"` // "replayed"
	ID     string `json:"id"`
	// Remapped is the id a held notification was queued as once its
	// source's provider mapped it again.
	Remapped string `json:"remapped,omitempty"`
	// Message says in words what happened.
	Message string `json:"message"`
}

// ErrBadDay is returned for a report day that cannot be read.
var ErrBadDay = errors.New("want days as 2026-03-14, --from no later than --to")

// ErrBadWindow is returned for a replay window that cannot be read.
var ErrBadWindow = errors.New("want --since (and --until) as 2026-03-14, 2026-03-14 09:30 or RFC 3339, --since before --until")

// ErrNotDead is returned when replay or drop names a notification that is
// not a dead letter.
var ErrNotDead = errors.New("that notification is not a dead letter")

// ErrCannotSend is returned when replay names a dead letter that was held
// because it cannot be sent as it is (no amount, or nothing mapped).
var ErrCannotSend = errors.New("that notification was held because it cannot be sent to Fluxvend as it is (see its reason); record the payment in Fluxvend by hand, then drop it")

// ErrAmbiguous is returned by Find for a prefix matching several ids.
var ErrAmbiguous = errors.New("that id prefix matches more than one notification; give more of it")

// Handler serves the whole admin API: on admin.listen with token (read at
// each request, so a reload applies a new one at once), on the socket with
// token nil. What each needs is in refuse.
func Handler(b Backend, token func() string, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		st := b.Status()
		code := http.StatusOK
		if !b.Ready() {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]any{"ready": code == http.StatusOK, "listeners": st.Listeners, "core_reachable": st.CoreReachable})
	})
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, b.Status()) })
	mux.HandleFunc("GET /api/dead-letters", func(w http.ResponseWriter, r *http.Request) {
		dead, err := b.DeadLetters()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		out := make([]DeadLetter, 0, len(dead))
		for _, d := range dead {
			out = append(out, summary(d))
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/dead-letters/{id}", func(w http.ResponseWriter, r *http.Request) {
		rec, ok := find(w, b, r.PathValue("id"))
		if ok {
			writeJSON(w, http.StatusOK, detail(rec))
		}
	})
	mux.HandleFunc("POST /api/replay", func(w http.ResponseWriter, r *http.Request) {
		var win ReplayWindow
		if err := json.NewDecoder(r.Body).Decode(&win); err != nil {
			writeError(w, http.StatusBadRequest, errors.New("want a JSON body {since, until, source, delivered, dry_run}"))
			return
		}
		res, err := b.ReplayWindow(r.Context(), win)
		switch {
		case errors.Is(err, ErrBadWindow):
			writeError(w, http.StatusBadRequest, err)
		case err != nil:
			writeError(w, http.StatusInternalServerError, err)
		default:
			writeJSON(w, http.StatusOK, res)
		}
	})
	mux.HandleFunc("POST /api/reload", func(w http.ResponseWriter, r *http.Request) {
		res := b.Reload()
		code := http.StatusOK
		if !res.OK {
			code = http.StatusUnprocessableEntity // the file is not valid: the running config stays
		}
		writeJSON(w, code, res)
	})
	mux.HandleFunc("GET /api/report", func(w http.ResponseWriter, r *http.Request) {
		rep, err := b.Report(r.URL.Query().Get("from"), r.URL.Query().Get("to"))
		switch {
		case errors.Is(err, ErrBadDay):
			writeError(w, http.StatusBadRequest, err)
		case err != nil:
			writeError(w, http.StatusInternalServerError, err)
		default:
			writeJSON(w, http.StatusOK, rep)
		}
	})
	mux.HandleFunc("GET /api/find", func(w http.ResponseWriter, r *http.Request) {
		ref := strings.TrimSpace(r.URL.Query().Get("ref"))
		if ref == "" {
			writeError(w, http.StatusBadRequest, errors.New("give the reference to look for: /api/find?ref=…"))
			return
		}
		recs, err := b.FindRef(ref)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		loc := b.Status().Location
		out := make([]Trail, 0, len(recs))
		for _, rec := range recs {
			out = append(out, trail(rec, loc))
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /api/dead-letters/{id}/replay", func(w http.ResponseWriter, r *http.Request) {
		var res Replayed
		act(w, r, b, func(ctx context.Context, id string) (any, error) {
			var err error
			res, err = b.Replay(ctx, id)
			return res, err
		})
	})
	mux.HandleFunc("DELETE /api/dead-letters/{id}", func(w http.ResponseWriter, r *http.Request) {
		act(w, r, b, func(ctx context.Context, id string) (any, error) {
			return map[string]string{"status": "dropped", "id": id}, b.Drop(ctx, id)
		})
	})
	if reg != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	}
	mux.Handle("GET /{$}", pageHandler(b))
	mux.Handle("POST /{$}", pinHandler(b))
	mux.Handle("GET /details", detailsHandler(b))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code, err := refuse(r, token); err != nil {
			writeError(w, code, err)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// PageHandler serves only the status page and /healthz: read-only, no
// customer data, no token — for the shop's phone (admin.page_listen).
func PageHandler(b Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.Handle("GET /{$}", pageHandler(b))
	mux.Handle("POST /{$}", pinHandler(b))
	return mux
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
}

func find(w http.ResponseWriter, b Backend, prefix string) (*notification.Record, bool) {
	rec, err := b.Find(prefix)
	switch {
	case errors.Is(err, notification.ErrNotFound):
		writeError(w, http.StatusNotFound, errors.New("no notification has an id starting with "+quote(prefix)))
	case errors.Is(err, ErrAmbiguous):
		writeError(w, http.StatusConflict, err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		return rec, true
	}
	return nil, false
}

func act(w http.ResponseWriter, r *http.Request, b Backend, fn func(context.Context, string) (any, error)) {
	rec, ok := find(w, b, r.PathValue("id"))
	if !ok {
		return
	}
	if rec.State != notification.Dead {
		writeError(w, http.StatusConflict, errors.New("notification "+rec.ID+" is "+string(rec.State)+", not a dead letter"))
		return
	}
	out, err := fn(r.Context(), rec.ID)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrCannotSend) {
			code = http.StatusConflict
		}
		writeError(w, code, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// DeadLetter is one line of `fluxrelay dlq list`.
type DeadLetter struct {
	ID             string    `json:"id"`
	Source         string    `json:"source"`
	Provider       string    `json:"provider"`
	TransactionRef string    `json:"transaction_ref"`
	ReceivedAt     time.Time `json:"received_at"`
	DeadAt         time.Time `json:"dead_at"`
	Reason         string    `json:"reason"`
	LastStatus     int       `json:"last_status,omitempty"`
	Attempts       int       `json:"attempts"`
}

// DeadLetterDetail is what `fluxrelay dlq show` prints.
type DeadLetterDetail struct {
	DeadLetter
	State       string                `json:"state"`
	Peer        string                `json:"peer,omitempty"`
	Terminal    string                `json:"terminal,omitempty"`
	Headers     []notification.Header `json:"headers"`
	RawBody     string                `json:"raw_body"`
	CorePayload json.RawMessage       `json:"core_payload,omitempty"`
	LastAnswer  string                `json:"last_answer,omitempty"`
}

func summary(r *notification.Record) DeadLetter {
	return DeadLetter{ID: r.ID, Source: r.Source, Provider: r.Provider, TransactionRef: r.TransactionRef(),
		ReceivedAt: r.ReceivedAt.UTC(), DeadAt: r.DeadAt.UTC(), Reason: r.Reason, LastStatus: r.LastStatus, Attempts: r.Attempts}
}

func detail(r *notification.Record) DeadLetterDetail {
	d := DeadLetterDetail{DeadLetter: summary(r), State: string(r.State), Peer: r.Peer, Terminal: r.Terminal,
		Headers: redacted(r.Headers), RawBody: string(r.Raw), LastAnswer: r.LastError}
	if r.Payload != nil {
		d.CorePayload = r.Payload.Render()
	}
	return d
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return `"` + s + `"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// Trail is what `fluxrelay find` prints of one notification: where it came
// from, how it was checked, every attempt to deliver it and where it is now.
type Trail struct {
	ID             string `json:"id"`
	Source         string `json:"source"`
	Provider       string `json:"provider"`
	TransactionRef string `json:"transaction_ref"`
	PaymentRef     string `json:"payment_ref,omitempty"`
	// Refs are the provider's references of a held notification.
	Refs          []string `json:"refs,omitempty"`
	PaymentMethod string   `json:"payment_method,omitempty"`
	Amount        string   `json:"amount,omitempty"`
	// Where is where it is now: waiting, delivered, held, dead letter or
	// ignored.
	Where           string                 `json:"where"`
	Reason          string                 `json:"reason,omitempty"`
	Peer            string                 `json:"peer,omitempty"`
	Terminal        string                 `json:"terminal,omitempty"`
	Verified        string                 `json:"verified,omitempty"`
	ReceivedAt      time.Time              `json:"received_at"`
	StoredAt        time.Time              `json:"stored_at,omitzero"`
	NextAttempt     time.Time              `json:"next_attempt,omitzero"`
	DeliveredAt     time.Time              `json:"delivered_at,omitzero"`
	DeadAt          time.Time              `json:"dead_at,omitzero"`
	Attempts        []notification.Attempt `json:"attempts"`
	AttemptsLeftOut int                    `json:"attempts_left_out,omitempty"`
	// Timezone is the gateway's zone, in which the CLI prints the times.
	Timezone string `json:"timezone"`
}

func trail(r *notification.Record, loc *time.Location) Trail {
	t := Trail{ID: r.ID, Source: r.Source, Provider: r.Provider, TransactionRef: r.TransactionRef(), Reason: r.Reason,
		Peer: r.Peer, Terminal: r.Terminal, Verified: r.Verified, ReceivedAt: r.ReceivedAt, StoredAt: r.StoredAt, Refs: r.Refs,
		DeliveredAt: r.DeliveredAt, DeadAt: r.DeadAt, Attempts: r.Trail, AttemptsLeftOut: r.TrailLeftOut}
	if t.Attempts == nil {
		t.Attempts = []notification.Attempt{}
	}
	if loc != nil {
		t.Timezone = loc.String()
	}
	if p := r.Payload; p != nil {
		t.PaymentRef, t.PaymentMethod = p.PaymentRef, p.PaymentMethod
		if p.Amount > 0 {
			t.Amount = p.Amount.String()
		}
	}
	switch r.State {
	case notification.Pending:
		t.Where, t.NextAttempt = "waiting", r.NextAttempt
	case notification.Delivered:
		t.Where = "delivered"
	case notification.Ignored:
		t.Where = "ignored"
	case notification.Dead:
		t.Where = "dead letter"
		if r.Held() {
			t.Where = "held" // never mapped: it waits for a person since it arrived
		}
	}
	return t
}
