package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
)

// alertReceiver is a fake [[alert]] receiver: it checks each alert is JSON
// and keeps them. seen lists them as "kind:state".
func alertReceiver(t *testing.T) (url string, seen func() string) {
	var mu sync.Mutex
	var events []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var e struct{ Kind, State string }
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Errorf("an alert is not JSON: %s", raw)
		}
		mu.Lock()
		events = append(events, e.Kind+":"+e.State)
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(events, " ")
	}
}

// watchOften makes the daemon look for alerts every 20 ms.
func watchOften(o *Options) { o.WatchEvery = 20 * time.Millisecond }

// TestAlertsReachAPerson: a payment Fluxvend refuses (422) turns the state
// and a fake alert receiver to "needs a person" within seconds, the dead
// letter is logged, and replaying it once Fluxvend takes it brings "back
// to OK".
func TestAlertsReachAPerson(t *testing.T) {
	url, seen := alertReceiver(t)
	core := switchable(http.StatusUnprocessableEntity)
	e := newEnv(t, core.answer)
	e.writeConfig(testSecret, fmt.Sprintf("[[alert]]\nurl = %q\nformat = \"json\"\n", url+"/hooks/fluxrelay"))
	r := e.startWith(watchOften)

	post(t, r.url+"/notify/till", `{"transactionRef":"ALERT-1","amount":100}`)
	waitFor(t, "the alerts", func() bool {
		return strings.Contains(seen(), "state:action_needed") && strings.Contains(seen(), "dead_letter:action_needed")
	})
	if s := r.status(t); s.State != StateActionNeeded {
		t.Errorf("state %s", s.State)
	}

	core.set(http.StatusOK)
	if resp := r.change(t, http.MethodPost, "/api/dead-letters/"+notification.NewID("till", "core", "acme", "ALERT-1")+"/replay"); resp.StatusCode != http.StatusOK {
		t.Fatalf("replay: %v", resp.Status)
	}
	waitFor(t, "back to OK", func() bool { return strings.HasSuffix(seen(), "state:ok") })
	if strings.Count(seen(), "state:action_needed") != 1 {
		t.Errorf("alerts %s; want one state alert for the one change", seen())
	}
	if strings.Contains(e.logs.String(), "/hooks/fluxrelay") {
		t.Error("the alert URL (a secret) appears in the log")
	}
}
