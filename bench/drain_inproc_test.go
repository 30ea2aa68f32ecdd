package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/provider"
	"github.com/fluxrelay/fluxrelay/relay"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
	"github.com/fluxrelay/fluxrelay/store"
)

// BenchmarkRelayDrainInProcess is BenchmarkDrain without the process
// boundary: the real store on this disk and the real relay, in this
// process, so that `-cpuprofile` and `-blockprofile` see the relay's own
// costs. The store is filled before the timer starts;
// FLUXRELAY_DRAIN_PROFILE=file writes a CPU profile of the drain alone.
func BenchmarkRelayDrainInProcess(b *testing.B) {
	n := b.N
	st, err := store.Open(store.Options{Dir: b.TempDir(), MinFree: 1, DedupWindow: time.Hour, Retention: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	// The same bodies and headers as the daemon's benchmarks, through the
	// same intake: records of the daemon's size (about 1.7 KB, so in the
	// value log as they are there).
	in := ingest.NewIntake(st, nil, time.Now)
	in.SetSources([]*ingest.Source{{Name: "till", Provider: "core", Verifier: &provider.Core{}}})
	hdr := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"Go-http-client/1.1"}}
	inParallel(n, 64, func(i int) {
		req := &provider.Request{Body: body(fmt.Sprint("DRAIN-", i)), Header: hdr, Received: time.Now()}
		if a := in.Accept(context.Background(), "till", req, ingest.Meta{}); a.Outcome != ingest.Queued {
			b.Errorf("intake answered %s: %s", a.Outcome, a.Error)
		}
	})
	if b.Failed() {
		b.FailNow()
	}
	core := &relaytest.Core{APIKey: "K", APISecret: "S"}
	srv := httptest.NewServer(core)
	defer srv.Close()
	bare := bareClientRate(srv.URL+"/hook", n)
	before := core.AcceptedCount()
	r := relay.New(st, relay.Options{Concurrency: benchConcurrency, Timeout: 10 * time.Second, RetryMaxWait: time.Second, MaxAge: time.Hour})
	r.SetTargets(relay.Target{URL: srv.URL + "/hook", Tenant: "bench", SigningKey: notification.SigningKey("", "K", "S")}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if path := os.Getenv("FLUXRELAY_DRAIN_PROFILE"); path != "" {
		// The CPU profile of the drain alone, without the fill.
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	cpu0 := cpuSeconds(os.Getpid())
	b.ResetTimer()
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }()
	// The relay stops, its last outcomes written, before the store closes.
	defer func() { cancel(); <-ran }()
	for deadline := time.Now().Add(10 * time.Minute); core.AcceptedCount()-before < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d delivered", core.AcceptedCount()-before, n)
		}
	}
	b.StopTimer()
	rate := float64(n) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "drained/s")
	b.ReportMetric(bare, "bare_client/s")
	b.ReportMetric(rate/bare, "x_bare_client")
	b.ReportMetric((cpuSeconds(os.Getpid())-cpu0)/b.Elapsed().Seconds(), "cores")
}
