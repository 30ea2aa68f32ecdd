package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/kardianos/service"

	"github.com/fluxrelay/fluxrelay/config"
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

// runService runs `fluxrelay service ARGS` against fake.
func runService(fake *fakeService, args ...string) (int, string) {
	var out, errb strings.Builder
	code := cmdService(args, &out, &errb, func(c *service.Config) (service.Service, error) { fake.cfg = c; return fake, nil })
	return code, out.String() + errb.String()
}

// TestServiceCommands: start, stop, restart and status go to the service
// manager (install and uninstall differ per system: service_unix_test.go,
// and packaging/windows under wine).
func TestServiceCommands(t *testing.T) {
	fake := &fakeService{}
	cfg := config.DefaultPath()
	for _, a := range []string{"start", "stop", "restart"} {
		if code, out := runService(fake, a, "-c", cfg); code != 0 || !strings.Contains(out, "done") {
			t.Errorf("service %s: %d %s", a, code, out)
		}
	}
	if got := strings.Join(fake.actions, ","); got != "start,stop,restart" {
		t.Errorf("actions %s", got)
	}
	if args := strings.Join(fake.cfg.Arguments, " "); args != "run -c "+cfg {
		t.Errorf("the service runs %q; want run -c %s", args, cfg)
	}
	if code, out := runService(fake, "status"); code != 1 || !strings.Contains(out, "not installed") {
		t.Errorf("status when not installed: %d %s", code, out)
	}
	fake.status = service.StatusRunning
	if code, out := runService(fake, "status"); code != 0 || strings.TrimSpace(out) != "running" {
		t.Errorf("status: %d %q", code, out)
	}
	if code, _ := runService(fake, "frobnicate"); code != 2 {
		t.Errorf("unknown action: %d", code)
	}
}

// TestAdminTokenForANewConfig: the config service install writes on
// Windows is the shipped example with a fresh admin.token, and still valid.
func TestAdminTokenForANewConfig(t *testing.T) {
	example, err := os.ReadFile("../../packaging/fluxrelay.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	doc, ok := withAdminToken(example)
	if !ok {
		t.Fatal("the example has no empty token in [admin]: service install on Windows would leave the commands without a way in")
	}
	token := regexp.MustCompile(`(?m)^token = "([0-9a-f]{64})"$`).FindSubmatch(doc)
	if token == nil {
		t.Fatalf("no 64-hex token in:\n%s", doc)
	}
	cfg, problems := config.Parse("fluxrelay.toml", doc)
	for _, p := range problems {
		if !p.Warn {
			t.Errorf("the config with its token: %v", p)
		}
	}
	if cfg.Admin.Token.Value() != string(token[1]) {
		t.Errorf("admin.token is %q; the token written was %s", cfg.Admin.Token.Value(), token[1])
	}
	if again, _ := withAdminToken(example); string(again) == string(doc) {
		t.Error("two installs got the same token")
	}
	if _, ok := withAdminToken([]byte("version = 1\n[admin]\nlisten = \"127.0.0.1:8089\"\n[log]\ntoken = \"\"\n")); ok {
		t.Error("a token = \"\" outside [admin] was taken for the admin token")
	}
}
