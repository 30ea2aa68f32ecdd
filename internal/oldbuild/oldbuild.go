// Package oldbuild builds fluxrelay as it was at an earlier commit of the
// repository the caller runs in, for the tests that need what an earlier
// release wrote: a store, a package. Each commit's tree is taken with
// `git archive` and built once; the tree and the binaries are kept under
// build/oldbuilds/<commit>/ and reused by later runs.
//
// A build needs the repository's history (a full clone, not a shallow one)
// and the Go module proxy for the commit's dependencies. Where either is
// missing the error wraps ErrUnavailable: a test then skips with the reason,
// and fails under CI=true, where both must be there (ForTest does that).
package oldbuild

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ErrUnavailable is wrapped by every error that says an earlier build
// cannot be made on this machine (no git history, no module proxy), as
// opposed to a build that failed.
var ErrUnavailable = errors.New("an earlier build cannot be made here")

// Options say what to build. The zero value is the daemon for this
// machine, without build tags.
type Options struct {
	// Package is the package to build; "" means ./cmd/fluxrelay.
	Package string
	// Tags are build tags, e.g. one that turns a fixed bug back on.
	Tags []string
	// LDFlags are added to the ones that set main.version and main.commit
	// to the commit.
	LDFlags string
}

// Result is a binary or a tree, and what it took to have it.
type Result struct {
	Path   string
	Commit string // the full commit hash
	Cached bool   // found in build/oldbuilds, not made now
	Took   time.Duration
}

// Binary returns the binary built from commit with o, building it unless
// an earlier run did.
func Binary(commit string, o Options) (Result, error) {
	start := time.Now()
	src, err := Source(commit)
	if err != nil {
		return Result{}, err
	}
	dir := filepath.Dir(src.Path)
	name := "fluxrelay"
	if o.Package != "" {
		name = filepath.Base(o.Package)
	}
	if len(o.Tags) > 0 {
		tags := slices.Sorted(slices.Values(o.Tags))
		name += "+" + strings.Join(tags, ",")
	}
	bin := filepath.Join(dir, name)
	res := Result{Path: bin, Commit: src.Commit}
	unlock, err := lock(dir)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		res.Cached, res.Took = true, time.Since(start)
		return res, nil
	}
	if err := download(src.Path, commit); err != nil {
		return Result{}, err
	}
	tmp := bin + ".tmp"
	pkg := o.Package
	if pkg == "" {
		pkg = "./cmd/fluxrelay"
	}
	short := src.Commit[:7]
	args := []string{"build", "-trimpath", "-ldflags", strings.TrimSpace("-s -w -X main.version=" + short + " -X main.commit=" + short + " " + o.LDFlags)}
	if len(o.Tags) > 0 {
		args = append(args, "-tags", strings.Join(o.Tags, ","))
	}
	args = append(args, "-o", tmp, pkg)
	if out, err := goCmd(src.Path, args...); err != nil {
		return Result{}, fmt.Errorf("go build %s at %s: %v\n%s", pkg, short, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return Result{}, err
	}
	res.Took = time.Since(start)
	return res, nil
}

// Source returns the tree of commit, as `git archive` gives it, extracting
// it unless an earlier run did.
func Source(commit string) (Result, error) {
	start := time.Now()
	root, err := RepoRoot()
	if err != nil {
		return Result{}, err
	}
	full, err := resolve(root, commit)
	if err != nil {
		return Result{}, err
	}
	dir := filepath.Join(root, "build", "oldbuilds", full)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, err
	}
	src := filepath.Join(dir, "src")
	res := Result{Path: src, Commit: full}
	unlock, err := lock(dir)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err == nil {
		res.Cached, res.Took = true, time.Since(start)
		return res, nil
	}
	tmp := src + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := extract(root, full, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return Result{}, err
	}
	_ = os.RemoveAll(src)
	if err := os.Rename(tmp, src); err != nil {
		return Result{}, err
	}
	res.Took = time.Since(start)
	return res, nil
}

// RepoRoot is the top of the git work tree the process runs in.
func RepoRoot() (string, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return "", fmt.Errorf("%w: git is not installed", ErrUnavailable)
	}
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: not inside a git clone of fluxrelay (a source archive has no history to build earlier releases from): git says %s", ErrUnavailable, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)), nil
}

// resolve gives the full hash of commit, or says why the clone lacks it.
func resolve(root, commit string) (string, error) {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--verify", "--quiet", commit+"^{commit}").Output()
	if err == nil {
		return strings.TrimSpace(string(out)), nil
	}
	why := "the clone's history does not have it"
	if b, _ := exec.Command("git", "-C", root, "rev-parse", "--is-shallow-repository").Output(); strings.TrimSpace(string(b)) == "true" {
		why = "the clone is shallow: run git fetch --unshallow (in CI: check out with the full history)"
	}
	return "", fmt.Errorf("%w: commit %s: %s", ErrUnavailable, commit, why)
}

// extract writes `git archive` of commit into dir.
func extract(root, commit, dir string) error {
	cmd := exec.Command("git", "-C", root, "archive", "--format=tar", commit)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	err = untar(pipe, dir)
	_, _ = io.Copy(io.Discard, pipe)
	if werr := cmd.Wait(); werr != nil {
		return fmt.Errorf("git archive %s: %v: %s", commit, werr, stderr.Bytes())
	}
	return err
}

func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("git archive gave a path outside the tree: %q", h.Name)
		}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, 0o755)
		case tar.TypeReg:
			err = writeFile(path, tr, os.FileMode(h.Mode)&0o777)
		case tar.TypeSymlink:
			if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
				err = os.Symlink(h.Linkname, path)
			}
		}
		if err != nil {
			return err
		}
	}
}

func writeFile(path string, r io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode|0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// download fetches the tree's modules: failing here means the module
// proxy (or the network to it) is missing, not that the code is wrong.
func download(src, commit string) error {
	if out, err := goCmd(src, "mod", "download"); err != nil {
		return fmt.Errorf("%w: the modules of %s cannot be fetched (is the Go module proxy reachable?): %v\n%s", ErrUnavailable, commit, err, out)
	}
	return nil
}

// goCmd runs the go tool in an earlier tree, on its own go.mod only.
func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly", "CGO_ENABLED=0")
	return cmd.CombinedOutput()
}
