package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"

	"github.com/fluxrelay/fluxrelay/daemon"
	"github.com/fluxrelay/fluxrelay/internal/sdnotify"
)

// defaultMemoryLimit matches the GOMEMLIMIT the shipped unit sets: a soft
// ceiling that keeps Badger's buffers and the Go heap inside a small box
// (BENCHMARKS.md: under 64 MB with a million notifications waiting).
const defaultMemoryLimit = 56 << 20

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := configFlag(fs)
	if code, stop := parseOnlyFlags(fs, args, stdout, stderr); stop {
		return code
	}
	path := configPath(*c)
	if managed, code := runUnderServiceManager(path, stderr); managed {
		return code
	}
	return runDaemon(ctx, path, daemonIO{stderr: stderr})
}

// daemonIO is where a running daemon's words go, and what else asks it to
// re-read its config.
type daemonIO struct {
	stderr io.Writer // the problems found before the log is set up
	// logger builds the log; nil: lines in log.format on stderr.
	logger func(format string, level *slog.LevelVar) *slog.Logger
	// reload, when not nil, takes the requests to re-read the config
	// besides SIGHUP (the Windows service's paramchange).
	reload chan struct{}
}

// runDaemon runs the daemon in the foreground until ctx ends.
func runDaemon(ctx context.Context, path string, dio daemonIO) int {
	cfg, code := loadConfig(path, dio.stderr)
	if cfg == nil {
		return code
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	level := new(slog.LevelVar)
	var log *slog.Logger
	if dio.logger != nil {
		log = dio.logger(cfg.Log.Format, level)
	} else {
		log = newLogger(dio.stderr, cfg.Log.Format, level)
	}
	if err := restrictFiles(cfg.DataDir); err != nil {
		log.Warn("cannot close data_dir to other users; run chmod 700 on it", "data_dir", cfg.DataDir, "err", err)
	}

	reload := dio.reload
	if reload == nil {
		reload = make(chan struct{}, 1)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP) // never sent on Windows: fluxrelay reload is the way there
	defer signal.Stop(hup)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()

	sd := sdnotify.New()
	notify := func(state string) {
		if err := sd.Send(state); err != nil {
			log.Warn("cannot tell systemd the service's state", "err", err)
		}
	}
	d, err := daemon.New(cfg, daemon.Options{Version: version, Logger: log, Level: level,
		Notify: notify, Watchdog: sdnotify.WatchdogInterval()})
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitUsage
	}
	if err := d.Run(ctx, reload); err != nil {
		log.Error("fluxrelay failed", "err", err)
		return exitFailure
	}
	return exitOK
}

// newLogger logs to w in log.format. When w is the journal (systemd sets
// $JOURNAL_STREAM to stderr's device and inode), each line starts with its
// syslog priority, <3> to <7>, so that journalctl -p works and errors show
// red, and leaves out the time, which the journal keeps itself.
func newLogger(w io.Writer, format string, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	journal := isJournal(w)
	if journal {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	inner := func(w io.Writer) slog.Handler {
		if format == "json" {
			return slog.NewJSONHandler(w, opts)
		}
		return slog.NewTextHandler(w, opts)
	}
	if journal {
		return slog.New(newPriorityHandler(w, inner))
	}
	return slog.New(inner(w))
}

// priorityHandler writes each record with the syslog priority prefix
// journald reads (sd-daemon(3)).
type priorityHandler struct {
	mu    *sync.Mutex
	buf   *bytes.Buffer
	out   io.Writer
	inner slog.Handler
}

func newPriorityHandler(out io.Writer, inner func(io.Writer) slog.Handler) *priorityHandler {
	buf := new(bytes.Buffer)
	return &priorityHandler{mu: new(sync.Mutex), buf: buf, out: out, inner: inner(buf)}
}

func (h *priorityHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *priorityHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	fmt.Fprintf(h.buf, "<%d>", priority(r.Level))
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	_, err := h.out.Write(h.buf.Bytes())
	return err
}

func (h *priorityHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &priorityHandler{mu: h.mu, buf: h.buf, out: h.out, inner: h.inner.WithAttrs(as)}
}

func (h *priorityHandler) WithGroup(name string) slog.Handler {
	return &priorityHandler{mu: h.mu, buf: h.buf, out: h.out, inner: h.inner.WithGroup(name)}
}

// priority is the syslog priority of a level: err, warning, info, debug.
func priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	default:
		return 7
	}
}
