package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/store"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

// BenchmarkThirtyDays runs a busy shop's month, fast: 10,000 notifications
// a day, each stored and then delivered, for 40 days, with the shipped
// retention and dedup window of 30 days. Badger expires records by the
// wall clock, so a day lasts CAPACITY_DAY (default 8s) and the 30-day
// windows are 30 of those: what is kept at the end is what a gateway keeps
// after a real month. It reports the store's disk use at the end against
// the shipped max_disk (1 GiB) and the bytes kept per notification of the
// last 30 days, and fails if the pace could not be kept.
func BenchmarkThirtyDays(b *testing.B) {
	day := 8 * time.Second
	if v, err := time.ParseDuration(os.Getenv("CAPACITY_DAY")); err == nil {
		day = v
	}
	const perDay, days, window = 10000, 40, 30
	const maxDisk = 1 << 30
	s, err := store.Open(store.Options{Dir: b.TempDir(), MaxDisk: maxDisk, MinFree: 1,
		DedupWindow: window * day, Retention: window * day})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	var peak int64
	var failed atomic.Pointer[error]
	for d := range days {
		var wg sync.WaitGroup
		work := make(chan int)
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					if failed.Load() != nil {
						continue // drain the day, then stop
					}
					r := realisticRecord(fmt.Sprintf("D%02d-%05d", d, i))
					if _, err := s.Enqueue(ctx, r); err != nil {
						e := fmt.Errorf("day %d: %w", d+1, err)
						failed.CompareAndSwap(nil, &e)
						continue
					}
					if err := s.Update(ctx, r.ID, func(x *notification.Record) error {
						x.State, x.Attempts, x.LastStatus, x.DeliveredAt = notification.Delivered, 1, 200, time.Now()
						return nil
					}); err != nil {
						e := fmt.Errorf("day %d: %w", d+1, err)
						failed.CompareAndSwap(nil, &e)
					}
				}
			}()
		}
		for i := range perDay {
			work <- i
		}
		close(work)
		wg.Wait()
		if err := failed.Load(); err != nil {
			b.Fatalf("refused with the shipped max_disk (%d MiB used): %v", s.Stats().DiskUsed>>20, *err)
		}
		if late := time.Since(start) - time.Duration(d+1)*day; late > day/2 {
			b.Fatalf("day %d took too long (%s behind): this machine cannot keep a %s day; set CAPACITY_DAY longer", d+1, late.Round(time.Millisecond), day)
		}
		time.Sleep(time.Until(start.Add(time.Duration(d+1) * day)))
		peak = max(peak, s.Stats().DiskUsed)
	}
	b.StopTimer()
	used := s.Stats().DiskUsed
	b.ReportMetric(float64(used)/(1<<20), "MiB_used")
	b.ReportMetric(float64(peak)/(1<<20), "MiB_peak")
	b.ReportMetric(float64(used)/(window*perDay), "B_kept/notif")
	b.ReportMetric(float64(peak)/maxDisk*100, "%max_disk_peak")
	if peak > maxDisk {
		b.Errorf("the store outgrew the shipped max_disk: %d MiB", peak>>20)
	}
}

// realisticRecord is a notification as a till's core webhook sends it
// (about 1 KB, its note 600 hex digits that compress about as well as real
// references, names and ids), mapped.
func realisticRecord(ref string) *notification.Record {
	r := storetest.NewRecord(ref, 1575050, storetest.T0)
	var note strings.Builder
	for sum := sha256.Sum256([]byte(ref)); note.Len() < 600; sum = sha256.Sum256(sum[:]) {
		note.WriteString(hex.EncodeToString(sum[:]))
	}
	n, _ := json.Marshal(note.String()[:600])
	r.Raw = []byte(`{"transactionRef":` + strconv.Quote(ref) + `,"paymentRef":` + strconv.Quote(ref) + `,"amount":"15750.50","paymentMethod":"ACCOUNT_TRANSFER","customer":{"id":"FXV-TILL-0001","name":"Demo Shop Till 1","email":"till-1@demo-shop.example.com","phone":"+2348000000000"},"accountNumber":"0000000001","bankCode":"000013","bankName":"Example Bank","accountName":"AMAKA EXAMPLE","note":` + string(n) + `}`)
	p := r.Payload
	p.PaymentRef, p.PaymentMethod = ref, "ACCOUNT_TRANSFER"
	p.Customer = notification.Customer{ID: "FXV-TILL-0001", Name: "Demo Shop Till 1", Email: "till-1@demo-shop.example.com", Phone: "+2348000000000"}
	p.AccountNumber, p.BankCode, p.BankName, p.AccountName = "0000000001", "000013", "Example Bank", "AMAKA EXAMPLE"
	p.Extra = []notification.Field{{Key: "note", Value: n}}
	return r
}
