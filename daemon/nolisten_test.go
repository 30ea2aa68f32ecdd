package daemon

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/config"
)

// TestNoListenerBindsIsActionNeeded: when no address the daemon listens on
// can be bound (another program has every port), the state is ACTION
// NEEDED from the moment it says it is ready, the service manager is told
// so, and the log does not say it started as if all were well.
func TestNoListenerBindsIsActionNeeded(t *testing.T) {
	var taken []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		taken = append(taken, ln.Addr().String())
	}
	e := newEnv(t, nil)
	cfg := readFile(t, e.cfgPath)
	cfg = strings.Replace(cfg, "[http]\nlisten = \"127.0.0.1:0\"", "[http]\nlisten = \""+taken[0]+"\"", 1)
	cfg = strings.Replace(cfg, "[admin]\nsocket = \"\"\nlisten = \"127.0.0.1:0\"", "[admin]\nsocket = \"\"\nlisten = \""+taken[1]+"\"", 1)
	writeFile(t, e.cfgPath, cfg)
	var readyLine string
	ready := make(chan struct{})
	var once sync.Once
	c, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(c, Options{Version: "e2e", Logger: slog.New(slog.NewTextHandler(e.logs, nil)), Notify: func(s string) {
		if strings.HasPrefix(s, "READY=1") {
			once.Do(func() { readyLine = s; close(ready) })
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon never said it was ready")
	}
	st := d.Status()
	if st.State != StateActionNeeded {
		t.Errorf("with no address bound, the state at READY is %s (%v)", st.State, st.Reasons)
	}
	if !strings.Contains(readyLine, "ACTION NEEDED") || !strings.Contains(readyLine, "cannot be used") {
		t.Errorf("the service manager was told %q; want ACTION NEEDED and the address", readyLine)
	}
	logs := e.logs.String()
	if strings.Contains(logs, `msg="fluxrelay started`) {
		t.Errorf("the log says it started as if all were well:\n%s", logs)
	}
	if !strings.Contains(logs, "no notification can reach it: ACTION NEEDED") {
		t.Errorf("the log does not say ACTION NEEDED:\n%s", logs)
	}
}
