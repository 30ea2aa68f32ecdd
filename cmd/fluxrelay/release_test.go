package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestShippedBuildCarriesNoTestCode: the build the packages ship (-tags
// release) links no test code — not relay/relaytest (mock-core's fake
// Fluxvend), not net/http/httptest, not the testing package — and says
// where mock-core is instead of running it; the developer's build has it.
func TestShippedBuildCarriesNoTestCode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("skipped on Windows: it asks the go tool, which the Windows suites (wine) do not have; the shipped build is the same for every system")
	}
	out, err := exec.Command("go", "list", "-deps", "-tags", "release", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "testing" || dep == "net/http/httptest" || (strings.HasSuffix(dep, "test") && strings.Contains(dep, "fluxrelay/")) {
			t.Errorf("the shipped build links %s", dep)
		}
	}
	bin := filepath.Join(t.TempDir(), "fluxrelay")
	if out, err := exec.Command("go", "build", "-tags", "release", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	help, _ := exec.Command(bin, "help").Output()
	if strings.Contains(string(help), "mock-core") {
		t.Errorf("the shipped build's help lists mock-core:\n%s", help)
	}
	cmd := exec.Command(bin, "mock-core", "--api-key", "K")
	msg, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != exitUsage || !strings.Contains(string(msg), "developer's tool") {
		t.Errorf("mock-core in the shipped build: exit %d %q", cmd.ProcessState.ExitCode(), msg)
	}
	if code, out, _ := runCmd("help"); code != 0 || !strings.Contains(out, "mock-core") {
		t.Errorf("the developer's build (what tests and make run use) does not list mock-core:\n%s", out)
	}
}
