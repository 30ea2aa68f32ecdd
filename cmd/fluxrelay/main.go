// Command fluxrelay is the store-and-forward relay for payment
// notifications. `fluxrelay run` is what the service runs; see
// `fluxrelay help` for the other commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	_ "time/tzdata" // the zone database, for config timezone on a minimal system

	"github.com/kardianos/service"

	"github.com/fluxrelay/fluxrelay/config"
)

// Set at build time with -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = ""
)

// stdin is where a command asks a person (tests replace it).
var stdin io.Reader = os.Stdin

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: fluxrelay COMMAND [-c FILE] [flags]

commands:
  run           run in the foreground (what the service runs); SIGHUP reloads the config
  reload        ask the running daemon to re-read its config (the way on Windows)
  check-config  validate the config file; exit 0 valid, 2 invalid
  status        the running daemon's state, queue, last delivery and per-source counts (--json)
  dlq           dead letters: list | show ID | replay ID… | replay --all | drop ID…
  find          find REF: a payment's trail by its transactionRef, paymentRef or id (--json)
  report        the day's sales per source and payment method: received, delivered, waiting, needing a person
  replay        replay --since TIME [--until TIME] [--source S] [--delivered] [--yes]: queue a window again
  doctor        check the config, data dir, disk, clock, Fluxvend, MQTT and listeners, with fixes
  service       install|uninstall|start|stop|restart|status the system service (tarball installs)
  recover       re-queue what can be read from a store that was moved aside (daemon stopped)
  mqtt-passwd   mqtt-passwd USERNAME: hash a terminal's password for [[mqtt.user]] password_hash
%s  version       print the version

The config file is -c FILE, else $FLUXRELAY_CONFIG, else ` + "%s.\n"

// devCommands are the usage lines of the developer tools a build carries
// (mockcore.go), or none in the shipped build (-tags release).
var devCommands = ""

// run runs one command until it is done or ctx ends (SIGINT, SIGTERM).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, devCommands, config.DefaultPath())
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "check-config":
		return cmdCheckConfig(rest, stdout, stderr)
	case "reload":
		return cmdReload(rest, stdout, stderr)
	case "status":
		return cmdStatus(rest, stdout, stderr)
	case "dlq":
		return cmdDLQ(rest, stdin, stdout, stderr)
	case "find":
		return cmdFind(rest, stdout, stderr)
	case "report":
		return cmdReport(rest, stdout, stderr)
	case "replay":
		return cmdReplay(rest, stdin, stdout, stderr)
	case "service":
		return cmdService(rest, stdout, stderr, func(c *service.Config) (service.Service, error) { return service.New(nil, c) })
	case "recover":
		return cmdRecover(rest, stdout, stderr)
	case "doctor":
		return cmdDoctor(rest, stdout, stderr)
	case "mqtt-passwd":
		return cmdMQTTPasswd(rest, stdin, stdout, stderr)
	case "mock-core":
		return cmdMockCore(ctx, rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
		return exitOK
	case "help", "-h", "--help":
		if len(rest) == 1 && synopsis[rest[0]] != "" {
			return run(ctx, []string{rest[0], "--help"}, stdout, stderr)
		}
		fmt.Fprintf(stdout, usage, devCommands, config.DefaultPath())
		return exitOK
	default:
		fmt.Fprintf(stderr, "fluxrelay: unknown command %q\n"+usage, cmd, devCommands, config.DefaultPath())
		return exitUsage
	}
}

func versionString() string {
	c := commit
	if c == "" {
		c = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	return fmt.Sprintf("fluxrelay %s (commit %s, %s, %s/%s)", version, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// configFlag adds -c to a command's flags.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("c", "", "config file (default $FLUXRELAY_CONFIG, else "+config.DefaultPath()+")")
}

func configPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if p := os.Getenv("FLUXRELAY_CONFIG"); p != "" {
		return p
	}
	return config.DefaultPath()
}

// loadConfig loads and validates the config, printing every problem. It
// returns the exit code to use when the config cannot be used.
func loadConfig(path string, out io.Writer) (*config.Config, int) {
	cfg, err := config.Load(path)
	var problems config.Problems
	switch {
	case errors.As(err, &problems):
		for _, p := range problems {
			fmt.Fprintln(out, p.String())
		}
		return nil, exitUsage
	case err != nil:
		fmt.Fprintln(out, err)
		return nil, exitUsage
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(out, w.String())
	}
	return cfg, exitOK
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := configFlag(fs)
	rest, code, stop := parseFlags(fs, args, stdout)
	if stop {
		return code
	}
	path := configPath(*c)
	switch {
	case len(rest) == 1 && *c == "":
		path = rest[0] // check-config FILE, as promtool and vector validate take it
	case len(rest) > 0:
		fmt.Fprintln(stderr, "usage: fluxrelay check-config [FILE]   (or -c FILE, not both)")
		return exitUsage
	}
	cfg, code := loadConfig(path, stdout)
	if cfg == nil {
		fmt.Fprintf(stdout, "%s: not valid; nothing was changed\n", path)
		return code
	}
	fmt.Fprintf(stdout, "%s: valid\n", path)
	return exitOK
}
