package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/kardianos/service"

	"github.com/fluxrelay/fluxrelay/systemd"
)

// serviceName is the service's name for systemd and the Windows service
// manager, and the Windows Event Log's source.
const serviceName = "fluxrelay"

func serviceConfig(configPath string) *service.Config {
	abs, err := filepath.Abs(configPath)
	if err == nil {
		configPath = abs
	}
	return &service.Config{
		Name:        serviceName,
		DisplayName: "fluxrelay payment notification relay",
		Description: "Stores payment notifications durably and relays them to Fluxvend.",
		Arguments:   []string{"run", "-c", configPath},
		Option: service.KeyValue{
			"SystemdScript": systemd.ServiceTemplate(configPath),
			"ReloadSignal":  "HUP",
			"Restart":       "on-failure",
		},
	}
}

// cmdService installs and controls the system service, for installs from a
// tarball or, on Windows, the MSI (which runs service install itself);
// Linux packages use their own unit and systemctl.
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
	path := configPath(*c)
	svc, err := newService(serviceConfig(path))
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
		err = installService(svc, path, stdout)
	case "uninstall":
		err = uninstallService(svc, stdout)
	case "start", "stop", "restart":
		err = service.Control(svc, action)
	default:
		fmt.Fprintf(stderr, "fluxrelay service: unknown action %q (want install, uninstall, start, stop, restart or status)\n", action)
		return exitUsage
	}
	var refusal usageError
	switch {
	case errors.As(err, &refusal):
		fmt.Fprintf(stderr, "fluxrelay service %s: %v\n", action, err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "fluxrelay service %s: %v (%s)\n", action, err, hintAdmin)
		return exitFailure
	}
	fmt.Fprintf(stdout, "fluxrelay service %s: done\n", action)
	if action == "install" {
		fmt.Fprintln(stdout, "start it with: fluxrelay service start (it also starts at boot)")
	}
	return exitOK
}

// usageError is a refusal to do what was asked as it was asked: exit 2.
type usageError string

func (e usageError) Error() string { return string(e) }

// withAdminToken fills in the empty token of the example's [admin] table
// with 32 random bytes in hex, and says whether it found it.
func withAdminToken(doc []byte) ([]byte, bool) {
	admin := bytes.Index(doc, []byte("\n[admin]\n"))
	if admin < 0 {
		return doc, false
	}
	const empty = "\ntoken = \"\"\n"
	at := bytes.Index(doc[admin:], []byte(empty))
	if at < 0 || bytes.Contains(doc[admin+1:admin+at], []byte("\n[")) {
		return doc, false
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	at += admin
	var out bytes.Buffer
	out.Write(doc[:at])
	fmt.Fprintf(&out, "\ntoken = %q\n", hex.EncodeToString(b))
	out.Write(doc[at+len(empty):])
	return out.Bytes(), true
}
