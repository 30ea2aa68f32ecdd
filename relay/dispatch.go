package relay

import (
	"context"
	"sync"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
)

// window bounds the deliveries under way (read ahead, being sent, or
// having their outcome written) to this many times core.concurrency:
// outcomes are written in batches, one fsync each, and meanwhile the next
// ones are sent from what was read ahead.
const window = 16

// readAhead bounds what one read of the queue takes, in times
// core.concurrency: enough that a read serves many freed slots.
const readAhead = 8

// underway is what Run has under way; only Run's goroutine touches it.
// A notification is in inflight from the read of the queue until its
// outcome is on disk, so the queue never hands it out twice; whatever
// takes it out of inflight also gives back a probe it holds, so that no
// reservation outlives its delivery.
type underway struct {
	inflight map[string]bool // read ahead, being sent, or its outcome being written
	sending  int
	ahead    []job // read from the queue, admitted, not yet sent; oldest first
	// sent is told when an attempt is over (its slot is free); recorded
	// when its outcome is written. Both have room for everything that can
	// be under way, so a delivery never blocks on them.
	sent     chan struct{}
	recorded chan job
}

// job is a notification read ahead, and the target it was admitted to.
type job struct {
	rec *notification.Record
	g   *gate
}

// done takes a delivery whose outcome is written out of what is under
// way.
func (r *Relay) done(w *underway, j job) {
	delete(w.inflight, j.rec.ID)
	r.mu.Lock()
	j.g.release(j.rec.ID)
	r.mu.Unlock()
}

// forget drops what was read ahead; it stays queued as it is.
func (r *Relay) forget(w *underway) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range w.ahead {
		delete(w.inflight, j.rec.ID)
		j.g.release(j.rec.ID)
	}
	w.ahead = nil
}

// dispatch starts deliveries for what is due and returns when to look
// again if nothing else happens first. The queue is read a window at a
// time, without r.mu, so that deliveries finishing meanwhile can settle.
func (r *Relay) dispatch(ctx context.Context, w *underway, wg *sync.WaitGroup) time.Time {
	now := r.opts.Now()
	wake := now.Add(time.Minute)
	r.mu.Lock()
	concurrency := min(r.opts.Concurrency, maxConcurrency)
	free := concurrency - w.sending
	room := min(window*concurrency-len(w.inflight), readAhead*concurrency-len(w.ahead))
	admits := r.anyAdmits(now)
	r.mu.Unlock()
	if free <= 0 {
		return wake
	}
	if len(w.ahead) < free && room > 0 && admits {
		wake = r.readAhead(now, wake, w, room)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(w.ahead) > 0 && free > 0 {
		j := w.ahead[0]
		w.ahead = w.ahead[1:]
		if r.gateFor(j.rec.Source) != j.g || !j.g.mayStart(j.rec.ID) {
			// Its target was replaced or stopped taking deliveries since
			// it was read: leave it queued.
			delete(w.inflight, j.rec.ID)
			j.g.release(j.rec.ID)
			continue
		}
		free--
		w.sending++
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.deliver(ctx, j.rec, j.g, func() { w.sent <- struct{}{} })
			w.recorded <- j
		}()
	}
	// What is left ahead goes out when a slot frees, which wakes Run.
	return r.nextWake(now, wake)
}

// readAhead is the scheduler: due records are pulled from the store, each
// admitted (or not) by its target's gate, until room is full. It returns
// wake, or sooner when the queue has a later attempt before it.
func (r *Relay) readAhead(now, wake time.Time, w *underway, room int) time.Time {
	due, next := r.q.Due(now, w.inflight)
	for rec, err := range due {
		if err != nil {
			r.log.Error("reading the queue failed", "err", err)
			wake = now.Add(time.Second)
			break
		}
		r.mu.Lock()
		g := r.gateFor(rec.Source)
		admitted := g.admit(rec.ID, now)
		r.mu.Unlock()
		if !admitted {
			continue
		}
		w.ahead = append(w.ahead, job{rec: rec, g: g})
		w.inflight[rec.ID] = true
		if room--; room == 0 {
			break
		}
	}
	if n := next(); !n.IsZero() && n.Before(wake) {
		wake = n
	}
	return wake
}

func (r *Relay) gates() []*gate {
	gs := []*gate{r.def}
	for _, g := range r.bySource {
		gs = append(gs, g)
	}
	return gs
}

// anyAdmits reports whether any target could take a delivery now, so that
// an outage does not scan the queue for nothing. Call it with r.mu held.
func (r *Relay) anyAdmits(now time.Time) bool {
	for _, g := range r.gates() {
		if g.admits(now) {
			return true
		}
	}
	return false
}

// nextWake is wake, or sooner when a target's probe falls due before it.
// A probe already due waits for something to probe: the queue's next
// attempt, which wake already is, or a new notification, which wakes Run.
// Call it with r.mu held.
func (r *Relay) nextWake(now, wake time.Time) time.Time {
	for _, g := range r.gates() {
		if at := g.wakeAt(); at.After(now) && at.Before(wake) {
			wake = at
		}
	}
	return wake
}
