package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/kardianos/service"

	"github.com/fluxrelay/fluxrelay/systemd"
)

// packagedUnits are where the .deb and .rpm put the unit; `service install`
// must not shadow them with a copy in /etc/systemd/system.
var packagedUnits = []string{"/lib/systemd/system/fluxrelay.service", "/usr/lib/systemd/system/fluxrelay.service"}

func serviceConfig(configPath string) *service.Config {
	abs, err := filepath.Abs(configPath)
	if err == nil {
		configPath = abs
	}
	return &service.Config{
		Name:        "fluxrelay",
		DisplayName: "fluxrelay payment notification relay",
		Description: "Stores payment notifications durably and relays them to Fluxvend.",
		Arguments:   []string{"run", "-c", configPath},
		Option: service.KeyValue{
			"SystemdScript":    systemd.ServiceTemplate(configPath),
			"ReloadSignal":     "HUP",
			"Restart":          "on-failure",
			"OnFailure":        "restart", // Windows: restart after a crash
			"DelayedAutoStart": true,
		},
	}
}

// program adapts the daemon to kardianos/service: Start launches it and
// returns at once; Stop cancels it and waits for the drain.
type program struct {
	run    func(ctx context.Context) int
	cancel context.CancelFunc
	done   chan int
}

func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan int, 1)
	go func() { p.done <- p.run(ctx) }()
	return nil
}

func (p *program) Stop(service.Service) error {
	p.cancel()
	select {
	case code := <-p.done:
		if code != exitOK {
			return fmt.Errorf("fluxrelay stopped with exit code %d", code)
		}
	case <-time.After(25 * time.Second):
		return errors.New("fluxrelay did not stop within 25s")
	}
	return nil
}

// runUnderServiceManager runs the daemon through kardianos/service when a
// service manager started it (it answers the Windows service manager;
// under systemd and launchd it waits for SIGTERM). It reports whether it did.
func runUnderServiceManager(configPath string, run func(context.Context) int) (bool, int) {
	if service.Interactive() {
		return false, 0
	}
	p := &program{run: run}
	s, err := service.New(p, serviceConfig(configPath))
	if err != nil {
		return false, 0
	}
	if err := s.Run(); err != nil {
		return true, exitFailure
	}
	return true, exitOK
}

// cmdService installs and controls the system service, for installs from a
// tarball; packaged installs use their own unit and systemctl.
func cmdService(args []string, stdout, stderr io.Writer, newService func(*service.Config) (service.Service, error)) int {
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := configFlag(fs)
	usage := func() int {
		fmt.Fprintln(stderr, "usage: fluxrelay service install|uninstall|start|stop|restart|status [-c FILE]")
		return exitUsage
	}
	rest, code, stop := parseFlags(fs, args, stdout)
	if stop {
		return code
	}
	if len(rest) != 1 {
		return usage()
	}
	action := rest[0]
	svc, err := newService(serviceConfig(configPath(*c)))
	if err != nil {
		fmt.Fprintln(stderr, "fluxrelay service:", err)
		return exitFailure
	}
	switch action {
	case "status":
		st, err := svc.Status()
		switch {
		case errors.Is(err, service.ErrNotInstalled):
			fmt.Fprintln(stdout, "fluxrelay is not installed as a service")
			return exitFailure
		case err != nil:
			fmt.Fprintln(stderr, "fluxrelay service status:", err)
			return exitFailure
		}
		fmt.Fprintln(stdout, map[service.Status]string{service.StatusRunning: "running", service.StatusStopped: "stopped"}[st])
		return exitOK
	case "install":
		if runtime.GOOS == "linux" {
			for _, u := range packagedUnits {
				if _, err := os.Stat(u); err == nil {
					fmt.Fprintf(stderr, "fluxrelay service install: fluxrelay is installed from a package (%s); use: sudo systemctl enable --now fluxrelay\n", u)
					return exitUsage
				}
			}
			if err := ensureUser(); err != nil {
				fmt.Fprintln(stderr, "fluxrelay service install:", err)
				return exitFailure
			}
		}
	case "uninstall", "start", "stop", "restart":
	default:
		fmt.Fprintf(stderr, "fluxrelay service: unknown action %q (want install, uninstall, start, stop, restart or status)\n", action)
		return exitUsage
	}
	if err := service.Control(svc, action); err != nil {
		fmt.Fprintf(stderr, "fluxrelay service %s: %v (run it as root or from an elevated prompt)\n", action, err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "fluxrelay service %s: done\n", action)
	if action == "install" {
		fmt.Fprintln(stdout, "start it with: fluxrelay service start (it also starts at boot)")
	}
	return exitOK
}

// ensureUser creates the fluxrelay system user the unit runs as.
func ensureUser() error {
	if err := exec.Command("id", "-u", "fluxrelay").Run(); err == nil {
		return nil
	}
	out, err := exec.Command("useradd", "--system", "--user-group", "--home-dir", "/var/lib/fluxrelay", "--shell", "/usr/sbin/nologin", "fluxrelay").CombinedOutput()
	if err != nil {
		return fmt.Errorf("creating the fluxrelay user failed: %v: %s", err, out)
	}
	return nil
}
