package main

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestReloadCommand drives `fluxrelay reload` against a real daemon: on
// Linux through its admin socket, on Windows through admin.listen with the
// token from the config. A new source is live after it, a restart-only
// change is named, an invalid file is refused and the daemon keeps
// running on what it had.
func TestReloadCommand(t *testing.T) {
	e := startOps(t)
	till2 := func() int {
		resp, err := http.Post(e.ingest+"/notify/till2", "application/json", strings.NewReader(`{"transactionRef":"RELOAD-1","amount":"10.00"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := till2(); code != http.StatusNotFound {
		t.Fatalf("a source not configured yet answered %d; want 404", code)
	}
	original, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(original), "[mqtt]\nmode = \"off\"", "[mqtt]\nmode = \"embedded\"", 1) +
		"[[source]]\nname = \"till2\"\nprovider = \"core\"\n"
	if err := os.WriteFile(e.cfg, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := e.run(t, "reload")
	if code != 0 || !strings.Contains(out, "except these changes, which need a restart") || !strings.Contains(out, "mqtt.mode (") || !strings.Contains(out, hintRestart) {
		t.Errorf("reload with a restart-only change: exit %d\n%s", code, out)
	}
	if code := till2(); code != http.StatusOK {
		t.Errorf("the source added by the reload answered %d; want 200", code)
	}
	if st := e.status(t); !st.ConfigReload.OK || strings.Join(st.ConfigReload.RestartNeeded, ",") != "mqtt.mode" {
		t.Errorf("status after the reload: %+v", st.ConfigReload)
	}

	if err := os.WriteFile(e.cfg, []byte(edited+"[log]\nlevel = \"loud\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = e.run(t, "reload")
	if code != 2 || !strings.Contains(out, "not valid, so nothing was reloaded and fluxrelay keeps running on the config it had") || !strings.Contains(out, "log.level") {
		t.Errorf("reload of an invalid file: exit %d\n%s", code, out)
	}
	// The daemon refuses it too when asked (a file edited in between).
	resp, err := e.adminAPI.Post(e.adminURL+"/api/reload", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "log.level") {
		t.Errorf("POST /api/reload of an invalid file: %d %s", resp.StatusCode, body)
	}
	if err := os.WriteFile(e.cfg, original, 0o600); err != nil {
		t.Fatal(err)
	}
	if st := e.status(t); st.ConfigReload.OK || !strings.Contains(st.ConfigReload.Error, "log.level") {
		t.Errorf("status after a failed reload: %+v", st.ConfigReload)
	}
	if code := till2(); code != http.StatusOK {
		t.Errorf("after a failed reload the daemon answered %d; want it running on the config it had", code)
	}

	if code, out := e.run(t, "reload"); code != 0 || !strings.Contains(out, "every change is applied") {
		t.Errorf("reload back to the original: exit %d\n%s", code, out)
	}
	if code := till2(); code != http.StatusNotFound {
		t.Errorf("a source removed by the reload answered %d; want 404", code)
	}

	if code, _, errOut := runCmd(append([]string{"reload"}, nowhere(t)...)...); code != 1 || !strings.Contains(errOut, "not running") {
		t.Errorf("reload with no daemon: exit %d %q", code, errOut)
	}
}
