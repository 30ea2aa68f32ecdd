// Command winetest runs fluxrelay's test suites for windows/amd64 under
// wine: each package's test binary is cross-compiled, then run in one wine
// prefix made for the run, each with a timeout. Then it runs the Linux-side
// tests that drive fluxrelay.exe in the same prefix (the daemon end to end,
// the service, the MSI), with $FLUXRELAY_WINEPREFIX pointing at it.
//
// What wine lacks and Go needs is supplied here, never in the product: a
// bcryptprimitives.dll that forwards ProcessPrng (built by this program,
// see dll.go), and a build overlay for os.RemoveAll (see prefix.go).
// docs/windows.md says what this proves and what only Windows can.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.out, "out", "build/windows", "folder for the prefix, the test binaries and their logs")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "the longest one package's tests may run")
	flag.StringVar(&o.linux, "linux", "", "packages of Linux-side tests to run against the prefix afterwards (space-separated)")
	flag.Parse()
	o.pkgs = flag.Args()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "winetest:", err)
		os.Exit(1)
	}
}

type options struct {
	out     string
	timeout time.Duration
	linux   string
	pkgs    []string
}

func run(o options) error {
	wine, err := findWine()
	if err != nil {
		if os.Getenv("CI") == "true" {
			return fmt.Errorf("%v; .ci/run should have installed it", err)
		}
		fmt.Println("--- SKIP: the Windows suites:", err)
		return nil
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return err
	}
	start := time.Now()
	ctx := context.Background()
	// Named with "_" so that the go tool's ./... passes over both.
	overlay, err := removeAllOverlay(filepath.Join(out, "_overlay"))
	if err != nil {
		return err
	}
	// The test binaries build while the prefix is made, and each next one
	// while the one before runs.
	builds := make(chan built)
	go func() {
		defer close(builds)
		for _, pkg := range o.pkgs {
			exe, err := buildTest(ctx, out, overlay, pkg)
			builds <- built{pkg, exe, err}
		}
	}()
	fmt.Println("== a wine prefix in", filepath.Join(out, "_prefix"))
	p, err := newPrefix(ctx, filepath.Join(out, "_prefix"), wine)
	if err != nil {
		return err
	}
	stop := p.keepServer()
	defer stop()
	if err := p.warmUp(ctx); err != nil {
		return err
	}
	fmt.Printf("   ready in %s\n", time.Since(start).Round(time.Second))
	var failed []string
	for b := range builds {
		err := b.err
		if err == nil && b.exe == "" {
			fmt.Printf("?   \t%s\t[no test files]\n", b.pkg)
			continue
		}
		if err == nil {
			err = runTest(ctx, p, o, out, b.pkg, b.exe)
		}
		if err != nil {
			fmt.Printf("FAIL\t%s: %v\n", b.pkg, err)
			failed = append(failed, b.pkg)
		}
	}
	if o.linux != "" {
		if err := linuxSide(ctx, p, out, strings.Fields(o.linux)); err != nil {
			fmt.Printf("FAIL\tthe Linux-side tests under wine: %v\n", err)
			failed = append(failed, "the Linux-side tests")
		}
	}
	fmt.Printf("== the Windows suites took %s\n", time.Since(start).Round(time.Second))
	if len(failed) > 0 {
		return fmt.Errorf("failed under wine: %s (logs in %s)", strings.Join(failed, ", "), filepath.Join(out, "logs"))
	}
	return nil
}

// built is one package's test binary, "" when it has no tests.
type built struct {
	pkg, exe string
	err      error
}

// buildTest cross-compiles one package's tests for windows/amd64.
func buildTest(ctx context.Context, out, overlay, pkg string) (string, error) {
	exe := filepath.Join(out, "bin", binName(pkg)+".test.exe")
	_ = os.Remove(exe) // go test -c writes nothing for a package without tests
	build := exec.CommandContext(ctx, "go", "test", "-c", "-overlay", overlay, "-o", exe, pkg)
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build: %v\n%s", err, b)
	}
	if _, err := os.Stat(exe); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return exe, nil
}

func binName(pkg string) string {
	return strings.NewReplacer("./", "", "/", "_", ".", "root").Replace(strings.TrimSuffix(pkg, "/"))
}

// runTest runs one package's test binary in the package's folder, as go
// test does, printing what go test -v would keep.
func runTest(ctx context.Context, p *prefix, o options, out, pkg, exe string) error {
	name := binName(pkg)
	dir, err := packageDir(pkg)
	if err != nil {
		return err
	}
	logPath := filepath.Join(out, "logs", name+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	// The test binary's own alarm fires first and prints every goroutine;
	// the outer one stops a binary wine has wedged.
	rctx, cancel := context.WithTimeout(ctx, o.timeout+time.Minute)
	defer cancel()
	cmd := p.command(rctx, exe, "-test.v", "-test.timeout", o.timeout.String(), "-test.count", "1")
	cmd.Dir = dir
	// Without CI=true: the tools the suites need and CI installs
	// (mosquitto, chromium, prometheus, systemd-analyze…) are Linux
	// programs no Windows test can run, so under wine their absence is a
	// skip, which prints its reason, not a failure.
	cmd.Env = slices.DeleteFunc(slices.Clone(cmd.Env), func(kv string) bool { return strings.HasPrefix(kv, "CI=") })
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err = runFiltered(cmd, log)
	took := time.Since(start).Round(100 * time.Millisecond)
	switch {
	case errors.Is(err, exec.ErrWaitDelay):
		// It passed; a process wine started kept its output open.
		fmt.Printf("ok  \t%s\t%s (under wine; a wine background process held its output open)\n", pkg, took)
		return nil
	case rctx.Err() != nil:
		return fmt.Errorf("still running after %s; wine stopped it", o.timeout+time.Minute)
	case err != nil:
		return fmt.Errorf("%v after %s", err, took)
	}
	fmt.Printf("ok  \t%s\t%s (under wine)\n", pkg, took)
	return nil
}

// keep is what go test -v prints that a person wants in the summary: the
// results, skips and failures with their lines.
var keep = regexp.MustCompile(`^(--- FAIL|--- SKIP|FAIL|panic:)|^\s+\S+_test\.go:[0-9]+:`)

func runFiltered(cmd *exec.Cmd, log io.Writer) error {
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(log, line)
			if keep.MatchString(line) {
				fmt.Println(line)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Wait()
	pw.Close()
	<-done
	return err
}

func packageDir(pkg string) (string, error) {
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", pkg).Output()
	if err != nil {
		return "", fmt.Errorf("go list %s: %w", pkg, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// linuxSide runs the tests that drive fluxrelay.exe in the prefix from
// Linux, as a technician's tools and a shop's terminals would from outside
// the Windows machine.
func linuxSide(ctx context.Context, p *prefix, out string, pkgs []string) error {
	fmt.Println("== fluxrelay.exe under wine, driven from Linux:", strings.Join(pkgs, " "))
	log, err := os.Create(filepath.Join(out, "logs", "linux-side.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, "go", append([]string{"test", "-count=1", "-v", "-timeout", "20m"}, pkgs...)...)
	cmd.Env = append(p.env, "FLUXRELAY_WINEPREFIX="+p.dir, "FLUXRELAY_WINE="+p.wine)
	start := time.Now()
	if err := runFiltered(cmd, log); err != nil {
		return err
	}
	fmt.Printf("ok  \t%s\t%s\n", strings.Join(pkgs, " "), time.Since(start).Round(100*time.Millisecond))
	return nil
}
