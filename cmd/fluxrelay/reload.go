package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"

	"github.com/fluxrelay/fluxrelay/admin"
	"github.com/fluxrelay/fluxrelay/config"
)

// cmdReload asks the running daemon to re-read its config, as SIGHUP does:
// the way on Windows, which has no SIGHUP, and on Linux a way that says
// what came of it. An invalid file leaves the running config in place.
func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, socket, addr := clientFlags(fs)
	if code, stop := parseOnlyFlags(fs, args, stdout, stderr); stop {
		return code
	}
	// The file the daemon would re-read, checked here first: a file with
	// a mistake in it is not sent for, and its problems are shown.
	var problems config.Problems
	if _, err := config.Load(configPath(*cfg)); errors.As(err, &problems) && *socket == "" && *addr == "" {
		fmt.Fprintf(stderr, "fluxrelay reload: %s is not valid, so nothing was reloaded and fluxrelay keeps running on the config it had:\n", configPath(*cfg))
		for _, p := range problems {
			fmt.Fprintln(stderr, "  "+p.String())
		}
		return exitUsage
	}
	var res admin.ReloadResult
	err := newAdminClient(*cfg, *socket, *addr).send(http.MethodPost, "/api/reload", struct{}{}, &res)
	var refusal *answerError
	switch {
	case errors.As(err, &refusal) && refusal.status == http.StatusUnprocessableEntity:
		fmt.Fprintf(stderr, "fluxrelay reload: the config file is not valid, so fluxrelay keeps running on the config it had:\n%s\n", refusal.msg)
		fmt.Fprintln(stderr, "fix it (fluxrelay check-config shows each problem with its line), then reload again")
		return exitUsage
	case err != nil:
		fmt.Fprintln(stderr, "fluxrelay reload:", err)
		return exitFailure
	}
	if len(res.RestartNeeded) == 0 {
		fmt.Fprintln(stdout, "fluxrelay reload: the config was re-read and every change is applied")
		return exitOK
	}
	fmt.Fprintln(stdout, "fluxrelay reload: the config was re-read and applied, except these changes, which need a restart:")
	for _, k := range res.RestartNeeded {
		fmt.Fprintf(stdout, "  %s (%s)\n", k, config.ReloadRules[k].Why)
	}
	fmt.Fprintln(stdout, "restart fluxrelay to apply them: "+hintRestart)
	return exitOK
}
