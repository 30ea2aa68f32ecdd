package main

import (
	"flag"
	"fmt"
	"io"
)

// synopsis is each command's usage line, what `fluxrelay CMD -h` and
// `fluxrelay help CMD` print above its flags.
var synopsis = map[string]string{
	"run":          "run [-c FILE]\n\nRun in the foreground (what the service runs). SIGHUP reloads the config.",
	"check-config": "check-config [FILE]\n\nValidate a config file: exit 0 valid, 2 not. FILE defaults to -c, $FLUXRELAY_CONFIG, then the installed path.",
	"reload":       "reload [-c FILE]\n\nAsk the running daemon to re-read its config, as SIGHUP does: an invalid file leaves the running config in place. The way on Windows.",
	"status":       "status [--json] [-c FILE]\n\nThe running daemon's state, queue, last delivery and per-source counts.",
	"dlq":          "dlq list | show ID | replay ID… | replay --all | drop ID… [--yes] [--json] [-c FILE]\n\nDead letters: notifications that need a person. An ID may be any unique prefix.",
	"find":         "find REF [--json] [-c FILE]\n\nA payment's trail by its transactionRef, its paymentRef or the start of its id.",
	"report":       "report [--day DATE | --from DATE [--to DATE]] [--json] [-c FILE]\n\nThe day's sales per source and payment method (default: today, in the gateway's time zone; --from without --to: up to today).",
	"replay":       "replay --since TIME [--until TIME] [--source NAME] [--delivered] [--yes] [-c FILE]\n\nQueue a window of notifications again.",
	"doctor":       "doctor [-c FILE]\n\nCheck the config, data dir, disk, clock, Fluxvend, MQTT and listeners, and say how to fix what is wrong.",
	"service":      "service install|uninstall|start|stop|restart|status [-c FILE]\n\nThe system service, for installs from a tarball (packages ship their own unit: use systemctl).",
	"recover":      "recover [-c FILE]\n\nRe-queue what can be read from a store that was moved aside (with the daemon stopped).",
	"mqtt-passwd":  "mqtt-passwd [--cost N] USERNAME\n\nHash a terminal's password for [[mqtt.user]] password_hash. The password is asked twice, or read from standard input.",
}

// parseOnlyFlags is parseFlags for a command that takes nothing but flags.
func parseOnlyFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, stop bool) {
	rest, code, stop := parseFlags(fs, args, stdout)
	if stop {
		return code, true
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "fluxrelay %s: unexpected %q\n", fs.Name(), rest[0])
		printUsage(stderr, fs)
		return exitUsage, true
	}
	return exitOK, false
}

// parseFlags parses a command's arguments with its flags anywhere among
// them (dlq show ID -c FILE as well as dlq -c FILE show ID) and returns the
// other arguments. stop says the command must end now with code: 0 after
// -h or --help (the usage went to stdout), 2 after a flag that is wrong
// (the flag package said why, then the usage, on the flag set's output).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (rest []string, code int, stop bool) {
	fs.Usage = func() { printUsage(fs.Output(), fs) }
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			printUsage(stdout, fs)
			return nil, exitOK, true
		}
	}
	for {
		if err := fs.Parse(args); err != nil {
			return nil, exitUsage, true
		}
		if fs.NArg() == 0 {
			return rest, exitOK, false
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: fluxrelay %s\n\nflags:\n", synopsis[fs.Name()])
	out := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(out)
}
