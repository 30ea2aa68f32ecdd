// Package remotewrite pushes the daemon's metrics to Prometheus
// remote-write receivers (remote write 1.0: a snappy-compressed protobuf
// WriteRequest), so that gateways behind NAT or a 4G router are seen from
// one place. Every series carries gateway="<name>".
//
// Each endpoint has a goroutine that takes a snapshot of the registry every
// interval and one that sends: pushing never holds up ingest or delivery.
// While an endpoint cannot be reached its snapshots are kept in memory (a
// bounded number; the oldest go first when it is full) and sent oldest
// first when it is back. A snapshot the receiver refuses for good (a 4xx
// answer) is counted and dropped, never retried forever. A restart loses
// the snapshots not yet sent.
package remotewrite

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Endpoint is one [[remote_write]] table.
type Endpoint struct {
	URL         string // a secret: never logged or shown
	Interval    time.Duration
	BearerToken string // a secret
	Username    string
	Password    string // a secret
}

// Options configure a Pusher. Zero values take the defaults.
type Options struct {
	// Gatherer is the registry whose families are pushed (the one
	// /metrics serves, so that the two never disagree).
	Gatherer prometheus.Gatherer
	// Prefix, when set, pushes only the families whose name starts with it.
	Prefix string
	// Job is the job label every series carries (default "fluxrelay").
	Job string
	// UserAgent is sent with every request.
	UserAgent string
	Logger    *slog.Logger
	// Now is the clock samples are stamped with (default time.Now).
	Now func() time.Time
	// Client sends the requests (default: NewTransport, a 30 s timeout).
	Client *http.Client
	// Keep bounds the snapshots kept per endpoint while it cannot be
	// reached (default 720: 12 hours at the default interval).
	Keep int
	// Batch bounds the snapshots sent in one request (default 30).
	Batch int
	// MaxBackoff caps the wait between tries of an endpoint that fails
	// (default 5 minutes, or the interval when that is longer).
	MaxBackoff time.Duration
	// MaxAhead is how far this clock may be ahead of the receiver's before
	// pushing is held (default 5 minutes): samples from the future would
	// make the receiver refuse every other gateway's as too old.
	MaxAhead time.Duration
}

// Status is what status shows of one endpoint.
type Status struct {
	// Endpoint is the table's place in the file, from 1.
	Endpoint int `json:"endpoint"`
	// Host is the receiver's host (the URL is a secret; its host is not).
	Host string `json:"host"`
	// OK is true when the last push was accepted.
	OK bool `json:"ok"`
	// LastSuccess is when a push was last accepted.
	LastSuccess *time.Time `json:"last_success"`
	// LastError says, in words, why a push last failed or what the
	// receiver last refused, and LastErrorAt when; they stay after a
	// success (OK says whether pushing works now).
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// Waiting is the snapshots not yet sent.
	Waiting int `json:"waiting"`
	// Sent counts the snapshots accepted, Refused those the receiver
	// refused for good (4xx), Dropped those lost because the buffer was
	// full or the clock went back.
	Sent    int64 `json:"sent"`
	Refused int64 `json:"refused"`
	Dropped int64 `json:"dropped"`
}

// Pusher pushes to any number of endpoints.
type Pusher struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	gateway string
	workers []*worker
	ctx     context.Context // Run's; nil before Run
	wg      sync.WaitGroup
}

// New returns a Pusher with no endpoints.
func New(opts Options) *Pusher {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Job == "" {
		opts.Job = "fluxrelay"
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second, Transport: NewTransport()}
	}
	if opts.Keep <= 0 {
		opts.Keep = 720
	}
	if opts.Batch <= 0 {
		opts.Batch = 30
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.MaxAhead <= 0 {
		opts.MaxAhead = 5 * time.Minute
	}
	return &Pusher{opts: opts, log: opts.Logger}
}

// Set makes gateway the name every series carries and eps the endpoints
// (at start and on reload). An endpoint that did not change keeps running;
// one whose URL stayed but whose other settings changed keeps its waiting
// snapshots and counts; the others start afresh, and the snapshots of
// removed ones are dropped.
func (p *Pusher) Set(gateway string, eps []Endpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gateway = gateway
	old := p.workers
	p.workers = nil
	for i, ep := range eps {
		var w *worker
		for j, o := range old {
			if o != nil && o.ep.URL == ep.URL {
				w, old[j] = o, nil
				break
			}
		}
		switch {
		case w == nil:
			w = newWorker(p, ep)
		case w.ep != ep:
			w.stop()
			w = w.successor(ep)
		}
		w.setIndex(i + 1)
		p.workers = append(p.workers, w)
		if p.ctx != nil && w.cancel == nil {
			p.start(w)
		}
	}
	for _, o := range old {
		if o != nil {
			o.stop()
		}
	}
}

// Run pushes until ctx ends.
func (p *Pusher) Run(ctx context.Context) error {
	p.mu.Lock()
	p.ctx = ctx
	for _, w := range p.workers {
		p.start(w)
	}
	p.mu.Unlock()
	<-ctx.Done()
	p.wg.Wait()
	return nil
}

// start runs w's goroutines. Call it with p.mu held.
func (p *Pusher) start(w *worker) {
	ctx, cancel := context.WithCancel(p.ctx)
	w.cancel = cancel
	p.wg.Add(2)
	go func() { defer p.wg.Done(); w.sample(ctx) }()
	go func() { defer p.wg.Done(); w.send(ctx) }()
}

// Status reports every endpoint, in the order of the file.
func (p *Pusher) Status() []Status {
	p.mu.Lock()
	ws := append([]*worker(nil), p.workers...)
	p.mu.Unlock()
	out := make([]Status, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.status())
	}
	return out
}

func (p *Pusher) gatewayName() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gateway
}

// NewTransport returns the transport pushes go through by default: Go's
// default transport, tuned for a metered 4G link (docs/fleet.md has the
// figures). A TLS session is resumed on a new connection rather than paid
// for with a full handshake (the receiver's certificates: some 2 KB); an
// idle connection is kept 5 minutes, so that pushes at the default
// interval reuse it (a push then costs about 2 KB, against 6.5 KB on a new
// connection); and TCP keep-alive probes wait for 5 idle minutes, since
// pushes keep a NAT's mapping alive by themselves and a probe and its
// answer every 30 s (Go's default) would add some 5 to 10 %.
func NewTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 5 * time.Minute}
	tr.DialContext = dialer.DialContext
	tr.TLSClientConfig = &tls.Config{ClientSessionCache: tls.NewLRUClientSessionCache(16)}
	tr.IdleConnTimeout = 5 * time.Minute
	return tr
}

// hostOf is the part of a receiver's URL that may be shown.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
