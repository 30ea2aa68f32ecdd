// Package testoutput keeps what a test's daemons and commands printed, so
// that `make test` can scan the whole suite's output for secrets. It does
// nothing unless FLUXRELAY_TEST_OUTPUT names a directory.
package testoutput

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// Dir is the environment variable naming the directory.
const Dir = "FLUXRELAY_TEST_OUTPUT"

var unsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// Keep writes text() to the directory when the test ends, named after the
// test and what.
func Keep(t testing.TB, what string, text func() string) {
	dir := os.Getenv(Dir)
	if dir == "" {
		return
	}
	t.Cleanup(func() {
		if err := Append(t.Name()+"."+what, text()); err != nil {
			t.Errorf("keeping test output: %v", err)
		}
	})
}

// Append adds text to the file of that name in the directory, at once.
func Append(name, text string) error {
	dir := os.Getenv(Dir)
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, unsafe.ReplaceAllString(name, "_")+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(text)
	return err
}
