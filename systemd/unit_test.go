package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnitVerifies runs systemd-analyze verify on the shipped unit (with
// ExecStart pointing at an executable that exists here).
func TestUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is not installed; .ci/run should have installed the systemd package")
		}
		t.Skip("skipped: systemd-analyze is not installed (apt-get install systemd)")
	}
	self, _ := os.Executable()
	unit := strings.Replace(Unit(), "/usr/bin/fluxrelay", self, 1)
	path := filepath.Join(t.TempDir(), "fluxrelay.service")
	os.WriteFile(path, []byte(unit), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestUnitPromises(t *testing.T) {
	for _, want := range []string{"After=network-online.target", "Wants=network-online.target", "Restart=on-failure", "RestartSec=5",
		"User=fluxrelay", "StateDirectory=fluxrelay", "ExecReload=/bin/kill -HUP $MAINPID", "TimeoutStopSec=30",
		"Environment=GOMEMLIMIT=56MiB", "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/fluxrelay",
		"ExecStart=/usr/bin/fluxrelay run -c /etc/fluxrelay/fluxrelay.toml",
		"Type=notify", "NotifyAccess=main", "WatchdogSec=30", "EnvironmentFile=-/etc/default/fluxrelay"} {
		if !strings.Contains(Unit(), want+"\n") {
			t.Errorf("the unit lacks %q", want)
		}
	}
	tmpl := ServiceTemplate("/opt/fluxrelay/fluxrelay.toml")
	if !strings.Contains(tmpl, "ExecStart={{Path}} run -c /opt/fluxrelay/fluxrelay.toml\n") || strings.Contains(tmpl, "RestartSec=120") {
		t.Errorf("service template:\n%s", tmpl)
	}
}
