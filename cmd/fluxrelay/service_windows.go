package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/kardianos/service"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// recovery is what the service manager does when fluxrelay stops without
// being asked (a crash, or a part that failed): start it again after 5 s,
// then 30 s, then every 2 minutes; the count starts over after a day
// without failures.
var recovery = []mgr.RecoveryAction{
	{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
	{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
	{Type: mgr.ServiceRestart, Delay: 2 * time.Minute},
}

const recoveryReset = 24 * 60 * 60 // seconds

// installService registers fluxrelay with the service manager, or updates
// the registration (the MSI runs it at every install and upgrade): it
// starts at boot, as LocalSystem, and comes back after a failure. It also
// prepares %ProgramData%\fluxrelay and the Event Log source. It does not
// start the service.
//
// It talks to the service manager itself rather than through
// kardianos/service's Install, which asks for a delayed start (up to two
// minutes after boot, while terminals are already sending) and restarts
// only after a crash, not after fluxrelay stops on a failure it found.
func installService(_ service.Service, cfgPath string, out io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if err := prepareHome(cfgPath, exe, out); err != nil {
		return err
	}
	sc := serviceConfig(cfgPath)
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("the service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err == nil {
		if err := updateService(s, exe, sc); err != nil {
			s.Close()
			return fmt.Errorf("updating the service %s: %w", serviceName, err)
		}
	} else {
		s, err = m.CreateService(serviceName, exe, mgr.Config{
			DisplayName:  sc.DisplayName,
			Description:  sc.Description,
			StartType:    mgr.StartAutomatic,
			ErrorControl: mgr.ErrorNormal,
		}, sc.Arguments...)
		if err != nil {
			return fmt.Errorf("creating the service %s: %w", serviceName, err)
		}
	}
	defer s.Close()
	restarts := "restarted 5 s, 30 s, then every 2 min after a failure"
	err = s.SetRecoveryActions(recovery, recoveryReset)
	if err == nil {
		err = s.SetRecoveryActionsOnNonCrashFailures(true)
	}
	if err != nil {
		// Windows always takes them; wine's service manager does not.
		// The service is registered: say so, and how to set them by hand.
		restarts = fmt.Sprintf("NOT restarted after a failure: the service manager refused the recovery actions (%v); set them in services.msc, fluxrelay, Recovery: Restart the Service, three times", err)
	}
	if err := eventlog.InstallAsEventCreate(serviceName, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil && !strings.Contains(err.Error(), "exists") {
		return fmt.Errorf("registering the Event Log source %s: %w", serviceName, err)
	}
	firewall := "terminals on the shop's network may connect to fluxrelay.exe (a Windows Firewall rule for private and domain networks; set a network Windows calls Public to Private)"
	if err := allowThroughFirewall(exe); err != nil {
		firewall = fmt.Sprintf("NO firewall rule (%v): allow fluxrelay.exe in Windows Defender Firewall, or terminals cannot reach it", err)
	}
	fmt.Fprintf(out, "service: %s, starts at boot as LocalSystem, %s\n", serviceName, restarts)
	fmt.Fprintf(out, "network: %s\n", firewall)
	fmt.Fprintf(out, "logs:    the Event Log (Windows Logs > Application, source %s); at log.level = \"debug\" also %s\n", serviceName, debugLogPath())
	return nil
}

// updateService makes an existing registration what install would create
// (an install over an earlier one, or a repair). It sets only what differs
// from Windows' defaults: mgr's UpdateConfig sets every optional setting,
// and wine's service manager takes none of them.
func updateService(s *mgr.Service, exe string, sc *service.Config) error {
	cmd := windows.EscapeArg(exe)
	for _, a := range sc.Arguments {
		cmd += " " + windows.EscapeArg(a)
	}
	path, _ := windows.UTF16PtrFromString(cmd)
	display, _ := windows.UTF16PtrFromString(sc.DisplayName)
	err := windows.ChangeServiceConfig(s.Handle, windows.SERVICE_NO_CHANGE, mgr.StartAutomatic, mgr.ErrorNormal,
		path, nil, nil, nil, nil, nil, display)
	if err != nil {
		return err
	}
	desc, _ := windows.UTF16PtrFromString(sc.Description)
	d := windows.SERVICE_DESCRIPTION{Description: desc}
	if err := windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_DESCRIPTION, (*byte)(unsafe.Pointer(&d))); err != nil {
		return err
	}
	var delayed windows.SERVICE_DELAYED_AUTO_START_INFO
	var n uint32
	err = windows.QueryServiceConfig2(s.Handle, windows.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, (*byte)(unsafe.Pointer(&delayed)), uint32(unsafe.Sizeof(delayed)), &n)
	if err == nil && delayed.IsDelayedAutoStartUp != 0 { // an earlier install asked for a delayed start
		delayed.IsDelayedAutoStartUp = 0
		return windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, (*byte)(unsafe.Pointer(&delayed)))
	}
	return nil
}

// uninstallService stops the service, waits for it to stop, and removes
// it and its Event Log source. The config and the data stay.
func uninstallService(_ service.Service, out io.Writer) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("the service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		fmt.Fprintf(out, "fluxrelay is not installed as a service\n")
		return nil
	}
	defer s.Close()
	if err := stopAndWait(s, 40*time.Second); err != nil {
		return err
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("removing the service: %w", err)
	}
	_ = eventlog.Remove(serviceName)
	_ = netsh("delete rule name=" + serviceName)
	fmt.Fprintf(out, "the config and the data stay in %s\n", homeDir())
	return nil
}

// allowThroughFirewall replaces fluxrelay's inbound rule: fluxrelay.exe
// may take connections on private and domain networks (the shop's), never
// on public ones. The rule names the program, not its ports, so that a
// changed http.listen or mqtt.listen needs nothing more.
func allowThroughFirewall(exe string) error {
	_ = netsh("delete rule name=" + serviceName)
	return netsh(fmt.Sprintf(`add rule name=%s dir=in action=allow program="%s" enable=yes profile=private,domain`, serviceName, exe))
}

// netsh runs netsh advfirewall firewall with args as written: netsh reads
// its own command line, and wants program="C:\Program Files\…" as is.
func netsh(args string) error {
	prog := "netsh.exe"
	if root := os.Getenv("SystemRoot"); root != "" {
		prog = filepath.Join(root, "System32", "netsh.exe")
	}
	cmd := exec.Command(prog)
	cmd.SysProcAttr = &syscall.SysProcAttr{CmdLine: "netsh advfirewall firewall " + args}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func stopAndWait(s *mgr.Service, limit time.Duration) error {
	st, err := s.Query()
	if err != nil || st.State == svc.Stopped {
		return nil
	}
	if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		return fmt.Errorf("stopping the service: %w", err)
	}
	for deadline := time.Now().Add(limit); ; time.Sleep(300 * time.Millisecond) {
		if st, err := s.Query(); err != nil || st.State == svc.Stopped {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the service did not stop within %s", limit)
		}
	}
}

// runUnderServiceManager answers the Windows service manager when it
// started fluxrelay, and reports whether it did.
//
// It asks the service manager for the service's control requests
// (StartServiceCtrlDispatcher): that fails at once, with its own error,
// in a process the service manager did not start. svc.IsWindowsService
// guesses instead from the parent process and its session, and wine runs
// services in another session than Windows does.
func runUnderServiceManager(configPath string, _ io.Writer) (bool, int) {
	h := &serviceHandler{path: configPath}
	err := svc.Run(serviceName, h)
	switch {
	case errors.Is(err, windows.ERROR_FAILED_SERVICE_CONTROLLER_CONNECT):
		return false, 0 // run from a prompt
	case err != nil:
		return true, exitFailure
	}
	return true, h.code
}

// serviceHandler runs the daemon for the service manager: stop and
// shutdown stop it, paramchange (sc control fluxrelay paramchange) reloads
// its config as SIGHUP does elsewhere. The log goes to the Event Log.
type serviceHandler struct {
	path string
	code int
}

func (h *serviceHandler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	logs, err := openServiceLog()
	if err != nil {
		h.code = exitFailure
		return true, uint32(exitFailure)
	}
	defer logs.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload := make(chan struct{}, 1)
	done := make(chan int, 1)
	go func() {
		done <- runDaemon(ctx, h.path, daemonIO{stderr: logs.errors(), logger: logs.logger, reload: reload})
	}()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown | svc.AcceptParamChange}
	for {
		select {
		case h.code = <-done:
			// It stopped by itself: a non-zero code makes the service
			// manager restart it (recovery actions on non-crash failures).
			return h.code != exitOK, uint32(h.code)
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.ParamChange:
				select {
				case reload <- struct{}{}:
				default:
				}
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: 30000}
				cancel()
				select {
				case h.code = <-done:
				case <-time.After(25 * time.Second):
					h.code = exitFailure
				}
				return h.code != exitOK, uint32(h.code)
			}
		}
	}
}
