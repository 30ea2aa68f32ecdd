// Package windows tests fluxrelay on Windows from Linux: the MSI that
// make package builds (its tables, read with msiinfo), and under wine the
// daemon end to end, the Windows service and the MSI's install, upgrade and
// removal (wine_test.go, run by make test-windows).
package windows

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// upgradeCode is the one code every fluxrelay MSI carries, by which a
// newer one finds the one installed.
const upgradeCode = "{D1B8D7BC-4805-4BB8-97FA-09395358D7BF}"

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed; .ci/run should have installed it (apt-get install wixl msitools)", tool)
			}
			t.Skipf("skipped: %s is not installed (apt-get install wixl msitools)", tool)
		}
	}
}

var (
	buildDir  string
	buildOnce sync.Mutex
	built     = map[string]string{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fluxrelay-windows-")
	if err != nil {
		panic(err)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// exe builds fluxrelay.exe for windows/amd64 as make package does (a release build), once
// per version.
func exe(t *testing.T, version string) string {
	t.Helper()
	buildOnce.Lock()
	defer buildOnce.Unlock()
	if p, ok := built[version]; ok {
		return p
	}
	out := filepath.Join(buildDir, version, "fluxrelay.exe")
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "release", "-ldflags", "-s -w -X main.version="+version, "-o", out, "./cmd/fluxrelay")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building fluxrelay.exe: %v\n%s", err, b)
	}
	built[version] = out
	return out
}

// msi builds the installer with the script make package runs.
func msi(t *testing.T, version string) string {
	t.Helper()
	out := filepath.Join(buildDir, version, "fluxrelay-"+version+"-x64.msi")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	cmd := exec.Command("sh", "packaging/windows/msi.sh", version, exe(t, version), out)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("packaging/windows/msi.sh: %v\n%s", err, b)
	}
	return out
}

// table reads one of the MSI's tables: a row per line, its columns split.
func table(t *testing.T, msiPath, name string) [][]string {
	t.Helper()
	b, err := exec.Command("msiinfo", "export", msiPath, name).Output()
	if err != nil {
		t.Fatalf("msiinfo export %s: %v", name, err)
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n"), "\n")
	var rows [][]string
	for _, l := range lines[min(3, len(lines)):] { // column names, types, the table's name and keys
		rows = append(rows, strings.Split(l, "\t"))
	}
	return rows
}

// byKey indexes rows by their first column.
func byKey(rows [][]string) map[string][]string {
	m := map[string][]string{}
	for _, r := range rows {
		m[r[0]] = r
	}
	return m
}

// TestMSI builds the installer and reads it back: what it installs and
// where, that it registers the service through fluxrelay.exe itself, in
// the order that stops the service before its files go and starts it once
// they are in place, that it replaces an older fluxrelay whole, and that it
// owns nothing in ProgramData (so an upgrade or a removal keeps the config
// and the data).
func TestMSI(t *testing.T) {
	need(t, "wixl", "msiinfo", "msiextract")
	path := msi(t, "0.1.0")

	props := byKey(table(t, path, "Property"))
	for k, want := range map[string]string{"ProductName": "fluxrelay", "ProductVersion": "0.1.0", "UpgradeCode": upgradeCode, "Manufacturer": "Fluxvend", "ALLUSERS": "1"} {
		if got := props[k]; len(got) < 2 || got[1] != want {
			t.Errorf("property %s = %v; want %s", k, got, want)
		}
	}
	files := byKey(table(t, path, "File"))
	for id, name := range map[string]string{"fluxrelay.exe": "fluxrelay.exe", "example": "fluxrelay.example.toml", "guide": "windows.md"} {
		if f := files[id]; len(f) < 3 || f[2] != name {
			t.Errorf("file %s: %v; want it installed as %s", id, f, name)
		}
	}
	dirs := byKey(table(t, path, "Directory"))
	if d := dirs["INSTALLDIR"]; len(d) < 3 || d[1] != "ProgramFiles64Folder" || d[2] != "fluxrelay" {
		t.Errorf("INSTALLDIR is %v; want fluxrelay in ProgramFiles64Folder", d)
	}
	for id := range dirs {
		if strings.Contains(id, "CommonAppData") {
			t.Errorf("the MSI has a folder in ProgramData (%s): removing it would take the config or the data", id)
		}
	}

	// 18: run an installed file; +1024 deferred; +2048 as LocalSystem;
	// +64 go on when it fails.
	actions := byKey(table(t, path, "CustomAction"))
	for id, want := range map[string][]string{
		"ServiceInstall":   {"3090", "fluxrelay.exe", "service install"},
		"ServiceStart":     {"3154", "fluxrelay.exe", "service start"},
		"ServiceUninstall": {"3154", "fluxrelay.exe", "service uninstall"},
	} {
		if got := actions[id]; len(got) < 4 || strings.Join(got[1:4], "|") != strings.Join(want, "|") {
			t.Errorf("custom action %s = %v; want type, file, command %v", id, got, want)
		}
	}
	seq := map[string]int{}
	cond := map[string]string{}
	for _, r := range table(t, path, "InstallExecuteSequence") {
		if n, err := strconv.Atoi(r[2]); err == nil {
			seq[r[0]], cond[r[0]] = n, r[1]
		}
	}
	before := func(a, b string) {
		if seq[a] == 0 || seq[b] == 0 || seq[a] >= seq[b] {
			t.Errorf("%s (%d) must run before %s (%d)", a, seq[a], b, seq[b])
		}
	}
	before("InstallValidate", "RemoveExistingProducts") // the older product goes first, whole
	before("RemoveExistingProducts", "InstallInitialize")
	before("InstallInitialize", "ServiceUninstall") // deferred actions sit inside the script
	before("ServiceUninstall", "RemoveFiles")       // the service stops before its program goes
	before("InstallFiles", "ServiceInstall")        // and is registered once it is in place
	before("ServiceInstall", "ServiceStart")
	before("ServiceStart", "InstallFinalize")
	if cond["ServiceUninstall"] != `REMOVE~="ALL"` || cond["ServiceInstall"] != `NOT REMOVE~="ALL"` || cond["ServiceStart"] != `NOT REMOVE~="ALL"` {
		t.Errorf("conditions: uninstall %q, install %q, start %q", cond["ServiceUninstall"], cond["ServiceInstall"], cond["ServiceStart"])
	}
	upgrades := table(t, path, "Upgrade")
	found := false
	for _, u := range upgrades {
		if len(u) >= 7 && u[0] == upgradeCode && u[2] == "0.1.0" && u[6] == "WIX_UPGRADE_DETECTED" {
			found = true
		}
	}
	if !found {
		t.Errorf("no upgrade of older versions with the UpgradeCode: %v", upgrades)
	}
	info, _ := exec.Command("msiinfo", "suminfo", path).Output()
	if !bytes.Contains(info, []byte("Template: x64;1033")) {
		t.Errorf("not an x64 package:\n%s", info)
	}

	// What it installs is what was built and the shipped example.
	out := t.TempDir()
	cmd := exec.Command("msiextract", "-C", out, path)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("msiextract: %v\n%s", err, b)
	}
	for name, src := range map[string]string{"fluxrelay.exe": exe(t, "0.1.0"), "fluxrelay.example.toml": "../fluxrelay.example.toml", "windows.md": "../../docs/windows.md"} {
		got, err := os.ReadFile(filepath.Join(out, "fluxrelay", name)) // INSTALLDIR, under a folder that names no path
		want, _ := os.ReadFile(src)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s in the MSI differs from %s (%v)", name, src, err)
		}
	}
}
