package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/config"
	"github.com/fluxrelay/fluxrelay/notification"
)

// TestAlertsReachAPerson: a payment Fluxvend refuses (422) turns the state
// and a fake alert receiver to "needs a person" within seconds, the dead
// letter is logged, and replaying it once Fluxvend takes it brings "back
// to OK".
func TestAlertsReachAPerson(t *testing.T) {
	var mu sync.Mutex
	var events []map[string]any
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var e map[string]any
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Errorf("an alert is not JSON: %s", raw)
		}
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}))
	defer receiver.Close()
	seen := func() string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, e := range events {
			out = append(out, fmt.Sprintf("%s:%s", e["kind"], e["state"]))
		}
		return strings.Join(out, " ")
	}

	core := switchable(http.StatusUnprocessableEntity)
	e := newEnv(t, core.answer)
	e.writeConfig(testSecret, fmt.Sprintf("[[alert]]\nurl = %q\nformat = \"json\"\n", receiver.URL+"/hooks/fluxrelay"))
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, Options{Version: "alerts", Logger: slog.New(slog.NewTextHandler(e.logs, nil)), WatchEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()
	r := &running{d: d, url: "http://" + d.Addr("http", 10*time.Second), admin: "http://" + d.Addr("admin", 10*time.Second)}

	post(t, r.url+"/notify/till", `{"transactionRef":"ALERT-1","amount":100}`)
	waitFor(t, "the alerts", func() bool {
		return strings.Contains(seen(), "state:action_needed") && strings.Contains(seen(), "dead_letter:action_needed")
	})
	if s := r.status(t); s.State != StateActionNeeded {
		t.Errorf("state %s", s.State)
	}

	core.set(http.StatusOK)
	resp, err := http.Post(r.admin+"/api/dead-letters/"+notification.NewID("core", "acme", "ALERT-1")+"/replay", "application/json", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("replay: %v %v", resp, err)
	}
	resp.Body.Close()
	waitFor(t, "back to OK", func() bool { return strings.HasSuffix(seen(), "state:ok") })
	if strings.Count(seen(), "state:action_needed") != 1 {
		t.Errorf("alerts %s; want one state alert for the one change", seen())
	}
	if strings.Contains(e.logs.String(), "/hooks/fluxrelay") {
		t.Error("the alert URL (a secret) appears in the log")
	}
}
