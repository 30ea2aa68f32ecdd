package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/windows/svc/eventlog"
)

// The Event Log's ids for fluxrelay's entries (the EventCreate message
// file that service install registers takes 1 to 1000).
const (
	eventInfo  = 1
	eventWarn  = 2
	eventError = 3
)

// maxEvent keeps an entry under the Event Log's limit of about 31 000
// characters.
const maxEvent = 30000

// debugLogMax is the size at which the debug log starts over, keeping
// the previous one as fluxrelay.log.1.
const debugLogMax = 16 << 20

func debugLogPath() string { return filepath.Join(homeDir(), "logs", "fluxrelay.log") }

// serviceLog is where the service writes: the Event Log (Application,
// source fluxrelay) for info and above, and, while log.level is debug,
// every line to debugLogPath as well.
type serviceLog struct {
	ev   *eventlog.Log
	mu   sync.Mutex
	file *os.File
	size int64
}

func openServiceLog() (*serviceLog, error) {
	ev, err := eventlog.Open(serviceName)
	if err != nil {
		return nil, err
	}
	return &serviceLog{ev: ev}, nil
}

func (l *serviceLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		l.file.Close()
	}
	l.ev.Close()
}

// errors is a writer whose every write is one error entry: for what is
// said before the log is set up (a config that is not valid).
func (l *serviceLog) errors() io.Writer { return eventWriter{l} }

type eventWriter struct{ l *serviceLog }

func (w eventWriter) Write(p []byte) (int, error) {
	w.l.event(slog.LevelError, string(p))
	return len(p), nil
}

func (l *serviceLog) event(level slog.Level, msg string) {
	msg = strings.TrimSpace(msg)
	if len(msg) > maxEvent {
		msg = msg[:maxEvent] + "…"
	}
	switch {
	case level >= slog.LevelError:
		_ = l.ev.Error(eventError, msg)
	case level >= slog.LevelWarn:
		_ = l.ev.Warning(eventWarn, msg)
	default:
		_ = l.ev.Info(eventInfo, msg)
	}
}

// debug appends a line to the debug log, opening it (and starting it over
// when it is full) as needed. What cannot be written is dropped: the
// Event Log has everything but the debug lines.
func (l *serviceLog) debug(line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	path := debugLogPath()
	if l.file != nil && l.size+int64(len(line)) > debugLogMax {
		l.file.Close()
		l.file = nil
		_ = os.Remove(path + ".1")
		_ = os.Rename(path, path+".1")
	}
	if l.file == nil {
		_ = os.MkdirAll(filepath.Dir(path), 0o700)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return
		}
		fi, _ := f.Stat()
		l.file, l.size = f, 0
		if fi != nil {
			l.size = fi.Size()
		}
	}
	n, _ := l.file.Write(line)
	l.size += int64(n)
}

// logger is the daemon's log: each record rendered in log.format without
// its time (the Event Log keeps its own), then sent on by level.
func (l *serviceLog) logger(format string, level *slog.LevelVar) *slog.Logger {
	buf := new(bytes.Buffer)
	opts := &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	var inner slog.Handler = slog.NewTextHandler(buf, opts)
	if format == "json" {
		inner = slog.NewJSONHandler(buf, opts)
	}
	return slog.New(&eventHandler{log: l, level: level, mu: new(sync.Mutex), buf: buf, inner: inner})
}

type eventHandler struct {
	log   *serviceLog
	level *slog.LevelVar
	mu    *sync.Mutex
	buf   *bytes.Buffer
	inner slog.Handler
}

func (h *eventHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *eventHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	if r.Level >= slog.LevelInfo {
		h.log.event(r.Level, h.buf.String())
	}
	if h.level.Level() <= slog.LevelDebug {
		h.log.debug(append([]byte(r.Time.UTC().Format(time.RFC3339Nano)+" "), h.buf.Bytes()...))
	}
	return nil
}

func (h *eventHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(as)
	return &c
}

func (h *eventHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(name)
	return &c
}
