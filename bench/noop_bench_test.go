package bench

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkNoopHTTP is BenchmarkIngest's baseline: the same 64 senders and
// bodies against an HTTP server that reads each body and answers 200 with
// a small JSON, storing nothing. Ingest ÷ this is how close the durable
// path comes to HTTP itself on the same cores.
func BenchmarkNoopHTTP(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"queued","id":"0000000000000000"}`)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	const senders = 64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}, Timeout: 30 * time.Second}
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	inParallel(b.N, senders, func(i int) {
		resp, err := client.Post("http://"+ln.Addr().String()+"/notify/till", "application/json", bytes.NewReader(body(fmt.Sprintf("N-%d", i))))
		if err != nil || resp.StatusCode != http.StatusOK {
			failed.Add(1)
		}
		if resp != nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d of %d requests failed", failed.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "noop/s")
}
