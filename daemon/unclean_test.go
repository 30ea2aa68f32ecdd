package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/config"
)

// TestUncleanRestartIsCounted: a clean stop and start counts nothing; a
// start that finds the store but not the clean-stop marker (what a power
// cut or a kill leaves) is counted, logged, shown in status and /metrics,
// and sent as an alert.
func TestUncleanRestartIsCounted(t *testing.T) {
	var mu sync.Mutex
	var kinds []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e struct{ Kind string }
		raw, _ := io.ReadAll(r.Body)
		json.Unmarshal(raw, &e)
		mu.Lock()
		kinds = append(kinds, e.Kind)
		mu.Unlock()
	}))
	defer receiver.Close()
	e := newEnv(t, nil)
	e.writeConfig(testSecret, fmt.Sprintf("[[alert]]\nurl = %q\n", receiver.URL))
	run := func() (*running, func()) {
		cfg, err := config.Load(e.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		d, err := New(cfg, Options{Version: "unclean", Logger: slog.New(slog.NewTextHandler(e.logs, nil)), WatchEvery: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx, nil) }()
		r := &running{d: d, url: "http://" + d.Addr("http", 10*time.Second), admin: "http://" + d.Addr("admin", 10*time.Second)}
		return r, func() { cancel(); <-done }
	}
	marker := filepath.Join(e.dir, "data", cleanMarker)

	r, stop := run() // a fresh store: nothing to count
	post(t, r.url+"/notify/till", `{"transactionRef":"U-1","amount":1}`)
	stop()
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("a clean stop left no marker: %v", err)
	}
	r, stop = run()
	if n := r.status(t).UncleanRestarts; n != 0 {
		t.Errorf("after a clean stop, %d unclean restarts", n)
	}
	stop()

	os.Remove(marker) // the power was cut: the marker is written only by a clean stop
	r, stop = run()
	defer stop()
	st := r.status(t)
	if st.UncleanRestarts != 1 || st.LastUncleanRestart == nil {
		t.Errorf("after an unclean stop: %d unclean restarts", st.UncleanRestarts)
	}
	if !strings.Contains(e.logs.String(), "was not stopped cleanly last time") {
		t.Error("the unclean restart is not in the log")
	}
	if _, metrics := get(t, r.admin+"/metrics", ""); !strings.Contains(metrics, "fluxrelay_unclean_restarts_total 1") {
		t.Error("/metrics lacks fluxrelay_unclean_restarts_total 1")
	}
	waitFor(t, "the unclean-restart alert", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(strings.Join(kinds, " "), "unclean_restart")
	})
}
