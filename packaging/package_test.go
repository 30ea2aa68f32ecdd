// Package packaging tests the .deb: built with `make package`, installed
// into a throw-away root with dpkg --root (never the host's own /etc).
package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed; .ci/run should have installed it", tool)
			}
			t.Skipf("skipped: %s is not installed", tool)
		}
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the package test needs root (CI runs as root)")
		}
		t.Skip("skipped: installing a package into a throw-away root needs root")
	}
}

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// fileID returns mode, uid and gid.
func fileID(t *testing.T, path string) (os.FileMode, int, int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("%s is missing: %v", path, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fi.Mode().Perm(), int(st.Uid), int(st.Gid)
}

func idOf(t *testing.T, file, name string) int {
	t.Helper()
	b, _ := os.ReadFile(file)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) > 2 && f[0] == name {
			n, _ := strconv.Atoi(f[2])
			return n
		}
	}
	t.Fatalf("%s has no %s", file, name)
	return -1
}

func TestDebInstallsIntoARoot(t *testing.T) {
	need(t, "dpkg", "dpkg-deb", "useradd", "make", "deb-systemd-helper")
	hostPasswd, _ := os.ReadFile("/etc/passwd")
	deb := buildDeb(t)
	if c := run(t, nil, "dpkg-deb", "-I", deb, "conffiles"); strings.TrimSpace(c) != "/etc/default/fluxrelay\n/etc/fluxrelay/fluxrelay.toml" {
		t.Errorf("conffiles = %q", c)
	}

	root := newRoot(t)
	dpkg := func(args ...string) string {
		// an empty root has no systemd or adduser to satisfy Depends
		return run(t, nil, "dpkg", append([]string{"--root=" + root, "--force-script-chrootless", "--force-depends", "--log=/dev/null"}, args...)...)
	}
	dpkg("-i", deb)

	uid, gid := idOf(t, filepath.Join(root, "etc/passwd"), "fluxrelay"), idOf(t, filepath.Join(root, "etc/group"), "fluxrelay")
	if !bytes.Contains(mustRead(t, filepath.Join(root, "etc/passwd")), []byte(":/var/lib/fluxrelay:/usr/sbin/nologin")) {
		t.Error("the fluxrelay user is not a system user without a login shell")
	}
	for path, want := range map[string][3]int{
		"usr/bin/fluxrelay":                                  {0o755, 0, 0},
		"etc/fluxrelay/fluxrelay.toml":                       {0o640, 0, gid},
		"etc/default/fluxrelay":                              {0o640, 0, gid},
		"usr/share/man/man1/fluxrelay.1.gz":                  {0o644, 0, 0},
		"usr/share/doc/fluxrelay/copyright":                  {0o644, 0, 0},
		"usr/share/doc/fluxrelay/changelog.gz":               {0o644, 0, 0},
		"usr/share/bash-completion/completions/fluxrelay":    {0o644, 0, 0},
		"usr/share/zsh/vendor-completions/_fluxrelay":        {0o644, 0, 0},
		"usr/share/fish/vendor_completions.d/fluxrelay.fish": {0o644, 0, 0},
		"usr/lib/sysusers.d/fluxrelay.conf":                  {0o644, 0, 0},
		"usr/lib/tmpfiles.d/fluxrelay.conf":                  {0o644, 0, 0},
		"lib/systemd/system/fluxrelay.service":               {0o644, 0, 0},
		"usr/share/doc/fluxrelay/docs/upgrade.md":            {0o644, 0, 0},
		"var/lib/fluxrelay":                                  {0o700, uid, gid},
	} {
		mode, u, g := fileID(t, filepath.Join(root, path))
		if int(mode) != want[0] || u != want[1] || g != want[2] {
			t.Errorf("/%s: mode %04o owner %d:%d; want %04o %d:%d", path, mode, u, g, want[0], want[1], want[2])
		}
	}
	out, err := exec.Command(filepath.Join(root, "usr/bin/fluxrelay"), "check-config", "-c", filepath.Join(root, "etc/fluxrelay/fluxrelay.toml")).CombinedOutput()
	// The one warning a fresh install has: the gateway is not named yet.
	if err != nil || strings.Count(string(out), "warning") != strings.Count(string(out), "warning: gateway: is empty") || !strings.Contains(string(out), "valid") {
		t.Errorf("check-config on the installed config: %v\n%s", err, out)
	}
	if s := dpkg("-s", "fluxrelay"); !strings.Contains(s, "Status: install ok installed") {
		t.Errorf("dpkg -s:\n%s", s)
	}
	// a first install enables the service (deb-systemd-helper, in the root)
	wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants/fluxrelay.service")
	if dst, err := os.Readlink(wants); err != nil || dst != "/lib/systemd/system/fluxrelay.service" {
		t.Errorf("the first install did not enable the service: %q %v", dst, err)
	}
	// the binary says the package's version
	pkgVersion := strings.TrimSpace(run(t, nil, "dpkg-deb", "-f", deb, "Version"))
	if v := run(t, nil, filepath.Join(root, "usr/bin/fluxrelay"), "version"); !strings.HasPrefix(v, "fluxrelay "+pkgVersion+" ") {
		t.Errorf("the binary says %q; the package is %s", v, pkgVersion)
	}
	// man fluxrelay, from the installed page
	if _, err := exec.LookPath("man"); err == nil {
		page := run(t, []string{"MANWIDTH=80"}, "man", "-l", filepath.Join(root, "usr/share/man/man1/fluxrelay.1.gz"))
		page = strings.Join(strings.Fields(page), " ") // man justifies its lines with extra spaces
		for _, want := range []string{"fluxrelay - store-and-forward relay", "check-config [FILE]", "drop ID…", "mqtt-passwd"} {
			if !strings.Contains(page, want) {
				t.Errorf("the man page lacks %q", want)
			}
		}
	} else if os.Getenv("CI") == "true" {
		t.Error("man is not installed; .ci/run should have installed man-db")
	}
	// tab completion, from the installed bash script
	if out := run(t, nil, "bash", "-c", `. "$1"; COMP_WORDS=(fluxrelay dl); COMP_CWORD=1; _fluxrelay; echo "${COMPREPLY[*]}"; `+
		`COMP_WORDS=(fluxrelay dlq ""); COMP_CWORD=2; _fluxrelay; echo "${COMPREPLY[*]}"`, "bash", filepath.Join(root, "usr/share/bash-completion/completions/fluxrelay")); out != "dlq\n--addr --all -c --json --socket --yes list show replay drop\n" {
		t.Errorf("bash completion: %q", out)
	}
	lintian(t, deb)

	os.WriteFile(filepath.Join(root, "var/lib/fluxrelay/queued"), []byte("x"), 0o600)
	dpkg("-r", "fluxrelay")
	for _, kept := range []string{"var/lib/fluxrelay/queued", "etc/fluxrelay/fluxrelay.toml"} {
		if _, err := os.Stat(filepath.Join(root, kept)); err != nil {
			t.Errorf("removing the package deleted /%s; data and config are kept until purge", kept)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/fluxrelay")); err == nil {
		t.Error("the binary is still there after remove")
	}
	if dst, err := os.Readlink(filepath.Join(root, "etc/systemd/system/fluxrelay.service")); err != nil || dst != "/dev/null" {
		t.Errorf("remove did not mask the service, as a package's removal does: %q %v", dst, err)
	}
	dpkg("-P", "fluxrelay")
	if _, err := os.Stat(filepath.Join(root, "var/lib/fluxrelay")); err == nil {
		t.Error("purge kept /var/lib/fluxrelay")
	}
	if _, err := os.Stat(filepath.Join(root, "etc/default/fluxrelay")); err == nil {
		t.Error("purge kept /etc/default/fluxrelay")
	}
	for _, link := range []string{"etc/systemd/system/fluxrelay.service", "etc/systemd/system/multi-user.target.wants/fluxrelay.service"} {
		if _, err := os.Lstat(filepath.Join(root, link)); err == nil {
			t.Errorf("purge left /%s", link)
		}
	}
	// Debian keeps system users on purge: files elsewhere may still belong to them
	if !bytes.Contains(mustRead(t, filepath.Join(root, "etc/passwd")), []byte("fluxrelay:")) {
		t.Error("purge removed the fluxrelay user")
	}
	if now, _ := os.ReadFile("/etc/passwd"); !bytes.Equal(now, hostPasswd) {
		t.Fatal("the test changed the host's /etc/passwd")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lintian checks the .deb when it is installed; every tag it still shows
// is explained in packaging/lintian-overrides.
func lintian(t *testing.T, deb string) {
	t.Helper()
	if _, err := exec.LookPath("lintian"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Error("lintian is not installed; .ci/run should have installed it")
		}
		t.Log("lintian is not installed: the package was not checked by it")
		return
	}
	out, _ := exec.Command("lintian", "--no-tag-display-limit", deb).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "E: ") || strings.HasPrefix(line, "W: ") {
			t.Errorf("lintian: %s", line)
		}
	}
}
