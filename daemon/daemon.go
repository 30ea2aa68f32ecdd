// Package daemon wires fluxrelay together: it opens the store, starts the
// relay, then the listeners, and stops them in reverse order. It applies
// reloads and answers for the daemon's state. It never touches signals.
//
// What happens when a part fails, decided per part:
//
//   - The store: opened first and closed last. If it cannot be opened, Run
//     returns the error (an unreadable store is first moved aside and a
//     fresh one opened; see store.Open).
//   - The relay: if it fails (it cannot read its queue), the daemon stops
//     and the service manager restarts it. Staying up would acknowledge
//     notifications that nothing delivers, with the state still OK.
//   - The HTTP, admin and page listeners and the embedded broker: an
//     address that cannot be bound is tried again every few seconds and
//     the state says ACTION NEEDED with the fix, since the other ways in
//     keep working. Any other failure (a TLS file that cannot be read, a
//     server that stops serving) stops the daemon.
//   - The admin socket: one that cannot be created leaves the state
//     saying so; the TCP admin API still works.
//   - The external MQTT subscription: a broker that cannot be reached is
//     retried by the client and shown in the state; a setup error (its TLS
//     files) stops the daemon.
//
// Whatever stops the daemon, every part is stopped in the reverse order of
// its start: ingest stops taking notifications, then the relay stops (what
// is in flight stays queued), then the store is closed. The whole stop is
// bounded (15 s, the store's close kept 5 s of it), inside the service
// managers' stop timeouts.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxrelay/fluxrelay/admin"
	"github.com/fluxrelay/fluxrelay/alert"
	"github.com/fluxrelay/fluxrelay/config"
	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/ingest/httpingest"
	"github.com/fluxrelay/fluxrelay/ingest/mqttingest"
	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/provider"
	"github.com/fluxrelay/fluxrelay/relay"
	"github.com/fluxrelay/fluxrelay/remotewrite"
	"github.com/fluxrelay/fluxrelay/store"
)

// Options are what the daemon takes besides its config.
type Options struct {
	Version string
	Logger  *slog.Logger
	// Level, when set, is changed on reload to follow log.level.
	Level *slog.LevelVar
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PauseProbe overrides how often a paused webhook is tried (tests).
	PauseProbe time.Duration
	// WatchEvery overrides how often the state is looked at for alerts
	// (default 5s).
	WatchEvery time.Duration
	// Notify, when set, is told the service manager's states (systemd's
	// notify protocol): READY=1 once the store is open and the listeners
	// have started, STATUS= with the state line when it changes,
	// STOPPING=1, and WATCHDOG=1 every Watchdog/2 while the store's writer
	// answers.
	Notify   func(state string)
	Watchdog time.Duration
	// SyncFault, when set (tests), stands for the disk: it is asked before
	// each sync of the store's files, and an error it returns is that
	// sync's.
	SyncFault func(path string) error
}

// Daemon is one running fluxrelay.
type Daemon struct {
	opts Options
	log  *slog.Logger
	cfg  atomic.Pointer[config.Config]

	store   *store.Store
	intake  *ingest.Intake
	http    *httpingest.Handler
	relay   *relay.Relay
	broker  *mqttingest.Broker // nil unless mqtt.mode is "embedded"
	alerter *alert.Alerter
	metrics *admin.Metrics
	pusher  *remotewrite.Pusher // [[remote_write]]

	started   time.Time
	ready     atomic.Bool
	mu        sync.Mutex
	listeners map[string]*listener
	reload    ReloadResult
	boundCh   chan struct{}
	parts     *parts
	loc       atomic.Pointer[time.Location] // the shop's time zone
	cashier   cashier                       // the page's PIN guard and payments

	todayMu    sync.Mutex
	today      admin.ReportDay // cached for the page
	todayAt    time.Time
	unclean    Unclean // unclean restarts so far
	uncleanNow bool    // this start was one
	// todayKey is what the store and counters said when today was counted.
	todayKey [4]int64
}

// New checks that cfg can be run and prepares the daemon; nothing is opened
// until Run.
func New(cfg *config.Config, opts Options) (*Daemon, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := &Daemon{opts: opts, log: opts.Logger, listeners: map[string]*listener{}, boundCh: make(chan struct{}, 16), parts: newParts(opts.Logger)}
	if _, err := d.sources(cfg); err != nil {
		return nil, err
	}
	d.cfg.Store(cfg)
	return d, nil
}

// Run runs the daemon until ctx ends. A value on reload re-reads the config
// file. Stopping takes 15 s at most: ingest stops accepting first, then
// deliveries in flight are abandoned (they stay queued), then the store is
// closed.
func (d *Daemon) Run(ctx context.Context, reload <-chan struct{}) error {
	cfg := d.cfg.Load()
	d.started = d.opts.Now()
	d.reload = ReloadResult{At: d.started.UTC(), OK: true}
	// A start refused because another fluxrelay has the store is no
	// restart at all: it must not count, nor touch the other's record of
	// its stops. So the lock is looked at before anything else.
	if storeInUse(storeDir(cfg)) {
		return fmt.Errorf("data_dir %s: another fluxrelay is running on it (its store is locked); stop that one first (systemctl status fluxrelay), or give this one its own data_dir", cfg.DataDir)
	}
	stop, err := readLastStop(cfg.DataDir)
	if err != nil {
		d.log.Warn("cannot keep the record of clean stops in data_dir", "err", err)
	}
	st, err := openStore(cfg, d.log, d.opts.Now, d.opts.SyncFault)
	if err != nil {
		return err
	}
	_, markers := st.OpenedAs()
	unclean, uncleanNow, err := checkUnclean(cfg.DataDir, d.started, stop, markers)
	if err != nil {
		d.log.Warn("cannot keep the record of clean stops in data_dir", "err", err)
	}
	d.unclean, d.uncleanNow = unclean, uncleanNow
	if uncleanNow {
		d.log.Warn("fluxrelay was not stopped cleanly last time (a power cut, a kill or a crash); nothing acknowledged is lost, but frequent power cuts wear an SD card — a UPS helps",
			"unclean_restarts", unclean.Count)
	}
	d.store = st
	// The store is the first part: stopped (closed) last, and the stop is
	// recorded as clean only once it is closed.
	ps := d.parts
	ps.opened("store", func() error {
		if err := st.Close(); err != nil {
			d.log.Error("closing the store", "err", err)
			return err
		}
		if err := markClean(cfg.DataDir); err != nil {
			d.log.Warn("cannot record the clean stop in data_dir", "err", err)
		}
		return nil
	})
	d.metrics = admin.NewMetrics(d)
	d.intake = ingest.NewIntake(st, d.log.With("component", "ingest"), d.opts.Now)
	d.intake.SetLimits(ingest.Limits{MaxBody: int64(cfg.HTTP.MaxBody), DedupWindow: cfg.Store.DedupWindow.D()})
	if cfg.MQTT.Mode == "embedded" {
		d.broker = mqttingest.NewBroker(d.intake, nil, mqttingest.BrokerOptions{
			Listen: cfg.MQTT.Listen, TopicPrefix: cfg.MQTT.TopicPrefix, Logger: d.log.With("component", "mqtt"), Now: d.opts.Now,
			OnListen: func(addr string, err error) { d.setListener("mqtt", addr, err) },
		})
	}
	d.http = httpingest.New(d.intake, int64(cfg.HTTP.MaxBody), d.opts.Now)
	d.relay = relay.New(st, relay.Options{
		Concurrency:  cfg.Core.Concurrency,
		Timeout:      cfg.Core.Timeout.D(),
		RetryMaxWait: cfg.Core.RetryMaxWait.D(),
		MaxAge:       cfg.Core.MaxAge.D(),
		PauseProbe:   d.opts.PauseProbe,
		Observe:      func(result string, since time.Duration) { d.metrics.Delivery(result, since) },
		Version:      d.opts.Version,
		Now:          d.opts.Now,
		Logger:       d.log.With("component", "relay"),
	})
	d.alerter = alert.New(alert.Options{Logger: d.log.With("component", "alert")})
	d.pusher = d.newPusher()
	if err := d.apply(cfg); err != nil {
		return errors.Join(err, ps.stop())
	}

	// Each part is stopped in the reverse order of its start: the
	// listeners stop taking notifications, then the relay stops, then the
	// store is closed.
	ps.start("relay", d.relay.Run)
	ps.start("alerts", d.alerter.Run)
	ps.start("remote_write", d.pusher.Run)
	ps.start("watch", d.watch)
	ps.start("http", func(ctx context.Context) error {
		return d.serve(ctx, "http", cfg.HTTP.Listen, d.http, cfg.HTTP.TLSCertFile, cfg.HTTP.TLSKeyFile)
	})
	switch cfg.MQTT.Mode {
	case "embedded":
		ps.start("mqtt", func(ctx context.Context) error { return d.runBroker(ctx, cfg) })
	case "external":
		ps.start("mqtt", func(ctx context.Context) error { return d.runSubscriber(ctx, cfg) })
	}
	if cfg.Admin.Listen != "" {
		h := admin.Handler(d, func() string { return d.cfg.Load().Admin.Token.Value() }, d.metrics.Registry())
		ps.start("admin", func(ctx context.Context) error { return d.serve(ctx, "admin", cfg.Admin.Listen, h, "", "") })
	}
	if cfg.Admin.Socket != "" && runtime.GOOS != "windows" {
		h := admin.Handler(d, nil, d.metrics.Registry()) // the socket's mode and group are its guard
		ps.start("socket", func(ctx context.Context) error { return d.serveSocket(ctx, cfg.Admin.Socket, h) })
	}
	if cfg.Admin.PageListen != "" {
		ps.start("page", func(ctx context.Context) error {
			return d.serve(ctx, "page", cfg.Admin.PageListen, admin.PageHandler(d), "", "")
		})
	}
	ps.start("reload", func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-reload:
				d.Reload()
			}
		}
	})
	d.ready.Store(true)
	d.waitListeners(cfg, 10*time.Second)
	d.logStarted(cfg)
	d.notify("READY=1\nSTATUS=" + d.Status().Line())
	if d.opts.Watchdog > 0 {
		ps.start("watchdog", d.watchdog)
	}

	err = ps.wait(ctx)
	if err != nil {
		d.log.Error("a part of fluxrelay failed; stopping so that the service manager restarts it", "err", err)
	}
	d.notify("STOPPING=1")
	d.ready.Store(false)
	err = errors.Join(err, ps.stop())
	d.log.Info("fluxrelay stopped")
	return err
}

// logStarted says in the log how the start went, once every listener has
// bound or failed its first try: a daemon that no notification can reach
// has not started in any sense a shop cares about.
func (d *Daemon) logStarted(cfg *config.Config) {
	st := d.Status()
	attrs := []any{"version", d.opts.Version, "data_dir", cfg.DataDir, "pending", st.QueueDepth, "state", st.State}
	if !d.takesNotifications() {
		d.log.Error("fluxrelay is running but no notification can reach it: ACTION NEEDED", append(attrs, "reasons", strings.Join(st.Reasons, "; "))...)
		return
	}
	if st.State == StateActionNeeded {
		attrs = append(attrs, "reasons", strings.Join(st.Reasons, "; "))
	}
	d.log.Info("fluxrelay started", attrs...)
}

// takesNotifications reports whether a way in is up: the HTTP listener, the
// embedded broker or the external broker's subscription.
func (d *Daemon) takesNotifications() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, name := range []string{"http", "mqtt", "mqtt-broker"} {
		if l := d.listeners[name]; l != nil && l.up {
			return true
		}
	}
	return false
}

// storeDir is where the queue lives under data_dir.
func storeDir(cfg *config.Config) string { return storeDirOf(cfg.DataDir) }

func storeDirOf(dataDir string) string { return filepath.Join(dataDir, "store") }

func openStore(cfg *config.Config, log *slog.Logger, now func() time.Time, syncFault func(string) error) (*store.Store, error) {
	var key []byte
	if cfg.Store.EncryptionKeyFile != "" {
		k, err := config.ReadEncryptionKey(cfg.Store.EncryptionKeyFile)
		if err != nil {
			return nil, fmt.Errorf("store.encryption_key_file: %w", err)
		}
		key = k
	}
	st, err := store.Open(store.Options{
		Dir:           storeDir(cfg),
		MaxDisk:       int64(cfg.Store.MaxDisk),
		DedupWindow:   cfg.Store.DedupWindow.D(),
		Retention:     cfg.Store.Retention.D(),
		KeepDelivered: cfg.Store.KeepDelivered.D(),
		EncryptionKey: key,
		Logger:        log.With("component", "store"),
		Now:           now,
		SyncFault:     syncFault,
	})
	if err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	return st, nil
}

// Disk is what doctor reports of the data disk.
type Disk struct {
	Free, Reserve int64    // free space, and the reserve below which input is refused
	FreeErr       error    // why Free could not be measured
	MovedAside    []string // stores moved aside because Badger could not open them
}

// DiskReport measures the data disk the way the store does.
func DiskReport(cfg *config.Config) Disk {
	free, err := store.FreeBytes(cfg.DataDir)
	return Disk{Free: free, Reserve: store.DefaultMinFree, FreeErr: err, MovedAside: store.MovedAside(storeDir(cfg))}
}

// sources builds the listeners' view of the [[source]] tables.
func (d *Daemon) sources(cfg *config.Config) ([]*ingest.Source, error) {
	var out []*ingest.Source
	for _, s := range cfg.Sources {
		tenant := cfg.Core.TenantID
		if s.TenantID != "" {
			tenant = s.TenantID
		}
		p, err := provider.New(s, tenant, d.log.With("source", s.Name))
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", s.Name, err)
		}
		src := &ingest.Source{Name: s.Name, Provider: s.Provider, Verifier: p}
		for _, a := range s.Allow {
			pfx, err := config.ParsePrefix(a)
			if err != nil {
				return nil, fmt.Errorf("source %s: allow %q: %w", s.Name, a, err)
			}
			src.Allow = append(src.Allow, pfx)
		}
		out = append(out, src)
	}
	return out, nil
}

// apply makes a validated config live.
func (d *Daemon) apply(cfg *config.Config) error {
	srcs, err := d.sources(cfg)
	if err != nil {
		return err
	}
	var trusted []netip.Prefix
	for _, p := range cfg.HTTP.TrustedProxies {
		pfx, err := config.ParsePrefix(p)
		if err != nil {
			return fmt.Errorf("http.trusted_proxies %q: %w", p, err)
		}
		trusted = append(trusted, pfx)
	}
	d.intake.SetSources(srcs)
	if d.broker != nil {
		var users []mqttingest.User
		for _, u := range cfg.MQTT.Users {
			users = append(users, mqttingest.User{Username: u.Username, Password: u.Password.Value(), PasswordHash: u.PasswordHash, Sources: u.Sources})
		}
		d.broker.SetUsers(users)
	}
	d.relay.SetLimits(relay.Limits{Concurrency: cfg.Core.Concurrency, Timeout: cfg.Core.Timeout.D(),
		RetryMaxWait: cfg.Core.RetryMaxWait.D(), MaxAge: cfg.Core.MaxAge.D()})
	d.http.SetTrustedProxies(trusted)
	d.alerter.SetReceivers(receivers(cfg))
	d.pusher.Set(cfg.GatewayName(), endpoints(cfg))
	c := cfg.Core
	bySource := map[string]relay.Target{}
	for _, s := range cfg.Sources {
		switch {
		case s.Forward == "raw":
			bySource[s.Name] = relay.Target{URL: s.ForwardURL, Raw: true}
		case s.CoreURL != "":
			bySource[s.Name] = relay.Target{URL: s.CoreURL, Tenant: s.TenantID,
				SigningKey: notification.SigningKey(c.SignatureKey, s.APIKey.Value(), s.APISecret.Value())}
		}
	}
	d.relay.SetTargets(relay.Target{URL: c.URL, Tenant: c.TenantID,
		SigningKey: notification.SigningKey(c.SignatureKey, c.APIKey.Value(), c.APISecret.Value())}, bySource)
	if d.opts.Level != nil {
		d.opts.Level.Set(parseLevel(cfg.Log.Level))
	}
	loc := time.Local
	if cfg.Timezone != "" {
		if l, err := time.LoadLocation(cfg.Timezone); err == nil { // validated at load
			loc = l
		}
	}
	d.loc.Store(loc)
	d.cfg.Store(cfg)
	return nil
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}

// ReloadResult is the outcome of the last reload.
type ReloadResult = admin.ReloadResult

// Reload re-reads the config file. An invalid file leaves the running
// config in place; keys that only a restart can change are reported, not
// applied.
func (d *Daemon) Reload() ReloadResult {
	old := d.cfg.Load()
	res := ReloadResult{At: d.opts.Now().UTC()}
	cfg, err := config.Load(old.Path)
	if err == nil {
		// Every key is classified in config.ReloadRules: the restart
		// ones keep their running values, so that what status shows is
		// what runs; apply makes every live one take effect.
		res.RestartNeeded = config.KeepRestartOnly(old, cfg)
		err = d.apply(cfg)
	}
	switch {
	case err != nil:
		res.Error = err.Error()
		d.log.Error("config reload failed; the running config stays", "problems", err.Error())
	case len(res.RestartNeeded) > 0:
		res.OK = true
		var why []string
		for _, k := range res.RestartNeeded {
			why = append(why, k+" ("+config.ReloadRules[k].Why+")")
		}
		d.log.Warn("config reloaded, but some changes need a restart to apply: restart fluxrelay (systemctl restart fluxrelay)", "restart_needed", strings.Join(why, "; "))
	default:
		res.OK = true
		d.log.Info("config reloaded")
	}
	d.mu.Lock()
	d.reload = res
	d.mu.Unlock()
	return res
}

var _ http.Handler = (*httpingest.Handler)(nil)
