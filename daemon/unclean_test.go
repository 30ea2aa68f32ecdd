package daemon

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/store"
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

// TestCleanStopOfAnEarlierReleaseIsNotUnclean: the release at the end of
// the first development round wrote no clean-stop marker, so its clean
// stop must not count as an unclean restart the first time this release
// starts on its store. Once this release has opened the store (and
// recorded its format), a start without the marker counts.
func TestCleanStopOfAnEarlierReleaseIsNotUnclean(t *testing.T) {
	dataDir := t.TempDir()
	untar(t, "../store/testdata/data-e10d3dc.tar.gz", dataDir)
	now := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	start := func() (Unclean, bool) {
		t.Helper()
		stop, err := readLastStop(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(store.Options{Dir: storeDirOf(dataDir), MinFree: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, markers := st.OpenedAs()
		u, unclean, err := checkUnclean(dataDir, now, stop, markers)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the store's migration", func() bool { return !st.Stats().Migrating })
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		return u, unclean
	}
	if u, unclean := start(); unclean || u.Count != 0 {
		t.Fatalf("the earlier release's clean stop: unclean %v, count %d", unclean, u.Count)
	}
	// no markClean: the power was cut
	if u, unclean := start(); !unclean || u.Count != 1 {
		t.Errorf("a stop without the marker after this release ran: unclean %v, count %d", unclean, u.Count)
	}
	if err := markClean(dataDir); err != nil {
		t.Fatal(err)
	}
	if u, unclean := start(); unclean || u.Count != 1 {
		t.Errorf("a clean stop of this release: unclean %v, count %d", unclean, u.Count)
	}
}

// untar unpacks a gzipped tar into dir.
func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o700)
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
