package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/fluxrelay/fluxrelay/daemon"
)

// defaultMemoryLimit matches the GOMEMLIMIT the shipped unit sets: a soft
// ceiling that keeps Badger's buffers and the Go heap inside a small box
// (BENCHMARKS.md: under 64 MB with a million notifications waiting).
const defaultMemoryLimit = 56 << 20

func cmdRun(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	path := configPath(*c)
	if managed, code := runUnderServiceManager(path, func(ctx context.Context) int { return runDaemon(ctx, path, stderr) }); managed {
		return code
	}
	return runDaemon(ctx, path, stderr)
}

// runDaemon runs the daemon in the foreground until ctx ends.
func runDaemon(ctx context.Context, path string, stderr io.Writer) int {
	cfg, code := loadConfig(path, stderr)
	if cfg == nil {
		return code
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	level := new(slog.LevelVar)
	log := newLogger(stderr, cfg.Log.Format, level)

	reload := make(chan struct{}, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()

	d, err := daemon.New(cfg, daemon.Options{Version: version, Logger: log, Level: level})
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

func newLogger(w io.Writer, format string, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
