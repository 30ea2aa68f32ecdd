package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/store"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

// BenchmarkEnqueueConcurrent measures group commit: 64 goroutines enqueue
// at once, each waiting for its own durable commit.
func BenchmarkEnqueueConcurrent(b *testing.B) {
	s, err := store.Open(store.Options{Dir: b.TempDir(), MinFree: 1, DedupWindow: time.Hour, Retention: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if _, err := s.Enqueue(context.Background(), storetest.NewRecord(fmt.Sprint("ref-", i), 100, storetest.T0)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "enqueue/s")
}

// BenchmarkEnqueueSerial is the same with one goroutine: every enqueue
// pays its own fsync. The ratio to BenchmarkEnqueueConcurrent is what
// group commit buys.
func BenchmarkEnqueueSerial(b *testing.B) {
	s, err := store.Open(store.Options{Dir: b.TempDir(), MinFree: 1, DedupWindow: time.Hour, Retention: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Enqueue(context.Background(), storetest.NewRecord(fmt.Sprint("ref-", i), 100, storetest.T0)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "enqueue/s")
}
