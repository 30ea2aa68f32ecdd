//go:build !release

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/fluxrelay/fluxrelay/relay/relaytest"
)

// mock-core is a developer's tool: the shipped build (-tags release, what
// make package and make cross build) leaves it out, and with it
// relay/relaytest and net/http/httptest (mockcore_release.go).
func init() {
	devCommands = "  mock-core     a local stand-in for the Fluxvend core webhook (see mock-core -h)\n"
	synopsis["mock-core"] = "mock-core --listen ADDR --api-key K (--api-secret-file F | $FLUXRELAY_MOCK_SECRET) [--signature-key secret|key:secret] [--answer CODE]\n\nA local stand-in for the Fluxvend core webhook, for trying fluxrelay without an account."
}

// cmdMockCore runs a verifying stand-in for the Fluxvend core webhook. The
// secret comes from a file or the environment, never the command line
// (where any user could read it in the process list).
func cmdMockCore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mock-core", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9099", "address to listen on")
	apiKey := fs.String("api-key", "", "the API key deliveries are signed for")
	secretFile := fs.String("api-secret-file", "", "file holding the API secret (else $FLUXRELAY_MOCK_SECRET)")
	sigKey := fs.String("signature-key", "secret", `HMAC key: "secret" (api secret) or "key:secret" (api key + ":" + api secret)`)
	answer := fs.Int("answer", 0, "answer every validly signed request with this status (default 200)")
	configFlag(fs) // every command takes -c; mock-core itself needs no config
	if _, code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	secret := os.Getenv("FLUXRELAY_MOCK_SECRET")
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			fmt.Fprintf(stderr, "mock-core: --api-secret-file: %v\n", err)
			return exitUsage
		}
		secret = strings.TrimSpace(string(b))
	}
	switch {
	case *apiKey == "":
		fmt.Fprintln(stderr, "mock-core: --api-key is required")
		return exitUsage
	case secret == "":
		fmt.Fprintln(stderr, "mock-core: no API secret: give --api-secret-file FILE or set $FLUXRELAY_MOCK_SECRET")
		return exitUsage
	case *sigKey != "secret" && *sigKey != "key:secret":
		fmt.Fprintln(stderr, `mock-core: --signature-key must be "secret" or "key:secret"`)
		return exitUsage
	case *answer != 0 && (*answer < 100 || *answer > 599):
		fmt.Fprintln(stderr, "mock-core: --answer must be an HTTP status code")
		return exitUsage
	}
	core := &relaytest.Core{APIKey: *apiKey, APISecret: secret, SignatureKey: *sigKey, Out: stdout}
	if *answer != 0 {
		code := *answer
		core.Answer = func(int, relaytest.Delivery) int { return code }
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "mock-core: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "mock-core listening on http://%s/ (signature key mode %q)\n", ln.Addr(), *sigKey)
	srv := &http.Server{Handler: core, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "mock-core: %v\n", err)
		return exitFailure
	}
	return exitOK
}
