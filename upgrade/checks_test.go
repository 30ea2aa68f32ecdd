package upgrade

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/config"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
	"github.com/fluxrelay/fluxrelay/store"
)

// collect opens the upgraded store in this process with the current store
// package, as the daemon would, and runs the value-log collection the
// daemon otherwise runs every ten minutes.
func collect(t *testing.T, r release, g *gateway) {
	cfg, err := config.Load(g.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	before := vlogs(g)
	st, err := store.Open(store.Options{
		Dir: filepath.Join(g.data, "store"), MaxDisk: int64(cfg.Store.MaxDisk),
		DedupWindow: cfg.Store.DedupWindow.D(), Retention: cfg.Store.Retention.D(),
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("open the upgraded store: %v", err)
	}
	if st.MovedAside != "" {
		t.Errorf("opening the upgraded store moved it aside to %s", st.MovedAside)
	}
	st.CollectValueLog()
	if err := st.Close(); err != nil {
		t.Errorf("close the store after collection: %v", err)
	}
	after := vlogs(g)
	gone := without(before, after)
	t.Logf("value log: %v before collection, %v after; collected %v", before, after, gone)
	if r.valueLog && len(gone) == 0 {
		t.Errorf("collection moved nothing out of %s's value log: this run no longer tests it (the store's log:\n%s)", r.commit, tail(log.String(), 40))
	}
}

// deliverAndCheck starts the current build with the core up, waits until
// it has delivered what the earlier build left waiting, and checks the
// core's record, the dead letters, find and report.
func deliverAndCheck(t *testing.T, g *gateway, co *core, l *ledger, unclean int) {
	co.down.Store(false)
	g.start(current)
	st := g.waitStatus("every waiting notification delivered", func(st status) bool { return st.QueueDepth == 0 })
	if st.UncleanRestarts != unclean {
		t.Errorf("the current build's own clean stop was counted: %d unclean restarts, %d before", st.UncleanRestarts, unclean)
	}
	checkDeliveries(t, co, l)
	checkDeadLetters(t, g, l)
	checkFind(t, g, l)
	checkReport(t, g, l)
	if len(g.movedAside()) > 0 {
		t.Errorf("a store was moved aside: %v", g.movedAside())
	}
	g.stop(syscall.SIGTERM)
}

// checkDeliveries: every sale and every waiting notification reached the
// core exactly once, with its own Idempotency-Key and body; dead letters
// never were accepted; ignored and held ones never reached it.
func checkDeliveries(t *testing.T, co *core, l *ledger) {
	accepted, answered := co.byKey()
	known := map[string]*sent{}
	for _, s := range l.all {
		known[s.id] = s
	}
	for key, ds := range accepted {
		if known[key] == nil {
			t.Errorf("the core accepted %d deliveries with Idempotency-Key %s, which the test never sent: %.120s", len(ds), key, ds[0].Body)
		}
	}
	if n := co.invalid(); n > 0 {
		t.Errorf("%d deliveries reached the core with a bad signature", n)
	}
	for _, s := range l.all {
		got := accepted[s.id]
		switch s.kind {
		case sale, pending:
			if len(got) != 1 {
				t.Errorf("%s (%s, sent to %s) was delivered %d times; want exactly once", s.ref, s.kind, s.by, len(got))
				continue
			}
			var p struct {
				TransactionRef string      `json:"transactionRef"`
				Amount         json.Number `json:"amount"`
			}
			d := json.NewDecoder(bytes.NewReader(got[0].Body))
			d.UseNumber()
			if err := d.Decode(&p); err != nil || p.TransactionRef != s.ref || p.Amount.String() != s.amount() {
				t.Errorf("%s was delivered as %s %s (%v); want %s %s", s.id, p.TransactionRef, p.Amount, err, s.ref, s.amount())
			}
		case dead:
			if len(got) != 0 {
				t.Errorf("dead letter %s was accepted by the core %d times", s.ref, len(got))
			}
			if !answeredWith(answered[s.id], 422) {
				t.Errorf("dead letter %s was never refused with 422: the test did not make it a dead letter", s.ref)
			}
		case ignored, held:
			if n := len(answered[s.id]); n > 0 {
				t.Errorf("%s %s reached the core %d times", s.kind, s.ref, n)
			}
		}
	}
}

func answeredWith(ds []relaytest.Delivery, code int) bool {
	for _, d := range ds {
		if d.Answered == code {
			return true
		}
	}
	return false
}

// checkDeadLetters: dlq list shows every dead letter and held
// notification that was not dropped, and nothing else.
func checkDeadLetters(t *testing.T, g *gateway, l *ledger) {
	var list []struct {
		ID string `json:"id"`
	}
	g.cliJSON(current, &list, "dlq", "list")
	listed := map[string]bool{}
	for _, d := range list {
		listed[d.ID] = true
	}
	for _, s := range l.of(dead, held) {
		if listed[s.id] == s.dropped {
			t.Errorf("dlq list: %s %s (dropped: %v) listed: %v", s.kind, s.ref, s.dropped, listed[s.id])
		}
	}
	if want := int(l.waitingPersons()); len(list) != want {
		t.Errorf("dlq list has %d entries; want %d", len(list), want)
	}
}

// trail is what fluxrelay find --json prints of a notification.
type trail struct {
	ID             string `json:"id"`
	TransactionRef string `json:"transaction_ref"`
	Amount         string `json:"amount"`
	Where          string `json:"where"`
	Attempts       []struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	} `json:"attempts"`
	AttemptsLeftOut int `json:"attempts_left_out"`
}

// checkFind looks notifications up as a technician would, by reference
// (by the start of the id for the ones with no mapped reference): the
// first run's sales, everything that waited, every dead letter, held and
// ignored notification.
func checkFind(t *testing.T, g *gateway, l *ledger) {
	for _, s := range l.all {
		if s.kind == sale && s.by != l.all[0].by {
			continue
		}
		ref := s.ref
		if s.kind == held || s.kind == ignored {
			ref = s.id[:12]
		}
		var trails []trail
		g.cliJSON(current, &trails, "find", ref)
		var found *trail
		for i := range trails {
			if trails[i].ID == s.id {
				found = &trails[i]
			}
		}
		what := fmt.Sprintf("find %s (%s, sent to %s)", ref, s.kind, s.by)
		switch {
		case s.dropped:
			if found != nil {
				t.Errorf("%s: found a dropped dead letter: %+v", what, *found)
			}
			continue
		case found == nil:
			t.Errorf("%s: not found (%d other results)", what, len(trails))
			continue
		}
		want := s.kind
		if s.kind == pending {
			want = sale // delivered by the current build
		}
		if found.Where != string(want) {
			t.Errorf("%s: where %q, want %q", what, found.Where, want)
		}
		if s.kind == held || s.kind == ignored {
			continue
		}
		if found.TransactionRef != s.ref || found.Amount != s.amount() {
			t.Errorf("%s: %s %s, want %s %s", what, found.TransactionRef, found.Amount, s.ref, s.amount())
		}
		wantStatus := map[kind]int{sale: 200, pending: 200, dead: 422}[s.kind]
		if n := len(found.Attempts); n == 0 {
			t.Errorf("%s: no attempts in its trail (%d left out); want the last one, answered %d", what, found.AttemptsLeftOut, wantStatus)
		} else if last := found.Attempts[n-1]; last.Status != wantStatus {
			t.Errorf("%s: the last attempt in its trail was answered %d (%s); want %d", what, last.Status, last.Error, wantStatus)
		}
	}
}

// report is what fluxrelay report --json prints, the part checked.
type report struct {
	Days []struct {
		Total struct {
			Received    tally `json:"received"`
			Delivered   tally `json:"delivered"`
			Waiting     tally `json:"waiting"`
			NeedsPerson tally `json:"needs_person"`
		} `json:"total"`
	} `json:"days"`
}

type tally struct {
	Count int    `json:"count"`
	Sum   string `json:"sum"`
}

// checkReport: the report's counts and exact sums over the days around
// today agree with what was sent.
func checkReport(t *testing.T, g *gateway, l *ledger) {
	today := time.Now().UTC()
	var rep report
	g.cliJSON(current, &rep, "report", "--from", today.AddDate(0, 0, -1).Format("2006-01-02"), "--to", today.AddDate(0, 0, 1).Format("2006-01-02"))
	var got struct{ received, delivered, waiting, person tally }
	var kobo [4]int64
	for _, d := range rep.Days {
		for i, tl := range []tally{d.Total.Received, d.Total.Delivered, d.Total.Waiting, d.Total.NeedsPerson} {
			k, err := parseKobo(tl.Sum)
			if err != nil {
				t.Errorf("report: %q is not an amount", tl.Sum)
			}
			kobo[i] += k
			[]*tally{&got.received, &got.delivered, &got.waiting, &got.person}[i].Count += tl.Count
		}
	}
	var want [4]tally
	var wantKobo [4]int64
	add := func(i int, s *sent) { want[i].Count++; wantKobo[i] += s.kobo }
	for _, s := range l.of(sale, pending, dead) {
		if s.dropped {
			continue
		}
		add(0, s)
		if s.kind == dead {
			add(3, s)
		} else {
			add(1, s)
		}
	}
	names := []string{"received", "delivered", "waiting", "needing a person"}
	for i, tl := range []tally{got.received, got.delivered, got.waiting, got.person} {
		if tl.Count != want[i].Count || kobo[i] != wantKobo[i] {
			t.Errorf("report: %s %d for %s; want %d for %s", names[i], tl.Count, naira(kobo[i]), want[i].Count, naira(wantKobo[i]))
		}
	}
}

func parseKobo(s string) (int64, error) {
	var whole, frac int64
	_, err := fmt.Sscanf(s, "%d.%02d", &whole, &frac)
	return whole*100 + frac, err
}

func naira(kobo int64) string { return fmt.Sprintf("%d.%02d", kobo/100, kobo%100) }
