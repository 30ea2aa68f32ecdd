package oldbuild

import (
	"archive/tar"
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// The end of the first development round: the oldest store the upgrade
// tests open.
const firstRound = "e10d3dc"

func TestBinaryIsThatCommitsBuild(t *testing.T) {
	Wanted(t)
	bin := ForTest(t, firstRound, Options{})
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "fluxrelay "+firstRound+" (commit "+firstRound) {
		t.Fatalf("%s version: %v %q", bin, err, out)
	}
	again, err := Binary(firstRound, Options{})
	if err != nil || !again.Cached || again.Path != bin {
		t.Errorf("a second build of the same commit was not taken from the cache: %+v %v", again, err)
	}
}

func TestUnknownCommitIsUnavailable(t *testing.T) {
	if _, err := RepoRoot(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	_, err := Binary("0123456789abcdef0123456789abcdef01234567", Options{})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "0123456789abcdef") {
		t.Errorf("a commit the clone lacks: %v; want ErrUnavailable naming it", err)
	}
}

func TestUntarRefusesPathsOutsideTheTree(t *testing.T) {
	for _, name := range []string{"../evil", "/etc/evil", "a/../../evil"} {
		var b bytes.Buffer
		w := tar.NewWriter(&b)
		_ = w.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
		_, _ = w.Write([]byte("x"))
		_ = w.Close()
		if err := untar(&b, t.TempDir()); err == nil {
			t.Errorf("%q was written", name)
		}
	}
}
