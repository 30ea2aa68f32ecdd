package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fluxrelay/fluxrelay/admin"
)

// TestFindShowsEveryAttempt: Fluxvend answers a notification 500, 500,
// then 200. `fluxrelay find` and /api/find show three attempts with those
// answers, and the delivery metrics count three attempts.
func TestFindShowsEveryAttempt(t *testing.T) {
	var seen atomic.Int32
	e := startOpsWith(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if strings.Contains(string(body), `"TRAIL-1"`) && seen.Add(1) <= 2 {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			next.ServeHTTP(w, r)
		})
	}, `retry_max_wait = "1s"`)
	e.refuse.Store(false)
	e.post(t, "TRAIL-1")
	waitUntil(t, "TRAIL-1 delivered", func() bool {
		_, out := e.run(t, "find", "TRAIL-1")
		return strings.Contains(out, "TRAIL-1  DELIVERED")
	})
	code, out := e.run(t, "find", "TRAIL-1")
	if code != 0 || !strings.Contains(out, "attempts     3") || strings.Count(out, "Fluxvend answered 500") != 2 || strings.Count(out, "Fluxvend answered 200") != 1 {
		t.Errorf("find after 500, 500, 200 (exit %d); want three attempts with those answers:\n%s", code, out)
	}
	var trails []admin.Trail
	_, js := e.run(t, "find", "TRAIL-1", "--json")
	if err := json.Unmarshal([]byte(js), &trails); err != nil || len(trails) != 1 {
		t.Fatalf("find --json: %v %s", err, js)
	}
	var got []int
	for _, a := range trails[0].Attempts {
		got = append(got, a.Status)
	}
	if len(got) != 3 || got[0] != 500 || got[1] != 500 || got[2] != 200 {
		t.Errorf("/api/find attempts %v; want [500 500 200]", got)
	}
	if n := seen.Load(); n != 3 {
		t.Errorf("Fluxvend saw %d requests; want 3", n)
	}
	metrics := e.metrics(t)
	for _, want := range []string{`fluxrelay_deliveries_total{result="retry"} 2`, `fluxrelay_deliveries_total{result="delivered"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "fluxrelay_deliveries_total"))
		}
	}
}

// metrics reads /metrics on the admin socket (on Windows, admin.listen).
func (e *opsEnv) metrics(t *testing.T) string {
	t.Helper()
	resp, err := e.adminAPI.Get(e.adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, word string) string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.Contains(sc.Text(), word) {
			out = append(out, sc.Text())
		}
	}
	return strings.Join(out, "\n")
}
