package remotewrite

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// t0 is when the synctest tests start, on the gateway's clock.
var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// fakeClock is the gateway's clock in a bubble: t0 when the bubble
// starts, moving with the bubble's time, shifted by skew.
type fakeClock struct {
	start time.Time // the bubble's time at t0
	skew  atomic.Int64
}

func newClock() *fakeClock { return &fakeClock{start: time.Now()} }

func (c *fakeClock) now() time.Time {
	return t0.Add(time.Since(c.start) + time.Duration(c.skew.Load()))
}

// registry holds what a gateway serves: a gauge read at gather time (the
// minutes since t0, so that a sample's value tells when it was taken),
// labelled counters, a histogram, and a metric that is not fluxrelay's.
func registry(now func() time.Time) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fluxrelay_queue_depth", Help: "h"},
		func() float64 { return float64(now().Sub(t0) / time.Minute) }))
	ingested := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fluxrelay_ingested_total", Help: "h"}, []string{"source", "result"})
	ingested.WithLabelValues("monnify", "queued").Add(7)
	ingested.WithLabelValues("till", "duplicate").Add(2)
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fluxrelay_delivery_latency_seconds", Help: "h", Buckets: []float64{0.5, 5}})
	latency.Observe(0.2)
	latency.Observe(3)
	other := prometheus.NewGauge(prometheus.GaugeOpts{Name: "go_something", Help: "h"})
	reg.MustRegister(ingested, latency, other)
	return reg
}

// run runs p until the test ends.
func run(t *testing.T, p *Pusher) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestPushCarriesTheRegistry: over real HTTP, a push carries every
// fluxrelay family of the registry with the values /metrics would show,
// each series labelled with the gateway's name and the job, with the
// credentials and user agent; other families stay home.
func TestPushCarriesTheRegistry(t *testing.T) {
	f := newReceiver(t, time.Now)
	f.auth = "Basic c2hvcDpzM2NyZXQ=" // shop:s3cret
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	at42 := func() time.Time { return t0.Add(42 * time.Minute) }
	p := New(Options{Gatherer: registry(at42), Prefix: "fluxrelay_", UserAgent: "fluxrelay/test"})
	p.Set("Ikeja City Mall", []Endpoint{{URL: srv.URL + "/api/v1/write", Interval: time.Hour, Username: "shop", Password: "s3cret"}})
	run(t, p)
	waitFor(t, "a push", func() bool { return len(p.Status()) == 1 && p.Status()[0].Sent == 1 })

	const gw = "gateway=Ikeja City Mall,job=fluxrelay"
	want := map[string]float64{
		"fluxrelay_ingested_total{" + gw + ",result=queued,source=monnify}": 7,
		"fluxrelay_ingested_total{" + gw + ",result=duplicate,source=till}": 2,
		"fluxrelay_delivery_latency_seconds_bucket{" + gw + ",le=0.5}":      1,
		"fluxrelay_delivery_latency_seconds_bucket{" + gw + ",le=5}":        2,
		"fluxrelay_delivery_latency_seconds_bucket{" + gw + ",le=+Inf}":     2,
		"fluxrelay_delivery_latency_seconds_sum{" + gw + "}":                3.2,
		"fluxrelay_delivery_latency_seconds_count{" + gw + "}":              2,
		"fluxrelay_queue_depth{" + gw + "}":                                 42,
	}
	keys := f.keys()
	if len(keys) != len(want) {
		t.Errorf("the receiver got %d series; want %d:\n%s", len(keys), len(want), strings.Join(keys, "\n"))
	}
	for k, v := range want {
		pts := f.points(k)
		if len(pts) != 1 || pts[0].v != v {
			t.Errorf("%s: got %v, want one sample of %v", k, pts, v)
		}
	}
	st := p.Status()[0]
	if !st.OK || st.LastSuccess == nil || st.Endpoint != 1 || st.Host != strings.TrimPrefix(srv.URL, "http://") || st.Waiting != 0 {
		t.Errorf("status %+v", st)
	}
	if f.agents[0] != "fluxrelay/test" {
		t.Errorf("user agent %q", f.agents[0])
	}
}

// pusher returns a pusher whose requests go to f in this process, at
// interval 60s, with the gateway's clock c.
func pusher(f *receiver, c *fakeClock, log *bytes.Buffer, tweak func(*Options)) (*Pusher, *inProcess) {
	tr := &inProcess{h: f}
	opts := Options{Gatherer: registry(c.now), Prefix: "fluxrelay_", Now: c.now, Client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	if log != nil {
		opts.Logger = slog.New(slog.NewTextHandler(log, nil))
	}
	if tweak != nil {
		tweak(&opts)
	}
	p := New(opts)
	p.Set("shop-1", []Endpoint{{URL: "http://receiver.test/api/v1/write", Interval: time.Minute}})
	return p, tr
}

const depth = "fluxrelay_queue_depth{gateway=shop-1,job=fluxrelay}"

// contiguous checks that pts are one sample a minute, each taken at its
// time, from minute from to minute to (since t0).
func contiguous(t *testing.T, pts []point, from, to int) {
	t.Helper()
	if len(pts) != to-from+1 {
		t.Fatalf("got %d samples; want minutes %d to %d (%d)", len(pts), from, to, to-from+1)
	}
	for i, p := range pts {
		minute := from + i
		if p.ts != t0.Add(time.Duration(minute)*time.Minute).UnixMilli() || p.v != float64(minute) {
			t.Fatalf("sample %d is %v at %s; want %d at minute %d", i, p.v, time.UnixMilli(p.ts).UTC().Format(time.TimeOnly), minute, minute)
		}
	}
}

// TestOutageLosesNoSnapshot: three hours without the receiver, at the
// default interval, lose nothing: every snapshot, each with the value it
// had when it was taken, arrives oldest first once the receiver is back,
// and status says what happened meanwhile.
func TestOutageLosesNoSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newClock()
		f := newReceiver(t, c.now)
		p, tr := pusher(f, c, nil, nil)
		run(t, p)
		time.Sleep(10*time.Minute + time.Second)
		synctest.Wait()
		contiguous(t, f.points(depth), 0, 10)

		tr.down.Store(true)
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		st := p.Status()[0]
		if st.OK || st.Waiting != 180 || !strings.Contains(st.LastError, "cannot reach the receiver (dial tcp") || st.Dropped != 0 {
			t.Errorf("during the outage, status %+v", st)
		}
		if strings.Contains(st.LastError, "receiver.test") {
			t.Errorf("the URL, a secret, shows in status: %s", st.LastError)
		}

		tr.down.Store(false)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		contiguous(t, f.points(depth), 0, 200)
		st = p.Status()[0]
		if !st.OK || st.Waiting != 0 || st.Sent != 201 || st.Refused != 0 || st.Dropped != 0 {
			t.Errorf("after the outage, status %+v", st)
		}
		if _, refused, _ := f.counts(); refused != 0 {
			t.Errorf("the receiver refused %d requests", refused)
		}
	})
}

// TestBufferIsBounded: past Keep snapshots, the oldest are dropped and
// counted; the newest Keep arrive.
func TestBufferIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newClock()
		f := newReceiver(t, c.now)
		p, tr := pusher(f, c, nil, func(o *Options) { o.Keep, o.Batch, o.MaxBackoff = 10, 3, time.Minute })
		tr.down.Store(true)
		run(t, p)
		time.Sleep(30*time.Minute + time.Second) // minutes 0 to 30 taken; 0 to 20 dropped
		synctest.Wait()
		if st := p.Status()[0]; st.Waiting != 10 || st.Dropped != 21 {
			t.Errorf("status %+v; want 10 waiting, 21 dropped", st)
		}
		tr.down.Store(false)
		time.Sleep(time.Minute) // the next try and the next snapshot both come at minute 31
		synctest.Wait()
		pts := f.points(depth)
		from := int((pts[0].ts - t0.UnixMilli()) / 60000)
		contiguous(t, pts, from, 31)
		if st := p.Status()[0]; (from != 21 && from != 22) || st.Dropped != int64(from) {
			t.Errorf("the newest kept start at minute %d, %d dropped; want 21 or 22, and as many dropped", from, st.Dropped)
		}
	})
}

// TestRefusedIsNotRetried: a receiver that keeps only the last hour (a
// stock Prometheus) refuses, after a three-hour outage, every request
// holding an older sample. The snapshots of a refused batch are tried
// alone, so that the last hour still arrives; each refused one is
// counted, shown, and never sent again.
func TestRefusedIsNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newClock()
		f := newReceiver(t, c.now)
		f.window = time.Hour
		var log bytes.Buffer
		p, tr := pusher(f, c, &log, nil)
		tr.down.Store(true)
		run(t, p)
		time.Sleep(3*time.Hour + time.Second) // minutes 0 to 180 wait
		tr.down.Store(false)
		time.Sleep(10 * time.Minute) // the next try comes within 5 minutes
		synctest.Wait()
		// What was older than an hour when it was sent is refused; the
		// rest arrived, without a gap, up to now.
		pts := f.points(depth)
		from := int((pts[0].ts - t0.UnixMilli()) / 60000)
		if from < 120 || from > 126 {
			t.Errorf("the first sample kept is from minute %d; want the hour before the receiver came back (120 to 126)", from)
		}
		contiguous(t, pts, from, 190)
		st := p.Status()[0]
		if st.Refused != int64(from) || st.Sent != int64(191-from) || st.Waiting != 0 || !st.OK || !strings.Contains(st.LastError, "400: out of bounds") {
			t.Errorf("status %+v", st)
		}
		requests, refused, _ := f.counts()
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		requests2, refused2, _ := f.counts()
		if refused2 != refused || requests2 != requests+30 {
			t.Errorf("after the refusals, %d more requests and %d more refused; want 30 pushes, none refused", requests2-requests, refused2-refused)
		}
		if n := strings.Count(log.String(), "refused a snapshot"); n != 1 {
			t.Errorf("the log tells %d refusals; want one line for the lot:\n%s", n, log.String())
		}
	})
}

// TestCredentialsKeepSnapshots: a receiver that refuses the credentials
// (401) says so in status, and the snapshots wait, bounded, for the
// technician to fix them: a reload with the right token sends them all.
// Neither status nor the log shows the URL or the token.
func TestCredentialsKeepSnapshots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newClock()
		f := newReceiver(t, c.now)
		f.auth = "Bearer right-TOKEN"
		var log bytes.Buffer
		p, _ := pusher(f, c, &log, nil)
		url := "http://receiver.test/api/v1/write?key=URL-SECRET"
		p.Set("shop-1", []Endpoint{{URL: url, Interval: time.Minute, BearerToken: "wrong-TOKEN"}})
		run(t, p)
		time.Sleep(20*time.Minute + time.Second)
		synctest.Wait()
		st := p.Status()[0]
		if st.OK || st.Waiting != 21 || !strings.Contains(st.LastError, "401") || !strings.Contains(st.LastError, "check bearer_token") {
			t.Errorf("status %+v", st)
		}
		p.Set("shop-1", []Endpoint{{URL: url, Interval: time.Minute, BearerToken: "right-TOKEN"}})
		time.Sleep(time.Second)
		synctest.Wait()
		contiguous(t, f.points(depth), 0, 20)
		if st := p.Status()[0]; !st.OK || st.Sent != 21 {
			t.Errorf("after the reload, status %+v", st)
		}
		for _, secret := range []string{"URL-SECRET", "TOKEN"} {
			if strings.Contains(log.String(), secret) || strings.Contains(st.LastError, secret) {
				t.Errorf("%s shows in the log or status:\n%s", secret, log.String())
			}
		}
	})
}

// TestClockAheadHoldsPushes: a gateway whose clock is an hour ahead of the
// receiver's pushes no sample (it would make the receiver refuse every
// other gateway's); status says so. Once the clock is set, what was
// stamped by the wrong clock is dropped and pushing goes on.
func TestClockAheadHoldsPushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newClock()
		c.skew.Store(int64(time.Hour))
		receiverNow := func() time.Time { return c.now().Add(-time.Duration(c.skew.Load())) }
		f := newReceiver(t, receiverNow)
		p, _ := pusher(f, c, nil, nil)
		run(t, p)
		time.Sleep(10*time.Minute + time.Second)
		synctest.Wait()
		if keys := f.keys(); len(keys) != 0 {
			t.Errorf("the receiver got samples from a clock an hour ahead: %v", keys)
		}
		st := p.Status()[0]
		if !strings.Contains(st.LastError, "clock is 1h0m0s ahead of the receiver's") || st.Waiting == 0 {
			t.Errorf("status %+v", st)
		}
		c.skew.Store(0) // NTP sets it
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		pts := f.points(depth)
		if len(pts) == 0 || pts[len(pts)-1].ts != receiverNow().Truncate(time.Minute).UnixMilli() {
			t.Fatalf("after the clock was set, got %v", pts)
		}
		for _, pt := range pts {
			if pt.ts > receiverNow().UnixMilli() {
				t.Errorf("a sample from the future reached the receiver: %v", pt)
			}
		}
		if st := p.Status()[0]; !st.OK || st.Dropped == 0 {
			t.Errorf("status %+v; want OK and the wrongly stamped snapshots dropped", st)
		}
	})
}

// TestReloadChangesEndpoints: a reload that removes an endpoint stops it,
// one that adds an endpoint starts it, and one left alone keeps running.
func TestReloadChangesEndpoints(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newClock()
		a, b := newReceiver(t, c.now), newReceiver(t, c.now)
		mux := http.NewServeMux()
		mux.Handle("/a", a)
		mux.Handle("/b", b)
		p := New(Options{Gatherer: registry(c.now), Prefix: "fluxrelay_", Now: c.now, Client: &http.Client{Transport: &inProcess{h: mux}}})
		ea := Endpoint{URL: "http://r.test/a", Interval: time.Minute}
		eb := Endpoint{URL: "http://r.test/b", Interval: time.Minute}
		p.Set("shop-1", []Endpoint{ea})
		run(t, p)
		time.Sleep(5*time.Minute + time.Second)
		p.Set("shop-1", []Endpoint{eb, ea}) // b samples from 5:01 on
		time.Sleep(5*time.Minute + 29*time.Second)
		p.Set("renamed", []Endpoint{eb}) // at 10:30
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		contiguous(t, a.points(depth), 0, 10)
		for name, want := range map[string][2]int{"shop-1": {5, 10}, "renamed": {11, 15}} {
			pts := b.points(strings.Replace(depth, "shop-1", name, 1))
			if len(pts) != want[1]-want[0]+1 || pts[0].ts != t0.Add(time.Duration(want[0])*time.Minute+time.Second).UnixMilli() {
				t.Errorf("b got %d samples as %s from %s; want minutes %d to %d", len(pts), name, time.UnixMilli(pts[0].ts).UTC().Format(time.TimeOnly), want[0], want[1])
			}
		}
		st := p.Status()
		if len(st) != 1 || st[0].Endpoint != 1 || st[0].Host != "r.test" {
			t.Errorf("status %+v", st)
		}
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 20s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
