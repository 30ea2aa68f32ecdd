package oldbuild

import (
	"errors"
	"os"
	"testing"
	"time"
)

// RunEnv turns on the tests that build earlier releases: a first build
// compiles every dependency again, minutes on a small machine, so they run
// with `make test-upgrade` (which sets it), not with `make test`.
const RunEnv = "FLUXRELAY_TEST_OLDBUILDS"

// Wanted skips the test unless RunEnv is set.
func Wanted(t testing.TB) {
	t.Helper()
	if os.Getenv(RunEnv) == "" {
		t.Skipf("skipped: builds earlier releases; run it with make test-upgrade (%s=1)", RunEnv)
	}
}

// ForTest is Binary for a test: it logs what the build took, skips the
// test when an earlier build cannot be made here (and fails it under
// CI=true, where the history and the module proxy must be there), and
// fails it when the build itself fails.
func ForTest(t testing.TB, commit string, o Options) string {
	t.Helper()
	res, err := Binary(commit, o)
	Check(t, err)
	if res.Cached {
		t.Logf("oldbuild: %s at %s: cached in build/oldbuilds", res.Path, commit)
	} else {
		t.Logf("oldbuild: built %s at %s in %s", res.Path, commit, res.Took.Round(100*time.Millisecond))
	}
	return res.Path
}

// Check handles an error from Binary or Source the way ForTest does.
func Check(t testing.TB, err error) {
	t.Helper()
	switch {
	case err == nil:
	case errors.Is(err, ErrUnavailable) && os.Getenv("CI") != "true":
		t.Skipf("skipped: %v", err)
	default:
		t.Fatal(err)
	}
}
