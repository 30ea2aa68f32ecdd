package relay

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

// TestProbeForNoAmountIsReleased: in an outage the probe falls to a
// pending notification without an amount, which is dead-lettered without
// a request. Its probe must be given back: when Fluxvend is back the sale
// waiting behind it is delivered, and a reload in the outage does not
// leave the target stuck either.
func TestProbeForNoAmountIsReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("fluxvend.test")
		core := w.host("fluxvend.test")
		core.set(behaviour{down: true})
		r := runWorld(t, storetest.NewMemory(), w, Options{Concurrency: 2, Timeout: 10 * time.Second,
			RetryMaxWait: 5 * time.Minute, MaxAge: time.Hour, PauseProbe: 3 * time.Minute}, target("fluxvend.test"), nil)
		sale := r.enqueue("pos", "SALE", 150050, plausibleNow())
		time.Sleep(time.Minute) // no answer: an outage
		synctest.Wait()
		if st := r.relay.Status().Targets[0]; st.Mode != ModeOutage {
			t.Fatalf("no answer, yet the target is %s", st.Mode)
		}
		// Older than the sale, so the next probe is its.
		noAmount := r.enqueue("pos", "NO-AMOUNT", 0, plausibleNow().Add(-time.Hour))
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if got := r.state(noAmount.ID); got != notification.Dead {
			t.Fatalf("the notification without an amount is %s; want a dead letter", got)
		}
		r.relay.SetTargets(target("fluxvend.test"), nil) // a reload in the outage
		time.Sleep(10 * time.Minute)
		core.set(behaviour{})
		time.Sleep(6 * time.Hour)
		synctest.Wait()
		if got := r.state(sale.ID); got != notification.Delivered {
			t.Fatalf("6 h after Fluxvend came back the sale is %s: the probe taken for the notification without an amount was never given back", got)
		}
	})
}

// TestReloadReleasesProbeReadAhead: with two targets, a reload while the
// second target's probe waits in the read-ahead forgets that job; its
// probe must be given back with it, or the second target never probes
// again.
func TestReloadReleasesProbeReadAhead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("fluxvend.test", "other.test")
		main, other := w.host("fluxvend.test"), w.host("other.test")
		other.set(behaviour{down: true})
		bySource := map[string]Target{"b": target("other.test")}
		r := runWorld(t, storetest.NewMemory(), w, Options{Concurrency: 1, Timeout: time.Hour,
			RetryMaxWait: 5 * time.Minute, MaxAge: time.Hour, PauseProbe: 3 * time.Minute}, target("fluxvend.test"), bySource)
		t0 := plausibleNow()
		b1 := r.enqueue("b", "B1", 150050, t0)
		time.Sleep(30 * time.Second) // other.test gives no answer: its target is in an outage
		synctest.Wait()
		if st := r.relay.Status().Targets; st[1].Mode != ModeOutage {
			t.Fatalf("no answer, yet the second target is %s", st[1].Mode)
		}
		hold := main.holdRequests()
		a1 := r.enqueue("pos", "A1", 150050, plausibleNow())
		for w.inFlight(a1.ID) == 0 { // A1 is being sent, held: the only slot is taken
			time.Sleep(time.Second)
		}
		// Two more for the main target, older than B1, so that they are
		// read ahead of B1's probe.
		a2 := r.enqueue("pos", "A2", 150050, t0.Add(-time.Hour))
		a3 := r.enqueue("pos", "A3", 150050, t0.Add(-time.Hour+time.Second))
		time.Sleep(10 * time.Minute) // B1's probe is due (retry_max_wait, and more)
		synctest.Wait()
		hold <- struct{}{} // A1 answered: the slot frees; A2, A3 and B1's probe are read, A2 goes
		synctest.Wait()
		r.relay.SetTargets(target("fluxvend.test"), bySource) // a reload: the read-ahead is forgotten
		synctest.Wait()
		close(hold)
		other.set(behaviour{})
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		for _, rec := range []*notification.Record{a1, a2, a3, b1} {
			if got := r.state(rec.ID); got != notification.Delivered {
				t.Errorf("%s is %s 2 h after both webhooks answer", rec.TransactionRef(), got)
			}
		}
	})
}

// countingQueue counts the reads of the schedule.
type countingQueue struct {
	*storetest.Memory
	reads atomic.Int64
}

func (q *countingQueue) Due(now time.Time, skip map[string]bool) (iter.Seq2[*notification.Record, error], func() time.Time) {
	q.reads.Add(1)
	return q.Memory.Due(now, skip)
}

// TestNoSpinWhileProbeWaits: an outage begins with notifications that
// have failed many times before, so each waits for a long backoff while
// the outage's first probe is due in a second. Until one of them is due
// there is nothing to probe: the relay waits for it instead of reading the
// queue again every millisecond.
func TestNoSpinWhileProbeWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld("fluxvend.test")
		w.host("fluxvend.test").set(behaviour{status: http.StatusServiceUnavailable})
		q := &countingQueue{Memory: storetest.NewMemory()}
		rl := New(q, Options{Concurrency: 1, Timeout: 10 * time.Second, RetryMaxWait: time.Hour, MaxAge: 24 * time.Hour,
			PauseProbe: 3 * time.Minute, Now: plausibleNow, Transport: w})
		rl.SetTargets(target("fluxvend.test"), nil)
		for i := range 3 {
			r := storetest.NewRecord(fmt.Sprint("R", i), 150050, plausibleNow().Add(-time.Hour))
			r.Attempts = 10 // the next backoff is 17 to 34 minutes
			if _, err := q.Enqueue(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { rl.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		time.Sleep(time.Minute)
		synctest.Wait()
		if st := rl.Status().Targets[0]; st.Mode != ModeOutage {
			t.Fatalf("after 503s for three notifications the target is %s", st.Mode)
		}
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		attempts := len(w.host("fluxvend.test").core.Received())
		if n := q.reads.Load(); n > 10*int64(attempts)+200 {
			t.Errorf("the queue was read %d times in 2 hours with %d attempts: the relay spins while a probe is due and nothing is to be probed", n, attempts)
		}
	})
}
