package daemon

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/fluxrelay/fluxrelay/admin"
	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/store"
)

var _ admin.Backend = (*Daemon)(nil)

// Ready reports whether the store is open and the daemon is running.
func (d *Daemon) Ready() bool { return d.ready.Load() }

// DeadLetters implements admin.Backend.
func (d *Daemon) DeadLetters() ([]*notification.Record, error) { return d.store.DeadLetters() }

// Find implements admin.Backend: an id may be any unique prefix.
func (d *Daemon) Find(prefix string) (*notification.Record, error) {
	r, err := d.store.Find(prefix)
	if errors.Is(err, store.ErrAmbiguous) {
		return nil, admin.ErrAmbiguous
	}
	return r, err
}

// FindRef implements admin.Backend.
func (d *Daemon) FindRef(ref string) ([]*notification.Record, error) { return d.store.FindRef(ref) }

// Replay puts a dead letter back in the queue, due now, with a fresh
// retry budget. A held one is mapped again first (remap).
func (d *Daemon) Replay(ctx context.Context, id string) (admin.Replayed, error) {
	r, err := d.store.Get(id)
	if err != nil {
		return admin.Replayed{}, err
	}
	if r.State == notification.Dead && r.Held() && !d.forwardsRaw(r.Source) {
		return d.remap(ctx, r)
	}
	now := d.opts.Now()
	err = d.store.Update(ctx, id, func(r *notification.Record) error {
		if r.State != notification.Dead {
			return admin.ErrNotDead
		}
		if !d.sendable(r) {
			return admin.ErrCannotSend
		}
		r.State, r.NextAttempt, r.Attempts, r.FailingFor = notification.Pending, now, 0, 0
		r.Reason, r.DeadAt, r.LastAttempt = "", time.Time{}, time.Time{} // max_age counts afresh
		return nil
	})
	if err != nil {
		return admin.Replayed{}, err
	}
	d.log.Info("dead letter replayed", "id", id)
	return admin.Replayed{Status: "replayed", ID: id, Message: "queued again"}, nil
}

// forwardsRaw reports whether the source passes its requests on unchanged
// (forward = "raw"): what it sends needs no mapping.
func (d *Daemon) forwardsRaw(source string) bool {
	for _, s := range d.cfg.Load().Sources {
		if s.Name == source {
			return s.Forward == "raw"
		}
	}
	return false
}

// sendable reports whether a record can go to its target as it is: a held
// notification with no payload or no amount cannot go to the core webhook
// (its raw body can still be forwarded by a forward = "raw" source).
func (d *Daemon) sendable(r *notification.Record) bool {
	return (r.Payload != nil && r.Payload.Amount > 0) || d.forwardsRaw(r.Source)
}

// Drop deletes a dead letter (its dedup entry stays, so a resend is still
// answered "duplicate").
func (d *Daemon) Drop(ctx context.Context, id string) error {
	r, err := d.store.Get(id)
	if err != nil {
		return err
	}
	if r.State != notification.Dead {
		return admin.ErrNotDead
	}
	if err := d.store.Drop(ctx, id); err != nil {
		return err
	}
	d.log.Info("dead letter dropped", "id", id, "source", r.Source, "transaction_ref", r.TransactionRef())
	return nil
}

// replayBatch bounds the notifications one replay transaction changes.
const replayBatch = 256

// ReplayWindow implements admin.Backend: for Fluxvend after it restored a
// backup (delivered ones too), or a technician after fixing a mapping.
func (d *Daemon) ReplayWindow(ctx context.Context, w admin.ReplayWindow) (admin.ReplayResult, error) {
	loc, now := d.loc.Load(), d.opts.Now()
	since, ok := parseWhen(w.Since, loc)
	until := now
	if w.Until != "" {
		until, ok = parseWhen(w.Until, loc)
		ok = ok && since.Before(until)
	}
	res := admin.ReplayResult{Since: since, Until: until}
	if !ok || w.Since == "" {
		return res, admin.ErrBadWindow
	}
	var ids []string
	for r, err := range d.store.Received(since, until) {
		if err != nil {
			return res, err
		}
		if w.Source != "" && r.Source != w.Source {
			continue
		}
		switch {
		case r.State == notification.Dead && !d.sendable(r):
			res.Held++
		case r.State == notification.Dead:
			res.DeadLetters++
			ids = append(ids, r.ID)
		case r.State == notification.Delivered && w.Delivered:
			res.Delivered++
			ids = append(ids, r.ID)
		}
	}
	if w.DryRun {
		return res, nil
	}
	for len(ids) > 0 {
		n := min(len(ids), replayBatch)
		done, err := d.store.UpdateEach(ctx, ids[:n], func(r *notification.Record) error {
			if r.State != notification.Dead && !(w.Delivered && r.State == notification.Delivered) {
				return admin.ErrNotDead
			}
			r.State, r.NextAttempt, r.Attempts, r.FailingFor = notification.Pending, now, 0, 0
			r.Reason, r.DeadAt, r.LastAttempt, r.DeliveredAt = "", time.Time{}, time.Time{}, time.Time{}
			return nil
		})
		res.Replayed += done
		if err != nil {
			return res, err
		}
		ids = ids[n:]
	}
	d.log.Info("a window replayed", "since", since, "until", until, "source", w.Source, "dead_letters", res.DeadLetters, "delivered", res.Delivered, "replayed", res.Replayed)
	return res, nil
}

// parseWhen reads a time given on the command line, in the gateway's zone
// when it carries none.
func parseWhen(s string, loc *time.Location) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// Report implements admin.Backend: from and to are days in the gateway's
// zone; none is today, from alone is up to today.
func (d *Daemon) Report(from, to string) (admin.Report, error) {
	loc := d.loc.Load()
	today := d.opts.Now().In(loc).Format("2006-01-02")
	if from == "" {
		from = today
	}
	if to == "" {
		to = today
	}
	start, err1 := time.ParseInLocation("2006-01-02", from, loc)
	last, err2 := time.ParseInLocation("2006-01-02", to, loc)
	if err1 != nil || err2 != nil || last.Before(start) {
		return admin.Report{}, admin.ErrBadDay
	}
	return admin.BuildReport(d.store.Received(start, last.AddDate(0, 0, 1)), loc)
}

// Today implements admin.Backend: today's totals, counted again when st
// (the status the page shows them with) says anything was received,
// delivered or dead-lettered since they were, and at least every 5
// minutes.
func (d *Daemon) Today(st admin.Status) admin.ReportDay {
	now := d.opts.Now()
	key := [4]int64{st.QueueDepth, st.DeadLetters} // then delivered, received
	for _, src := range st.Sources {
		key[2] += src.Delivered
		key[3] += src.Received
	}
	d.todayMu.Lock()
	defer d.todayMu.Unlock()
	if key == d.todayKey && now.Sub(d.todayAt) < 5*time.Minute && !d.todayAt.IsZero() {
		return d.today
	}
	d.todayKey = key
	rep, err := d.Report("", "")
	day := admin.ReportDay{Day: now.In(d.loc.Load()).Format("2006-01-02")}
	if err == nil && len(rep.Days) == 1 {
		day = rep.Days[0]
	}
	for _, t := range []*admin.Tally{&day.Total.Received, &day.Total.Delivered} {
		if t.Sum == "" {
			t.Sum = "0.00"
		}
	}
	d.today, d.todayAt = day, now
	return day
}
