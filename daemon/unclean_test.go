package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUncleanRestartIsCounted: a clean stop and start counts nothing; a
// start that finds the store but not the clean-stop marker (what a power
// cut or a kill leaves) is counted, logged, shown in status and /metrics,
// and sent as an alert.
func TestUncleanRestartIsCounted(t *testing.T) {
	url, seen := alertReceiver(t)
	e := newEnv(t, nil)
	e.writeConfig(testSecret, fmt.Sprintf("[[alert]]\nurl = %q\n", url))
	marker := filepath.Join(e.dir, "data", cleanMarker)
	// a store directory made before the first start holds nothing
	if err := os.MkdirAll(storeDirOf(filepath.Join(e.dir, "data")), 0o700); err != nil {
		t.Fatal(err)
	}

	r := e.startWith(watchOften) // a fresh store: nothing to count
	if n := r.status(t).UncleanRestarts; n != 0 {
		t.Errorf("the first start, on an empty store directory, counted %d unclean restarts", n)
	}
	post(t, r.url+"/notify/till", `{"transactionRef":"U-1","amount":1}`)
	r.stop()
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("a clean stop left no marker: %v", err)
	}
	r = e.startWith(watchOften)
	if n := r.status(t).UncleanRestarts; n != 0 {
		t.Errorf("after a clean stop, %d unclean restarts", n)
	}
	r.stop()

	os.Remove(marker) // the power was cut: the marker is written only by a clean stop
	r = e.startWith(watchOften)
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
	waitFor(t, "the unclean-restart alert", func() bool { return strings.Contains(seen(), "unclean_restart:") })
}
