package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// stopWithin bounds how long stopping takes, every part together: well
// inside systemd's TimeoutStopSec (the unit's 30 s) and the time the
// Windows service manager waits, so that fluxrelay is never killed while it
// closes the store. closeReserve of it is kept for the part started first
// (the store), which closes after all the others.
const (
	stopWithin   = 15 * time.Second
	closeReserve = 5 * time.Second
)

// parts runs what Run starts. Each part runs until it is stopped or
// fails; the first failure ends them all, and they are always stopped in
// the reverse order of their start (ingest stops accepting before the
// relay stops, and the store, which Run opened first, is closed last).
type parts struct {
	log    *slog.Logger
	list   []*part
	failed chan error // the first part that failed, once
	// inject, when set (tests), may return a channel for a part: what is
	// sent on it makes that part fail while it runs.
	inject func(name string) <-chan error
	// stopped records the parts in the order they were stopped (tests).
	stopped []string
}

type part struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	failed bool // it ended by itself; its error went to parts.failed
}

func newParts(log *slog.Logger) *parts {
	return &parts{log: log, failed: make(chan error, 1)}
}

// opened registers what Run opened rather than started (the store):
// stopping it is closing it, with closeFn.
func (ps *parts) opened(name string, closeFn func() error) {
	p := &part{name: name, done: make(chan struct{})}
	var once sync.Once
	p.cancel = func() {
		once.Do(func() {
			go func() {
				defer close(p.done)
				p.err = closeFn()
			}()
		})
	}
	ps.list = append(ps.list, p)
}

// start runs fn as the named part. Its context ends only when the part is
// stopped, not when Run's does, so that parts stop one after the other. A
// part that returns before it is stopped has failed, even without an
// error: nothing it served is served any more.
func (ps *parts) start(name string, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &part{name: name, cancel: cancel, done: make(chan struct{})}
	ps.list = append(ps.list, p)
	go func() {
		defer close(p.done)
		err := ps.injected(name, fn)(ctx)
		if ctx.Err() != nil {
			p.err = err // stopped: whatever it says on the way out
			return
		}
		if err == nil {
			err = errors.New("stopped by itself")
		}
		p.err, p.failed = fmt.Errorf("%s: %w", name, err), true
		select {
		case ps.failed <- p.err:
		default:
		}
	}()
}

// injected returns fn, or with an injected failure (tests), fn that ends
// and returns that failure when it comes.
func (ps *parts) injected(name string, fn func(context.Context) error) func(context.Context) error {
	if ps.inject == nil {
		return fn
	}
	fail := ps.inject(name)
	if fail == nil {
		return fn
	}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		res := make(chan error, 1)
		go func() { res <- fn(ctx) }()
		select {
		case err := <-fail:
			cancel()
			<-res
			return err
		case err := <-res:
			return err
		}
	}
}

// wait returns when ctx ends (nil) or a part fails (its error).
func (ps *parts) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-ps.failed:
		return err
	}
}

// stop stops every part, the last started first, all within stopWithin,
// and returns what they said as they stopped. A part that does not stop in
// its time is left behind, so that those started before it (the store
// last, with closeReserve kept for it) still stop.
func (ps *parts) stop() error {
	var errs []error
	deadline := time.Now().Add(stopWithin)
	for i := len(ps.list) - 1; i >= 0; i-- {
		p := ps.list[i]
		by := deadline
		if i > 0 {
			by = deadline.Add(-closeReserve)
		}
		p.cancel()
		t := time.NewTimer(max(time.Until(by), 0))
		select {
		case <-p.done:
			if p.err != nil && !p.failed {
				errs = append(errs, p.err)
			}
		case <-t.C:
			ps.log.Error("a part of fluxrelay did not stop in time; stopping without it", "part", p.name, "within", stopWithin)
		}
		t.Stop()
		ps.stopped = append(ps.stopped, p.name)
	}
	return errors.Join(errs...)
}
