package daemon

import (
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fluxrelay/fluxrelay/admin"
)

var _ admin.Cashier = (*Daemon)(nil)

// PageKeyFile is the file in data_dir that keeps the key the status page
// signs its PIN cookies with.
const PageKeyFile = "page-cookie.key"

// paymentsRead is how far back Payments reads: the page's search window,
// and a little more, so that a cached read still covers it a minute on.
const paymentsRead = admin.SearchWindow + 2*time.Minute

// cashier is the page's share of the daemon: the PIN guard and the last
// hour's payments, read again only when the status says something changed.
type cashier struct {
	once  sync.Once
	guard *admin.Guard

	mu   sync.Mutex
	key  [5]int64
	at   time.Time
	pays []admin.Payment
}

// PageGuard implements admin.Cashier: one guard for the page on every
// listener, reading admin.page_pin at each request.
func (d *Daemon) PageGuard() *admin.Guard {
	d.cashier.once.Do(func() {
		d.cashier.guard = admin.NewGuard(func() string { return d.cfg.Load().Admin.PagePIN.Value() },
			filepath.Join(d.cfg.Load().DataDir, PageKeyFile), d.opts.Now, d.log.With("component", "page"))
	})
	return d.cashier.guard
}

// PageContact implements admin.Cashier.
func (d *Daemon) PageContact() string { return d.cfg.Load().Admin.PageContact }

// Payments implements admin.Cashier: the sales received in the last hour
// and a little more, newest first, from the store's receive-time index.
// They are read again when st (the status the page shows them with) counts
// a notification stored, delivered or dead-lettered since the last read,
// and at least every minute; each of those counters moves only after the
// store has the change, so a read after a move sees it.
func (d *Daemon) Payments(st admin.Status) ([]admin.Payment, error) {
	now := d.opts.Now()
	key := [5]int64{st.QueueDepth, st.DeadLetters}
	for _, src := range st.Sources {
		key[2] += src.Delivered
		key[3] += src.Queued
		key[4] += src.Held
	}
	c := &d.cashier
	c.mu.Lock()
	defer c.mu.Unlock()
	if key == c.key && !c.at.IsZero() && now.Sub(c.at) < time.Minute && !now.Before(c.at) {
		return c.pays, nil
	}
	var pays []admin.Payment
	for r, err := range d.store.Received(now.Add(-paymentsRead), now.Add(time.Minute)) {
		if err != nil {
			return nil, err
		}
		if p, ok := admin.PaymentOf(r); ok {
			pays = append(pays, p)
		}
	}
	slices.Reverse(pays)
	c.key, c.at, c.pays = key, now, pays
	return pays, nil
}
