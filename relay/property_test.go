package relay

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

// TestGateProperties drives a relay with two targets through random
// sequences of what happens to a gateway — Fluxvend answering 200, 5xx,
// 401, 403, 404 or 422, timing out or not answering at all; reloads that
// rotate a secret, move a source's webhook or remove the source;
// notifications without an amount; restarts — and checks after every step
// that:
//
//   - no probe reservation outlives its notification: a target's probe is
//     held only by a pending notification that is being sent (or waits
//     for a slot while every slot is taken);
//   - a reload lifts every pause at once;
//
// and, whenever every webhook answers 2xx, that while anything is pending
// something is delivered within retry_max_wait plus the pause's probe
// interval (plus core.timeout, for an attempt already under way), and that
// in the end everything pending is delivered and no target stays paused.
// Each seed is one sequence; a failure names it.
func TestGateProperties(t *testing.T) {
	seeds := 64
	if testing.Short() {
		seeds = 6
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { newScenario(t, seed).run(120) })
		})
	}
}

var propertyOpts = Options{Concurrency: 2, Timeout: 2 * time.Minute, RetryMaxWait: 5 * time.Minute,
	MaxAge: 24 * time.Hour, PauseProbe: 3 * time.Minute}

// liveWithin is how long a relay may go without a delivery while anything
// is pending and every webhook answers 2xx: retry_max_wait (the longest
// wait of an outage's probe, and of a notification's own schedule) plus the
// paused target's probe interval, plus core.timeout for an attempt that was
// under way when the webhooks came back.
var liveWithin = propertyOpts.RetryMaxWait + propertyOpts.PauseProbe + propertyOpts.Timeout

var hostNames = []string{"fluxvend.test", "other.test", "moved.test"}

type scenario struct {
	t   *testing.T
	rnd *rand.Rand
	w   *world
	r   *running
	// The config: the source b's webhook (empty: b is not configured and
	// goes to the default target) and each host's secret.
	bHost   string
	secrets map[string]string
	refs    int
}

func newScenario(t *testing.T, seed uint64) *scenario {
	s := &scenario{t: t, rnd: rand.New(rand.NewPCG(seed, 27)), w: newWorld(hostNames...), bHost: "other.test",
		secrets: map[string]string{}}
	for _, h := range hostNames {
		s.secrets[h] = apiSecret
	}
	def, by := s.targets()
	opts := propertyOpts
	opts.Concurrency = []int{1, 2, 4}[seed%3]
	s.r = runWorld(t, storetest.NewMemory(), s.w, opts, def, by)
	return s
}

func (s *scenario) target(h string) Target {
	tg := target(h)
	tg.SigningKey = s.secrets[h]
	return tg
}

func (s *scenario) targets() (Target, map[string]Target) {
	by := map[string]Target{}
	if s.bHost != "" {
		by["b"] = s.target(s.bHost)
	}
	return s.target("fluxvend.test"), by
}

func (s *scenario) run(steps int) {
	for i := range steps {
		what := s.step()
		if s.rnd.IntN(10) < 7 {
			time.Sleep(time.Duration(s.rnd.IntN(30)) * time.Second) // a reload may find deliveries under way
		} else {
			time.Sleep(time.Duration(s.rnd.IntN(20*60)) * time.Second)
		}
		synctest.Wait()
		s.checkReservations(fmt.Sprintf("step %d (%s)", i, what))
		if s.rnd.IntN(8) == 0 {
			s.checkLive(fmt.Sprintf("after step %d", i))
		}
	}
	s.checkLive("at the end")
	// Something for every target, then every one is OK: a pause lifts on
	// a success.
	s.enqueue("pos", true, 0)
	s.enqueue("b", true, 0)
	s.checkLive("at the very end")
	for _, st := range s.r.relay.Status().Targets {
		if st.Mode != ModeOK {
			s.t.Fatalf("after every webhook accepted deliveries, %s is %s (%s)", st.URL, st.Mode, st.Reason)
		}
	}
}

// answers are what a webhook may do, as the property test draws them.
var answers = []behaviour{
	{}, {status: http.StatusInternalServerError}, {status: http.StatusServiceUnavailable},
	{status: http.StatusUnauthorized}, {status: http.StatusForbidden}, {status: http.StatusNotFound},
	{status: http.StatusUnprocessableEntity}, {timeout: true}, {down: true},
	{slow: 100 * time.Second}, {slow: 10 * time.Second, status: http.StatusServiceUnavailable},
}

// step does one random thing and says what. While every slot is taken, a
// reload is likelier: what was read ahead meanwhile is then forgotten.
func (s *scenario) step() string {
	n := s.rnd.IntN(10)
	if s.requestsInFlight() >= s.r.opts.Concurrency && s.rnd.IntN(2) == 0 {
		n = 6
	}
	switch {
	case n < 3:
		h, b := hostNames[s.rnd.IntN(len(hostNames))], answers[s.rnd.IntN(len(answers))]
		if h == "fluxvend.test" && s.rnd.IntN(2) == 0 {
			// The default webhook is often slow but answering: while it
			// takes every slot, the other target's probe waits read
			// ahead behind its backlog.
			b = behaviour{slow: 100 * time.Second}
		}
		s.w.host(h).set(b)
		return fmt.Sprintf("%s answers %+v", h, b)
	case n < 6:
		src := []string{"pos", "b"}[s.rnd.IntN(2)]
		withAmount := s.rnd.IntN(6) != 0
		// Sometimes a backlog received hours ago (recovered from a store
		// that was moved aside): it is due before anything newer.
		var age time.Duration
		if s.rnd.IntN(3) == 0 {
			age = time.Duration(1+s.rnd.IntN(6)) * time.Hour
		}
		for range 1 + s.rnd.IntN(6) {
			s.enqueue(src, withAmount, age)
		}
		return fmt.Sprintf("notifications for %s (amount: %v, received %s ago)", src, withAmount, age)
	case n < 9:
		what, modes := s.reload()
		if slices.Contains(modes, ModePaused) {
			s.t.Fatalf("right after a reload (%s), a target is still paused: %v", what, modes)
		}
		return "reload: " + what
	default:
		def, by := s.targets()
		s.r.restart(def, by)
		return "restart"
	}
}

// reload changes the config as a technician would, and reloads; modes
// are the targets' as the reload left them.
func (s *scenario) reload() (what string, modes []Mode) {
	switch s.rnd.IntN(4) {
	case 0: // the secret regenerated in the portal, and put in the config
		h := hostNames[s.rnd.IntN(len(hostNames))]
		s.secrets[h] = fmt.Sprintf("FXS_rotated_%d", s.rnd.IntN(1000))
		s.w.host(h).core.SetSecret(s.secrets[h])
		what = "secret of " + h
	case 1: // b's webhook moved
		s.bHost = map[string]string{"other.test": "moved.test", "moved.test": "other.test", "": "other.test"}[s.bHost]
		what = "b's URL to " + s.bHost
	case 2: // b removed from the config: its notifications go to the default
		s.bHost, what = "", "source b removed"
	default:
		what = "nothing changed"
	}
	def, by := s.targets()
	return what, s.r.relay.setTargets(def, by)
}

func (s *scenario) enqueue(source string, withAmount bool, age time.Duration) {
	s.refs++
	amount := notification.Amount(100 + s.rnd.IntN(1_000_000))
	if !withAmount {
		amount = 0
	}
	s.r.enqueue(source, fmt.Sprint("P-", s.refs), amount, plausibleNow().Add(-age))
}

// checkReservations: with the bubble idle, every probe reservation is held
// by a pending notification that is being sent, or that waits for a slot
// while all are taken.
func (s *scenario) checkReservations(when string) {
	s.r.relay.mu.Lock()
	var held []string
	for _, g := range s.r.relay.gates() {
		if g.probe != "" {
			held = append(held, g.probe)
		}
	}
	s.r.relay.mu.Unlock()
	for _, id := range held {
		rec, err := s.r.q.Get(id)
		if err != nil {
			s.t.Fatalf("%s: a probe is reserved for %s, which is not in the queue: %v", when, id, err)
		}
		if rec.State != notification.Pending {
			s.t.Fatalf("%s: a probe is reserved for %s, which is not pending (%s, %v)", when, id, rec.State, err)
		}
		if s.w.inFlight(id) == 0 && s.requestsInFlight() < s.r.opts.Concurrency {
			s.t.Fatalf("%s: a probe is reserved for %s, which is not being sent, while a slot is free", when, id)
		}
	}
}

func (s *scenario) requestsInFlight() int {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	n := 0
	for _, c := range s.w.inRequest {
		n += c
	}
	return n
}

// checkLive makes every webhook answer 2xx and checks that something is
// delivered within liveWithin while anything is pending, until nothing is.
func (s *scenario) checkLive(when string) {
	for _, h := range hostNames {
		s.w.host(h).set(behaviour{})
	}
	for i := 0; s.r.q.Stats().Pending > 0; i++ {
		if i == 100 {
			s.t.Fatalf("%s: still %d pending after 100 rounds of deliveries", when, s.r.q.Stats().Pending)
		}
		before := s.accepted()
		time.Sleep(liveWithin)
		synctest.Wait()
		if s.accepted() == before && s.r.q.Stats().Pending > 0 {
			s.t.Fatalf("%s: %d pending, every webhook answers 2xx, and nothing was delivered in %s; targets: %+v",
				when, s.r.q.Stats().Pending, liveWithin, s.r.relay.Status().Targets)
		}
	}
}

func (s *scenario) accepted() int {
	n := 0
	for _, h := range hostNames {
		n += s.w.host(h).core.AcceptedCount()
	}
	return n
}
