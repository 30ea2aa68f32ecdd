package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fluxrelay/fluxrelay/config"
)

// TestAPartFailingStopsEverything injects a failure into each part the
// daemon starts: Run returns that part's error, every part is stopped in
// the reverse order of its start with the store closed last, and nothing
// is left listening.
func TestAPartFailingStopsEverything(t *testing.T) {
	for _, failing := range []string{"relay", "alerts", "remote_write", "watch", "http", "mqtt", "admin", "reload"} {
		t.Run(failing, func(t *testing.T) {
			e := newEnv(t, nil)
			e.embedBroker("till-1", "till-1-password")
			cfg, err := config.Load(e.cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			d, err := New(cfg, Options{Version: "lifecycle", Logger: slog.New(slog.NewTextHandler(e.logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			// The failing part fails once every listener is up, as a part
			// that has been running does.
			fail := make(chan error, 1)
			d.parts.inject = func(name string) <-chan error {
				if name != failing {
					return nil
				}
				return fail
			}
			done := make(chan error, 1)
			go func() { done <- d.Run(context.Background(), nil) }()
			var addrs []string
			for _, l := range []string{"http", "mqtt", "admin"} {
				a := d.Addr(l, 10*time.Second)
				if a == "" {
					t.Fatalf("%s did not come up", l)
				}
				addrs = append(addrs, a)
			}
			fail <- errors.New("injected failure")
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the daemon did not stop after a part failed")
			}
			if err == nil || !strings.Contains(err.Error(), failing+": injected failure") {
				t.Errorf("Run returned %v; want the %s part's failure", err, failing)
			}
			want := []string{"reload", "admin", "mqtt", "http", "watch", "remote_write", "alerts", "relay", "store"}
			if !slices.Equal(d.parts.stopped, want) {
				t.Errorf("stopped %v; want %v (reverse order of start, the store last)", d.parts.stopped, want)
			}
			for _, a := range addrs {
				if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
					c.Close()
					t.Errorf("%s still accepts connections after the daemon stopped", a)
				}
			}
			if !strings.Contains(e.logs.String(), fmt.Sprintf("%s: injected failure", failing)) {
				t.Errorf("the failure is not in the log")
			}
		})
	}
}

// TestStopHasOneBound: parts that do not stop cost the whole stop one
// bound, not one each, and the store, opened first, is still closed after
// them. It runs in a synctest bubble: the bound is the bubble's time.
func TestStopHasOneBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps := newParts(slog.New(slog.DiscardHandler))
		closed := make(chan struct{})
		ps.opened("store", func() error { close(closed); return nil })
		hang := make(chan struct{})
		defer close(hang)
		for _, name := range []string{"relay", "http", "mqtt"} {
			ps.start(name, func(context.Context) error { <-hang; return nil }) // never stops when asked
		}
		start := time.Now()
		ps.stop()
		took := time.Since(start)
		select {
		case <-closed:
		default:
			t.Fatal("the store was not closed after parts that did not stop")
		}
		if took != stopWithin-closeReserve {
			t.Errorf("stopping took %v with three parts that never stop; want one bound, %v, the store's reserve kept", took, stopWithin-closeReserve)
		}
		if want := []string{"mqtt", "http", "relay", "store"}; !slices.Equal(ps.stopped, want) {
			t.Errorf("stopped %v; want %v", ps.stopped, want)
		}
	})
	if stopWithin > 20*time.Second {
		t.Errorf("stopWithin is %v; the service managers stop waiting at 20 s", stopWithin)
	}
}
