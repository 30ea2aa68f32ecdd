//go:build release

package main

import (
	"context"
	"fmt"
	"io"
)

// cmdMockCore, in the shipped build, says where the developer's tool is.
func cmdMockCore(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "fluxrelay: mock-core is a developer's tool, not in this build: run it from a checkout (make run, or go run ./cmd/fluxrelay mock-core …)")
	return exitUsage
}
