package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/config"
)

// TestSecondDaemonOnSameDataDir: a second fluxrelay started on a data_dir
// another one runs on is refused with a message that says so, and its
// refused start is not counted as an unclean restart: after the first
// stops cleanly, the next start counts none.
func TestSecondDaemonOnSameDataDir(t *testing.T) {
	e := newEnv(t, nil)
	first := e.start()
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	second, err := New(cfg, Options{Version: "second"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = second.Run(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "another fluxrelay") {
		t.Fatalf("a second daemon on the same data_dir: %v", err)
	}
	first.stop()
	r := e.start()
	if n := r.status(t).UncleanRestarts; n != 0 {
		t.Errorf("a start refused because the store was in use was counted: %d unclean restarts", n)
	}
}
