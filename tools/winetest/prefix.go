package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// prefix is one wine prefix (a Windows installation in a folder), created
// for a run and shared by every test binary of it: creating one takes
// seconds to a minute, running a program in a ready one a fraction of a
// second.
type prefix struct {
	dir  string
	wine string // the wine loader
	env  []string
}

// findWine returns the wine loader: Debian's wine64 package installs
// /usr/lib/wine/wine64 and the wine wrapper, which picks it for a 64-bit
// program.
func findWine() (string, error) {
	for _, name := range []string{"wine64", "wine"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if _, err := os.Stat("/usr/lib/wine/wine64"); err == nil {
		return "/usr/lib/wine/wine64", nil
	}
	return "", errors.New("wine is not installed (apt-get install wine64)")
}

// newPrefix creates a fresh prefix in dir, with the stand-ins for what
// wine lacks and Go needs. The environment it returns is what every run
// in it uses.
func newPrefix(ctx context.Context, dir, wine string) (*prefix, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	p := &prefix{dir: dir, wine: wine, env: append(os.Environ(),
		"WINEPREFIX="+dir,
		"WINEARCH=win64",
		"WINEDEBUG=-all",
		// no Mono or Gecko: nothing here needs .NET or a browser, and
		// wineboot would otherwise ask for them
		"WINEDLLOVERRIDES=mscoree,mshtml=",
	)}
	if filepath.Base(wine) == "wine64" {
		p.env = append(p.env, "WINELOADER="+wine) // what Debian's wine wrapper sets for it
	}
	boot, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if out, err := p.command(boot, "wineboot", "-i").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wineboot -i: %v\n%s", err, out)
	}
	// wineboot returns before the registry is written to disk; the
	// server writes it when it ends.
	if out, err := exec.CommandContext(boot, wineserver(wine), "-w").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wineserver -w: %v\n%s", err, out)
	}
	sys32 := filepath.Join(dir, "drive_c", "windows", "system32")
	dll := forwarderDLL("bcryptprimitives.dll", map[string]string{"ProcessPrng": "advapi32.SystemFunction036"})
	if err := os.WriteFile(filepath.Join(sys32, "bcryptprimitives.dll"), dll, 0o644); err != nil {
		return nil, fmt.Errorf("bcryptprimitives.dll: %w", err)
	}
	return p, nil
}

// warmUp runs a first program in the prefix, which starts wine's own
// background programs (services.exe, winedevice.exe…) with no output: a
// background program inherits the output of the program that started it,
// and would keep a test binary's output open after it has ended.
func (p *prefix) warmUp(ctx context.Context) error {
	run, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := p.command(run, "cmd", "/c", "exit").Run(); err != nil {
		return fmt.Errorf("a first program in the prefix: %w", err)
	}
	return nil
}

// command runs a program of the prefix (wineboot, reg, sc, msiexec) or a
// Windows program given by its path.
func (p *prefix) command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, p.wine, append([]string{prog}, args...)...)
	cmd.Env = p.env
	return cmd
}

// keepServer starts the prefix's server for the whole run, so that each
// program does not start and stop it again; stop ends it and every
// program still running in the prefix.
func (p *prefix) keepServer() (stop func()) {
	srv := exec.Command(wineserver(p.wine), "-p")
	srv.Env = p.env
	_ = srv.Run() // it forks and returns
	return func() {
		kill := exec.Command(wineserver(p.wine), "-k")
		kill.Env = p.env
		_ = kill.Run()
	}
}

func wineserver(wine string) string {
	for _, p := range []string{filepath.Join(filepath.Dir(wine), "wineserver"), "/usr/lib/wine/wineserver64", "/usr/lib/wine/wineserver"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "wineserver"
}

// removeAllOverlay writes a build overlay that lets os.RemoveAll work under
// wine, and returns the overlay's path. Go deletes a directory's entries
// with NtSetInformationFile(FileDispositionInformationEx); wine 8 answers
// STATUS_NOT_IMPLEMENTED where Windows before 10 1607 answers
// STATUS_INVALID_INFO_CLASS, so Go never takes its fallback for older
// Windows, and every t.TempDir cleanup fails. The overlay adds wine's
// answer to the answers that take the fallback, in the test binaries only:
// fluxrelay.exe itself is built as shipped.
func removeAllOverlay(dir string) (string, error) {
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOROOT: %w", err)
	}
	src := filepath.Join(strings.TrimSpace(string(goroot)), "src", "internal", "syscall", "windows", "at_windows.go")
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	const anchor = "STATUS_NOT_SUPPORTED:"
	if strings.Count(string(b), anchor) != 1 {
		return "", fmt.Errorf("%s no longer reads as this harness expects (one %q): see docs/windows.md, Go's RemoveAll under wine", src, anchor)
	}
	patched := strings.Replace(string(b), anchor, "STATUS_NOT_SUPPORTED, NTStatus(0xC0000002) /* wine: STATUS_NOT_IMPLEMENTED */ :", 1)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	file := filepath.Join(dir, "at_windows.go")
	if err := os.WriteFile(file, []byte(patched), 0o644); err != nil {
		return "", err
	}
	overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {src: file}})
	path := filepath.Join(dir, "overlay.json")
	return path, os.WriteFile(path, overlay, 0o644)
}
