package remotewrite

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fluxrelay/fluxrelay/health"
)

// worker pushes to one endpoint: sample takes a snapshot every interval,
// send sends what waits, oldest first.
type worker struct {
	p      *Pusher
	ep     Endpoint
	cancel context.CancelFunc
	wake   chan struct{}

	mu    sync.Mutex
	index int
	buf   []*snapshot // oldest first
	seq   uint64      // the next snapshot's
	// alone: snapshots up to this seq go one per request, since a batch
	// holding them was refused.
	alone uint64
	// inherited: it took over a worker's snapshots (a reload), so its
	// first snapshot waits an interval like the next one would have.
	inherited bool
	clockOK   bool      // the receiver's clock was compared with this one
	loggedAt  time.Time // when a failure was last logged
	st        Status
}

func newWorker(p *Pusher, ep Endpoint) *worker {
	if ep.Interval <= 0 {
		ep.Interval = time.Minute
	}
	return &worker{p: p, ep: ep, wake: make(chan struct{}, 1), seq: 1, st: Status{Host: hostOf(ep.URL)}}
}

// successor is a worker for ep that takes over w's waiting snapshots and
// counts (w is stopped).
func (w *worker) successor(ep Endpoint) *worker {
	n := newWorker(w.p, ep)
	w.mu.Lock()
	defer w.mu.Unlock()
	// A copy: w's goroutines may still be appending to their own.
	n.buf = append([]*snapshot(nil), w.buf...)
	n.seq, n.alone, n.st, n.inherited = w.seq, w.alone, w.st, true
	n.st.Host = hostOf(ep.URL)
	return n
}

func (w *worker) setIndex(i int) {
	w.mu.Lock()
	w.index = i
	w.mu.Unlock()
}

func (w *worker) stop() {
	if w.cancel != nil {
		w.cancel()
	}
}

func (w *worker) status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.st
	s.Endpoint, s.Waiting = w.index, len(w.buf)
	return s
}

// sample takes a snapshot now (unless it took over from a worker) and
// then every interval until ctx ends, telling send each time.
func (w *worker) sample(ctx context.Context) {
	t := time.NewTicker(w.ep.Interval)
	defer t.Stop()
	for first := true; ; first = false {
		if !first || !w.inherited {
			w.take()
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// take gathers a snapshot and keeps it. A snapshot stamped no later than
// the last one kept means the clock went back: those kept after it were
// stamped by a wrong clock and are dropped. Past Keep, the oldest go.
func (w *worker) take() {
	now := w.p.opts.Now()
	if !health.ClockOK(now) {
		w.failed(now, fmt.Sprintf("the clock reads %s, so no snapshot is taken until it is set (timedatectl set-ntp true)", now.UTC().Format("2006-01-02 15:04")))
		return
	}
	fams, err := w.p.opts.Gatherer.Gather()
	if err != nil {
		w.p.log.Warn("some metrics could not be gathered for remote write; pushing the rest", "err", err)
	}
	gateway := w.p.gatewayName() // before w.mu: Set holds p.mu while it takes w.mu
	w.mu.Lock()
	defer w.mu.Unlock()
	var prev *seriesSet
	if n := len(w.buf); n > 0 {
		prev = w.buf[n-1].set
	}
	s := build(fams, w.p.opts.Prefix, gateway, w.p.opts.Job, now, prev)
	for n := len(w.buf); n > 0 && w.buf[n-1].at >= s.at; n-- {
		w.buf = w.buf[:n-1]
		w.st.Dropped++
	}
	s.seq = w.seq
	w.seq++
	w.buf = append(w.buf, s)
	if over := len(w.buf) - w.p.opts.Keep; over > 0 {
		w.buf = append([]*snapshot(nil), w.buf[over:]...)
		w.st.Dropped += int64(over)
	}
}

// send sends whenever a snapshot was taken, and after a failure tries
// again with a growing wait, until ctx ends.
func (w *worker) send(ctx context.Context) {
	fails := 0
	for {
		if fails == 0 {
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
			}
		} else {
			t := time.NewTimer(w.backoff(fails))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if w.flush(ctx) {
			fails = 0
		} else {
			fails++
		}
	}
}

// backoff is the wait after the n-th failure in a row: the interval,
// doubling up to MaxBackoff (or the interval, when longer).
func (w *worker) backoff(n int) time.Duration {
	limit := max(w.p.opts.MaxBackoff, w.ep.Interval)
	d := w.ep.Interval
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// next returns the oldest waiting snapshots: up to Batch of them, or one
// while the snapshots of a refused batch are tried alone.
func (w *worker) next() []*snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(len(w.buf), w.p.opts.Batch)
	if n > 0 && w.buf[0].seq <= w.alone {
		n = 1
	}
	return append([]*snapshot(nil), w.buf[:n]...)
}

// forget removes the snapshots of batch, sent or refused, and counts
// them in *count. Those the sample side dropped while they were on their
// way (the buffer was full, or the clock went back) were counted as
// dropped: they are not lost, so that count is taken back.
func (w *worker) forget(batch []*snapshot, count *int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	last := batch[len(batch)-1].seq
	i := 0
	for i < len(w.buf) && w.buf[i].seq <= last {
		i++
	}
	w.st.Dropped -= int64(len(batch) - i)
	*count += int64(len(batch))
	w.buf = w.buf[i:]
}

// flush sends what waits, batch after batch, oldest first. It returns
// false when it must stop and try again later: the receiver cannot be
// reached, it wants the endpoint fixed, or this clock is ahead of its.
func (w *worker) flush(ctx context.Context) bool {
	for ctx.Err() == nil {
		if !w.clockChecked() && !w.probe(ctx) {
			return false
		}
		batch := w.next()
		if len(batch) == 0 {
			return true
		}
		body, err := encode(batch)
		if err != nil {
			w.refused(batch, fmt.Sprintf("%d snapshot(s) could not be encoded (%v); they are dropped", len(batch), err))
			continue
		}
		a := w.post(ctx, body)
		now := w.p.opts.Now()
		switch a.verdict {
		case accepted:
			w.succeeded(now)
			w.forget(batch, &w.st.Sent)
		case refused:
			if len(batch) == 1 {
				w.refused(batch, fmt.Sprintf("the receiver refused a snapshot for good (%s); it is dropped", a.words))
				break
			}
			w.mu.Lock() // one refused sample refuses the whole request: try each alone
			w.alone = batch[len(batch)-1].seq
			w.mu.Unlock()
		default:
			w.failed(now, a.words)
			return false
		}
		if !w.clockAgrees(a) {
			return false
		}
	}
	return false
}

// refused drops the snapshots of batch, which the receiver refused, and
// says why.
func (w *worker) refused(batch []*snapshot, why string) {
	w.forget(batch, &w.st.Refused)
	w.failed(w.p.opts.Now(), why)
}

// failed records why the last push failed. The log is told when the
// reason changes, at most once a minute.
func (w *worker) failed(now time.Time, why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.st.LastError != why && (w.loggedAt.IsZero() || now.Sub(w.loggedAt) >= time.Minute || now.Before(w.loggedAt)) {
		w.p.log.Warn("remote write: "+why, "endpoint", w.index, "host", w.st.Host)
		w.loggedAt = now
	}
	w.st.OK, w.st.LastError, w.st.LastErrorAt = false, why, ptr(now.UTC())
}

// succeeded records an accepted push.
func (w *worker) succeeded(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.st.OK && w.st.LastErrorAt != nil {
		w.p.log.Info("remote write: the receiver takes snapshots again", "endpoint", w.index, "host", w.st.Host, "waiting", len(w.buf))
		w.loggedAt = time.Time{}
	}
	w.st.OK, w.st.LastSuccess = true, ptr(now.UTC())
}

func (w *worker) clockChecked() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.clockOK
}

// probe sends an empty request, to learn from the answer's Date header
// whether this clock is ahead of the receiver's before any sample goes.
// A receiver that refuses the empty request says nothing of its clock;
// one that wants the endpoint fixed or cannot be reached fails the probe.
func (w *worker) probe(ctx context.Context) bool {
	body, _ := encode(nil)
	a := w.post(ctx, body)
	switch a.verdict {
	case accepted, refused:
		return w.clockAgrees(a)
	default:
		w.failed(w.p.opts.Now(), a.words)
		return false
	}
}

// clockAgrees compares this clock with the receiver's, from the Date of
// its answer. Samples stamped ahead of the receiver's time by more than
// MaxAhead would make it refuse every other gateway's as too old: pushing
// is held until the clock is set.
func (w *worker) clockAgrees(a answer) bool {
	if a.date.IsZero() {
		w.setClockOK(true)
		return true
	}
	ahead := a.at.Sub(a.date)
	if ahead <= w.p.opts.MaxAhead {
		w.setClockOK(true)
		return true
	}
	w.setClockOK(false)
	w.failed(a.at, fmt.Sprintf("this gateway's clock is %s ahead of the receiver's, so nothing is pushed (its samples would make the receiver refuse other gateways'); set the clock (timedatectl set-ntp true)", ahead.Round(time.Second)))
	return false
}

func (w *worker) setClockOK(ok bool) {
	w.mu.Lock()
	w.clockOK = ok
	w.mu.Unlock()
}

func ptr[T any](v T) *T { return &v }
