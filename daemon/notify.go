package daemon

import (
	"context"
	"time"

	"github.com/fluxrelay/fluxrelay/config"
)

// notify tells the service manager a state, when there is one.
func (d *Daemon) notify(state string) {
	if d.opts.Notify != nil {
		d.opts.Notify(state)
	}
}

// waitListeners waits, up to timeout, until every listener of cfg has
// either bound or failed its first try: READY=1 means the daemon takes
// notifications, or says in its state why it cannot.
func (d *Daemon) waitListeners(cfg *config.Config, timeout time.Duration) {
	want := []string{"http"}
	if cfg.MQTT.Mode == "embedded" {
		want = append(want, "mqtt")
	}
	if cfg.Admin.Listen != "" {
		want = append(want, "admin")
	}
	if cfg.Admin.PageListen != "" {
		want = append(want, "page")
	}
	deadline := time.After(timeout)
	for {
		d.mu.Lock()
		missing := 0
		for _, name := range want {
			if d.listeners[name] == nil {
				missing++
			}
		}
		d.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-d.boundCh:
		case <-time.After(20 * time.Millisecond): // Addr may have taken the signal
		case <-deadline:
			return
		}
	}
}

// watchdog sends WATCHDOG=1 every half interval while the store's writer
// answers a ping within that half. A writer stuck on a hung disk stops
// the pings, and systemd (WatchdogSec=) restarts the daemon.
func (d *Daemon) watchdog(ctx context.Context) error {
	half := d.opts.Watchdog / 2
	tick := time.NewTicker(half)
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, half)
		err := d.store.Ping(pctx)
		cancel()
		switch {
		case err == nil:
			d.notify("WATCHDOG=1")
		case ctx.Err() == nil:
			d.log.Error("the store did not answer within the watchdog's time; systemd will restart fluxrelay if it stays stuck", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
