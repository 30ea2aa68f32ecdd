package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kardianos/service"
)

// fakeService records what the CLI asks the service manager to do.
type fakeService struct {
	service.Service
	cfg     *service.Config
	actions []string
	status  service.Status
}

func (f *fakeService) Install() error   { f.actions = append(f.actions, "install"); return nil }
func (f *fakeService) Uninstall() error { f.actions = append(f.actions, "uninstall"); return nil }
func (f *fakeService) Start() error     { f.actions = append(f.actions, "start"); return nil }
func (f *fakeService) Stop() error      { f.actions = append(f.actions, "stop"); return nil }
func (f *fakeService) Restart() error   { f.actions = append(f.actions, "restart"); return nil }
func (f *fakeService) Status() (service.Status, error) {
	if f.status == service.StatusUnknown {
		return 0, service.ErrNotInstalled
	}
	return f.status, nil
}

func TestServiceCommands(t *testing.T) {
	saved := packagedUnits
	defer func() { packagedUnits = saved }()
	packagedUnits = []string{filepath.Join(t.TempDir(), "fluxrelay.service")}
	fake := &fakeService{}
	newFake := func(c *service.Config) (service.Service, error) { fake.cfg = c; return fake, nil }
	run := func(args ...string) (int, string) {
		var out, errb strings.Builder
		code := cmdService(args, &out, &errb, newFake)
		return code, out.String() + errb.String()
	}
	for _, a := range []string{"start", "stop", "restart", "uninstall"} {
		if code, out := run(a, "-c", "/etc/fluxrelay/fluxrelay.toml"); code != 0 || !strings.Contains(out, "done") {
			t.Errorf("service %s: %d %s", a, code, out)
		}
	}
	if got := strings.Join(fake.actions, ","); got != "start,stop,restart,uninstall" {
		t.Errorf("actions %s", got)
	}
	if args := strings.Join(fake.cfg.Arguments, " "); args != "run -c /etc/fluxrelay/fluxrelay.toml" {
		t.Errorf("the service runs %q", args)
	}
	if s, _ := fake.cfg.Option["SystemdScript"].(string); !strings.Contains(s, "{{Path}} run -c /etc/fluxrelay/fluxrelay.toml") || !strings.Contains(s, "RestartSec=5") {
		t.Errorf("SystemdScript is not the hardened unit:\n%s", s)
	}
	if code, out := run("status"); code != 1 || !strings.Contains(out, "not installed") {
		t.Errorf("status when not installed: %d %s", code, out)
	}
	fake.status = service.StatusRunning
	if code, out := run("status"); code != 0 || strings.TrimSpace(out) != "running" {
		t.Errorf("status: %d %q", code, out)
	}
	os.WriteFile(packagedUnits[0], []byte("[Unit]\n"), 0o644)
	if code, out := run("install"); code != 2 || !strings.Contains(out, "installed from a package") || !strings.Contains(out, "systemctl enable --now fluxrelay") {
		t.Errorf("install over a packaged unit: %d %s", code, out)
	}
	if code, _ := run("frobnicate"); code != 2 {
		t.Errorf("unknown action: %d", code)
	}
}
