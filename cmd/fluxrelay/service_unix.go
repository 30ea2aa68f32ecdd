//go:build !windows

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/kardianos/service"
)

// packagedUnits are where the .deb and .rpm put the unit; `service install`
// must not shadow them with a copy in /etc/systemd/system.
var packagedUnits = []string{"/lib/systemd/system/fluxrelay.service", "/usr/lib/systemd/system/fluxrelay.service"}

// installService writes and enables the unit (kardianos/service, with our
// hardened unit), after creating the user it runs as.
func installService(svc service.Service, _ string, _ io.Writer) error {
	if runtime.GOOS == "linux" {
		for _, u := range packagedUnits {
			if _, err := os.Stat(u); err == nil {
				return usageError(fmt.Sprintf("fluxrelay is installed from a package (%s); use: sudo systemctl enable --now fluxrelay", u))
			}
		}
		if err := ensureUser(); err != nil {
			return err
		}
	}
	return svc.Install()
}

func uninstallService(svc service.Service, _ io.Writer) error { return svc.Uninstall() }

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
// service manager started it (under systemd and launchd it waits for
// SIGTERM). It reports whether it did.
func runUnderServiceManager(configPath string, stderr io.Writer) (bool, int) {
	if service.Interactive() {
		return false, 0
	}
	p := &program{run: func(ctx context.Context) int { return runDaemon(ctx, configPath, daemonIO{stderr: stderr}) }}
	s, err := service.New(p, serviceConfig(configPath))
	if err != nil {
		return false, 0
	}
	if err := s.Run(); err != nil {
		return true, exitFailure
	}
	return true, exitOK
}
