//go:build !windows

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServiceInstallUnix: install writes the hardened unit, and refuses to
// shadow a packaged one.
func TestServiceInstallUnix(t *testing.T) {
	saved := packagedUnits
	defer func() { packagedUnits = saved }()
	packagedUnits = []string{filepath.Join(t.TempDir(), "fluxrelay.service")}
	fake := &fakeService{}
	if code, out := runService(fake, "uninstall", "-c", "/etc/fluxrelay/fluxrelay.toml"); code != 0 || !strings.Contains(out, "done") {
		t.Errorf("service uninstall: %d %s", code, out)
	}
	if s, _ := fake.cfg.Option["SystemdScript"].(string); !strings.Contains(s, "{{Path}} run -c /etc/fluxrelay/fluxrelay.toml") || !strings.Contains(s, "RestartSec=5") {
		t.Errorf("SystemdScript is not the hardened unit:\n%s", s)
	}
	os.WriteFile(packagedUnits[0], []byte("[Unit]\n"), 0o644)
	if code, out := runService(fake, "install"); code != 2 || !strings.Contains(out, "installed from a package") || !strings.Contains(out, "systemctl enable --now fluxrelay") {
		t.Errorf("install over a packaged unit: %d %s", code, out)
	}
	if got := strings.Join(fake.actions, ","); got != "uninstall" {
		t.Errorf("actions %s; want only the uninstall", got)
	}
}
