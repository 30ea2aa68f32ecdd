package storetest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/store"
)

// Queue is the store contract the suite checks.
type Queue interface {
	Enqueue(ctx context.Context, r *notification.Record) (notification.Status, error)
	Update(ctx context.Context, id string, fn func(*notification.Record) error) error
	UpdateFrom(ctx context.Context, read *notification.Record, fn func(*notification.Record) error) error
	Drop(ctx context.Context, id string) error
	Due(now time.Time, skip map[string]bool) (iter.Seq2[*notification.Record, error], func() time.Time)
	Get(id string) (*notification.Record, error)
	Find(prefix string) (*notification.Record, error)
	DeadLetters() ([]*notification.Record, error)
	Stats() store.Stats
	CapSchedule(ctx context.Context, limit time.Time) (int, error)
	Wake() <-chan struct{}
	Close() error
}

// T0 is the suite's reference time.
var T0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// NewRecord returns a pending notification for transactionRef ref.
func NewRecord(ref string, amount notification.Amount, received time.Time) *notification.Record {
	p := &notification.Payload{TenantID: "t1", TransactionRef: ref, Amount: amount, TransactionDate: received}
	return &notification.Record{
		ID: notification.NewID("pos", "core", "t1", ref), Source: "pos", Provider: "core", Tenant: "t1",
		DedupKey: ref, ReceivedAt: received,
		Delivery: notification.Delivery{State: notification.Pending, NextAttempt: received},
		Raw:      []byte(`{"transactionRef":"` + ref + `"}`), Payload: p,
	}
}

// Run checks the store contract against queues made by open.
func Run(t *testing.T, open func(t *testing.T) Queue) {
	ctx := context.Background()
	t.Run("EnqueueDuplicateConflict", func(t *testing.T) {
		q := open(t)
		r := NewRecord("ref-1", 150050, T0)
		if st, err := q.Enqueue(ctx, r); err != nil || st != notification.StatusQueued {
			t.Fatalf("first enqueue = %q, %v; want queued", st, err)
		}
		again := NewRecord("ref-1", 150050, T0.Add(time.Minute))
		again.Payload.TransactionDate = T0 // same content, later arrival
		if st, err := q.Enqueue(ctx, again); err != nil || st != notification.StatusDuplicate {
			t.Fatalf("repeat = %q, %v; want duplicate", st, err)
		}
		other := NewRecord("ref-1", 200000, T0)
		_, err := q.Enqueue(ctx, other)
		var ce *notification.ConflictError
		if !errors.As(err, &ce) {
			t.Fatalf("different amount: err = %v; want a ConflictError", err)
		}
		if want := "amount 2000.00 was 1500.50"; !strings.Contains(ce.Error(), want) {
			t.Errorf("conflict message %q does not name the difference %q", ce.Error(), want)
		}
		if st := q.Stats(); st.Pending != 1 {
			t.Errorf("pending = %d after one new, one repeat and one conflict; want 1", st.Pending)
		}
	})
	t.Run("AliasIDs", func(t *testing.T) {
		q := open(t)
		// Known under an id of an earlier scheme.
		old := NewRecord("ref-alias", 150050, T0)
		old.ID = "earlier-scheme-id-0001"
		mustEnqueue(t, q, old)
		same := NewRecord("ref-alias", 150050, T0.Add(time.Minute))
		same.Payload.TransactionDate = T0
		same.AliasIDs = []string{"unknown-id", old.ID}
		if st, err := q.Enqueue(ctx, same); err != nil || st != notification.StatusDuplicate {
			t.Errorf("the same notification under a new id, known by its alias = %q, %v; want duplicate", st, err)
		}
		if _, err := q.Get(same.ID); !errors.Is(err, notification.ErrNotFound) {
			t.Errorf("a duplicate known by its alias was stored under its new id (%v)", err)
		}
		other := NewRecord("ref-alias", 999, T0)
		other.AliasIDs = []string{old.ID}
		var ce *notification.ConflictError
		if _, err := q.Enqueue(ctx, other); !errors.As(err, &ce) || ce.ID != old.ID {
			t.Errorf("other content under a known alias = %v; want a conflict naming %s", err, old.ID)
		}
		// Past retention only the dedup entry is left: still a duplicate.
		if err := q.Drop(ctx, old.ID); err != nil {
			t.Fatal(err)
		}
		if st, err := q.Enqueue(ctx, same); err != nil || st != notification.StatusDuplicate {
			t.Errorf("known by its alias's dedup entry alone = %q, %v; want duplicate", st, err)
		}
		fresh := NewRecord("ref-alias-new", 100, T0)
		fresh.AliasIDs = []string{"never-seen"}
		if st, err := q.Enqueue(ctx, fresh); err != nil || st != notification.StatusQueued {
			t.Errorf("a new notification with unknown aliases = %q, %v; want queued", st, err)
		}
	})
	// dueList takes up to limit records from a Due pass.
	dueList := func(q Queue, now time.Time, limit int, skip map[string]bool) ([]*notification.Record, time.Time, error) {
		seq, next := q.Due(now, skip)
		var out []*notification.Record
		for r, err := range seq {
			if err != nil {
				return out, time.Time{}, err
			}
			out = append(out, r)
			if len(out) == limit {
				break
			}
		}
		return out, next(), nil
	}
	t.Run("IgnoredIsKeptButNotDue", func(t *testing.T) {
		q := open(t)
		r := NewRecord("ref-ign", 100, T0)
		r.State, r.Payload, r.Reason = notification.Ignored, nil, "failed payment"
		if st, err := q.Enqueue(ctx, r); err != nil || st != notification.StatusIgnored {
			t.Fatalf("enqueue ignored = %q, %v", st, err)
		}
		if due, _, _ := dueList(q, T0.Add(time.Hour), 10, nil); len(due) != 0 {
			t.Errorf("an ignored notification is due: %v", due)
		}
		if st, _ := q.Enqueue(ctx, r); st != notification.StatusDuplicate {
			t.Errorf("repeat of an ignored notification = %q; want duplicate", st)
		}
		if got, err := q.Get(r.ID); err != nil || got.Reason != "failed payment" {
			t.Errorf("Get = %+v, %v", got, err)
		}
	})
	t.Run("DueOrderAndSchedule", func(t *testing.T) {
		q := open(t)
		for i := range 5 {
			mustEnqueue(t, q, NewRecord(fmt.Sprintf("ref-%d", i), 100, T0.Add(time.Duration(i)*time.Second)))
		}
		due, next, err := dueList(q, T0.Add(2*time.Second), 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := refs(due); fmt.Sprint(got) != "[ref-0 ref-1 ref-2]" {
			t.Errorf("due = %v; want ref-0..ref-2 in order", got)
		}
		if !next.Equal(T0.Add(3 * time.Second)) {
			t.Errorf("next = %v; want T0+3s", next)
		}
		if got, _, _ := dueList(q, T0.Add(2*time.Second), 1, map[string]bool{due[0].ID: true}); len(got) != 1 || got[0].TransactionRef() != "ref-1" {
			t.Errorf("Due skipping ref-0 = %v; want ref-1", refs(got))
		}
		if got, _, _ := dueList(q, T0.Add(2*time.Second), 1, map[string]bool{due[0].ID: true, due[1].ID: true}); len(got) != 1 || got[0].TransactionRef() != "ref-2" {
			t.Errorf("Due skipping ref-0 and ref-1 = %v; want ref-2", refs(got))
		}
		// Reschedule ref-0 after everything: the order follows.
		mustUpdate(t, q, due[0].ID, func(r *notification.Record) error {
			r.Attempts++
			r.NextAttempt = T0.Add(time.Hour)
			return nil
		})
		got, _, _ := dueList(q, T0.Add(2*time.Hour), 10, nil)
		if fmt.Sprint(refs(got)) != "[ref-1 ref-2 ref-3 ref-4 ref-0]" {
			t.Errorf("after reschedule due = %v", refs(got))
		}
		if got[4].Attempts != 1 {
			t.Errorf("attempts = %d; want 1", got[4].Attempts)
		}
		if n, _ := q.CapSchedule(ctx, T0.Add(30*time.Minute)); n != 1 {
			t.Errorf("CapSchedule moved %d; want 1", n)
		}
		if r, _ := q.Get(due[0].ID); !r.NextAttempt.Equal(T0.Add(30 * time.Minute)) {
			t.Errorf("capped next attempt = %v", r.NextAttempt)
		}
		if st := q.Stats(); !st.OldestPending.Equal(T0) {
			t.Errorf("oldest pending = %v; want T0", st.OldestPending)
		}
	})
	t.Run("DeliverDeadReplayDrop", func(t *testing.T) {
		q := open(t)
		a, b := NewRecord("ref-a", 100, T0), NewRecord("ref-b", 100, T0.Add(time.Second))
		mustEnqueue(t, q, a)
		mustEnqueue(t, q, b)
		mustUpdate(t, q, a.ID, func(r *notification.Record) error {
			r.State, r.DeliveredAt = notification.Delivered, T0
			return nil
		})
		mustUpdate(t, q, b.ID, func(r *notification.Record) error {
			r.State, r.Reason, r.LastStatus = notification.Dead, "Fluxvend answered 422", 422
			return nil
		})
		st := q.Stats()
		if st.Pending != 0 || st.Dead != 1 || !st.OldestPending.IsZero() {
			t.Errorf("stats = %+v; want 0 pending, 1 dead", st)
		}
		if due, _, _ := dueList(q, T0.Add(time.Hour), 10, nil); len(due) != 0 {
			t.Errorf("delivered or dead notifications are due: %v", refs(due))
		}
		dead, _ := q.DeadLetters()
		if len(dead) != 1 || dead[0].ID != b.ID || dead[0].LastStatus != 422 {
			t.Fatalf("dead letters = %v", dead)
		}
		if r, err := q.Find(b.ID[:6]); err != nil || r.ID != b.ID {
			t.Errorf("Find(prefix) = %v, %v", r, err)
		}
		if _, err := q.Find("zz"); !errors.Is(err, notification.ErrNotFound) {
			t.Errorf("Find(unknown) err = %v; want ErrNotFound", err)
		}
		mustUpdate(t, q, b.ID, func(r *notification.Record) error {
			r.State, r.NextAttempt, r.Attempts = notification.Pending, T0, 0
			return nil
		})
		if st := q.Stats(); st.Pending != 1 || st.Dead != 0 {
			t.Errorf("after replay stats = %+v", st)
		}
		if err := q.Drop(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		if st := q.Stats(); st.Pending != 0 {
			t.Errorf("after drop pending = %d", st.Pending)
		}
		if st, _ := q.Enqueue(ctx, NewRecord("ref-b", 100, T0.Add(time.Second))); st != notification.StatusDuplicate {
			t.Errorf("resend of a dropped notification = %q; want duplicate (the dedup entry stays)", st)
		}
		if err := q.Update(ctx, "nope", func(*notification.Record) error { return nil }); !errors.Is(err, notification.ErrNotFound) {
			t.Errorf("Update(unknown) = %v; want ErrNotFound", err)
		}
		boom := errors.New("boom")
		if err := q.Update(ctx, a.ID, func(r *notification.Record) error { r.State = notification.Pending; return boom }); !errors.Is(err, boom) {
			t.Errorf("Update whose fn fails = %v; want its error", err)
		}
		if r, _ := q.Get(a.ID); r.State != notification.Delivered {
			t.Errorf("a failed update changed the record: state %s", r.State)
		}
	})
	t.Run("UpdateFromAReadThatIsNoLongerCurrent", func(t *testing.T) {
		q := open(t)
		r := NewRecord("ref-u", 100, T0)
		mustEnqueue(t, q, r)
		read, err := q.Get(r.ID)
		if err != nil {
			t.Fatal(err)
		}
		inc := func(x *notification.Record) error { x.Attempts++; return nil }
		mustUpdate(t, q, r.ID, func(x *notification.Record) error { x.Attempts = 5; return nil })
		// read is stale now: the change must start from the stored record.
		if err := q.UpdateFrom(ctx, read, inc); err != nil {
			t.Fatal(err)
		}
		if got, _ := q.Get(r.ID); got.Attempts != 6 {
			t.Errorf("attempts = %d after an update from a stale read; want 6 (5 + 1)", got.Attempts)
		}
		// Many at once from one read, as a batch gathers them: none lost.
		read, _ = q.Get(r.ID)
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := q.UpdateFrom(ctx, read, inc); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got, _ := q.Get(r.ID); got.Attempts != 56 {
			t.Errorf("attempts = %d after 50 concurrent updates from one read; want 56", got.Attempts)
		}
		q.Drop(ctx, r.ID)
		if err := q.UpdateFrom(ctx, read, inc); !errors.Is(err, notification.ErrNotFound) {
			t.Errorf("UpdateFrom(dropped) = %v; want ErrNotFound", err)
		}
	})
	t.Run("UpdateKeepsWhatArrived", func(t *testing.T) {
		q := open(t)
		r := NewRecord("ref-k", 100, T0)
		mustEnqueue(t, q, r)
		mustUpdate(t, q, r.ID, func(x *notification.Record) error {
			x.State, x.Reason, x.Attempts = notification.Dead, "422", 3
			x.Raw, x.Source = []byte(`{"rewritten":true}`), "elsewhere"
			x.Payload = &notification.Payload{TenantID: "t1", TransactionRef: "ref-k", Amount: 999}
			return nil
		})
		got, err := q.Get(r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != notification.Dead || got.Reason != "422" || got.Attempts != 3 {
			t.Errorf("delivery after the update = %+v; want dead, 422, 3 attempts", got.Delivery)
		}
		if string(got.Raw) != string(r.Raw) || got.Source != "pos" || got.Payload.Amount != 100 {
			t.Errorf("an update changed what arrived: raw %s, source %q, amount %s", got.Raw, got.Source, got.Payload.Amount)
		}
	})
	t.Run("WakeAfterEnqueue", func(t *testing.T) {
		q := open(t)
		for len(q.Wake()) > 0 {
			<-q.Wake()
		}
		mustEnqueue(t, q, NewRecord("ref-w", 100, T0))
		select {
		case <-q.Wake():
		case <-time.After(5 * time.Second):
			t.Fatal("no wake-up after an enqueue")
		}
	})
	t.Run("ConcurrentEnqueue", func(t *testing.T) {
		q := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 25 {
					// every worker also sends the others' refs: duplicates
					for _, ref := range []string{fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("w%d-%d", (w+1)%8, i)} {
						if _, err := q.Enqueue(ctx, NewRecord(ref, 100, T0)); err != nil {
							errs <- err
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if st := q.Stats(); st.Pending != 200 {
			t.Errorf("pending = %d; want 200 distinct", st.Pending)
		}
	})
}

func mustEnqueue(t *testing.T, q Queue, r *notification.Record) {
	t.Helper()
	if _, err := q.Enqueue(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

func mustUpdate(t *testing.T, q Queue, id string, fn func(*notification.Record) error) {
	t.Helper()
	if err := q.Update(context.Background(), id, fn); err != nil {
		t.Fatal(err)
	}
}

func refs(rs []*notification.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.TransactionRef())
	}
	return out
}
