package packaging

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/loopback"
	"github.com/fluxrelay/fluxrelay/internal/oldbuild"
)

// The previous release the upgrade starts from: the end of the latest
// development round, the package a gateway runs today (its own
// maintainer scripts run during the upgrade), built as 0.0.9 so that this
// tree's package (0.1.0) is the next one.
const (
	previousCommit  = "b4ff716"
	previousVersion = "0.0.9"
)

// TestDebUpgradeAndDowngrade installs the previous release's .deb into a
// throw-away root, edits its config, runs its daemon there as the unit
// would (chroot, the unit's user, its ExecStart) with notifications
// waiting, and installs this tree's .deb over it while it runs: the data
// folder, the edited config, the queue and the enabled service are kept,
// and the new daemon delivers what waited, once. Going back to the
// previous .deb keeps them too, and nothing acknowledged is lost over the
// way back and up again. A package refuses, with a message, to replace
// one whose queue is in a store format it does not read, and the
// installed one stays.
func TestDebUpgradeAndDowngrade(t *testing.T) {
	oldbuild.Wanted(t)
	need(t, "dpkg", "dpkg-deb", "useradd", "make", "deb-systemd-helper")
	next, prev := buildDeb(t), previousDeb(t)
	gw := &gateway{t: t, root: newRoot(t), core: newCore(t), ingest: loopback.FreeAddr(t), admin: loopback.FreeAddr(t)}

	gw.dpkg(true, "-i", prev)
	// what the previous package's postinst does on a gateway with systemd
	// (it did nothing in another root)
	run(t, []string{"DPKG_ROOT=" + gw.root, "DPKG_MAINTSCRIPT_PACKAGE=fluxrelay", "DPKG_MAINTSCRIPT_NAME=postinst"},
		"deb-systemd-helper", "enable", "fluxrelay.service")
	gw.installed(previousVersion)
	edited := gw.editConfig()
	gw.start()
	gw.send(5, false)
	gw.send(10, true)

	format := gw.upgrade(next, edited)
	large := gw.downgrade(prev, edited)
	// and up again: what the previous release could not read waits again
	// (the core is down until it is counted), then is delivered
	gw.core.down.Store(true)
	gw.dpkg(true, "--force-confdef", "--force-confold", "-i", next)
	gw.installed("0.1.0")
	gw.restart()
	if st := gw.waitStatus("the restarted service", func(status) bool { return true }); st.QueueDepth != 1 {
		t.Errorf("after going back to %s and up again, %d notifications wait; want 1: %s, kept partly in a blob by 0.1.0, which %s cannot read and sets aside as damaged, is not back in the queue",
			previousVersion, st.QueueDepth, large, previousVersion)
	}
	gw.deliver("0.1.0")
	gw.refused(next, format, edited)
}

// upgrade installs next over the running previous release, as a
// technician does at a terminal: asked about the edited config, they keep
// it (the default). The service is restarted on the new binary and
// delivers what waited. It returns the store format the new release
// records.
func (g *gateway) upgrade(next string, edited [2][]byte) string {
	g.t.Helper()
	g.answer = "N\n"
	g.dpkg(true, "-i", next)
	g.answer = ""
	g.installed("0.1.0")
	g.kept(edited)
	if _, err := os.Stat(filepath.Join(g.root, "etc/fluxrelay/fluxrelay.toml.dpkg-dist")); err != nil {
		g.t.Errorf("the new example config is not beside the kept one: %v", err)
	}
	g.restart() // what the postinst's deb-systemd-invoke restart does under systemd
	g.deliver("0.1.0")
	return g.storeFormat()
}

// downgrade installs the previous release again, unattended, over this one
// running with sales waiting, one of them large (its part over 64 KB
// compressed is in a blob, which the previous release cannot read). It
// returns that one's reference: the previous release delivers the others.
func (g *gateway) downgrade(prev string, edited [2][]byte) string {
	g.t.Helper()
	g.send(5, true)
	raw := make([]byte, 96<<10)
	rand.Read(raw)
	g.note = base64.StdEncoding.EncodeToString(raw) // does not compress
	g.send(1, true)
	g.note = ""
	large := g.waiting[len(g.waiting)-1]
	g.dpkg(true, "--force-confdef", "--force-confold", "-i", prev)
	g.installed(previousVersion)
	g.kept(edited)
	g.restart()
	g.deliver(previousVersion, large)
	return large
}

// refused: over a store of a format newer than this package reads (as a
// later release would leave it), installing the package is refused with a
// message that says why and what to do, and the installed one stays.
func (g *gateway) refused(next, format string, edited [2][]byte) {
	g.t.Helper()
	if format == "" {
		format = "1"
	}
	g.stop(syscall.SIGTERM)
	if err := os.WriteFile(filepath.Join(g.root, "var/lib/fluxrelay/store/FORMAT"), []byte("99\n"), 0o600); err != nil {
		g.t.Fatal(err)
	}
	out := g.dpkg(false, "--force-confdef", "--force-confold", "-i", next)
	for _, want := range []string{"not installed: the queue in /var/lib/fluxrelay was written by a newer fluxrelay", "reads up to format " + format, "Keep the newer version installed", "upgrade.md"} {
		if !strings.Contains(out, want) {
			g.t.Errorf("installing over a store of a newer format: the message lacks %q:\n%s", want, out)
		}
	}
	g.installed("0.1.0")
	g.kept(edited)
}

// buildDeb builds this tree's .deb for amd64 once.
func buildDeb(t *testing.T) string {
	t.Helper()
	run(t, []string{"PKG_ARCHES=amd64"}, "make", "-C", "..", "package", "PKG_ARCHES=amd64")
	debs, _ := filepath.Glob("../dist/fluxrelay_*_amd64.deb")
	if len(debs) != 1 {
		t.Fatalf("make package made %v", debs)
	}
	deb, _ := filepath.Abs(debs[0])
	return deb
}

// previousDeb builds the previous release's .deb from its own tree, with
// its own Makefile, recipe and scripts (kept in build/oldbuilds).
func previousDeb(t *testing.T) string {
	t.Helper()
	src, err := oldbuild.Source(previousCommit)
	oldbuild.Check(t, err)
	deb := filepath.Join(src.Path, "dist", "fluxrelay_"+previousVersion+"_amd64.deb")
	if _, err := os.Stat(deb); err == nil {
		return deb
	}
	start := time.Now()
	// nfpm is pinned the same in both trees: this tree's build saves one
	if b, err := os.ReadFile("../bin/nfpm"); err == nil {
		_ = os.MkdirAll(filepath.Join(src.Path, "bin"), 0o755)
		_ = os.WriteFile(filepath.Join(src.Path, "bin", "nfpm"), b, 0o755)
	}
	run(t, []string{"GOWORK=off"}, "make", "-C", src.Path, "package", "PKG_ARCHES=amd64", "PKG_VERSION="+previousVersion)
	t.Logf("built the %s package (%s) in %s", previousCommit, previousVersion, time.Since(start).Round(time.Second))
	return deb
}

// newRoot makes an empty root dpkg can install into, and that the
// service's user can reach (the test's own folders are 0700).
func newRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for d := root; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		os.WriteFile(filepath.Join(root, f), nil, 0o644)
	}
	for f, line := range map[string]string{"passwd": "root:x:0:0:root:/root:/bin/sh\n", "group": "root:x:0:\n", "shadow": "root:*:19000:0:99999:7:::\n", "gshadow": "root:*::\n"} {
		os.WriteFile(filepath.Join(root, "etc", f), []byte(line), 0o644)
	}
	return root
}
