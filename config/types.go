package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Problem is one thing wrong (or worth a warning) in the config file.
type Problem struct {
	File string
	Pos  Pos
	Key  string
	Msg  string
	Warn bool
}

// String formats the problem as FILE:LINE:COL: key.path: message.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", p.Pos.Line, p.Pos.Col)
	}
	b.WriteString(": ")
	if p.Warn {
		b.WriteString("warning: ")
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every error found in one config file. It is returned by Load
// when the file is invalid.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Duration is a Go duration that also takes days: "90s", "168h", "7d", "1d12h".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string {
	td := time.Duration(d)
	if td >= 24*time.Hour && td%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", td/(24*time.Hour))
	}
	return td.String()
}

// ParseDuration parses a Go duration with an optional leading day count.
func ParseDuration(s string) (Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 36500 {
			return 0, errors.New("bad day count")
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return Duration(days), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	return Duration(days + d), nil
}

// Size is a number of bytes, written "512KiB", "64MiB", "1GiB" or as bytes.
type Size int64

func (s Size) String() string {
	for _, u := range []struct {
		n    int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if int64(s) >= u.n && int64(s)%u.n == 0 {
			return fmt.Sprintf("%d%s", int64(s)/u.n, u.name)
		}
	}
	return fmt.Sprintf("%dB", int64(s))
}

// ParseSize parses "256KiB", "1GiB", "100MiB" or "4096B".
func ParseSize(s string) (Size, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n < 0 || n > (1<<50)/u.mult {
				return 0, errors.New("bad number")
			}
			return Size(n * u.mult), nil
		}
	}
	return 0, errors.New("no unit")
}

// Secret is a credential. It may be given inline (x = "…"), from a file
// (x_file = "/path", contents trimmed) or from the environment
// (x_env = "NAME"). It never prints its value.
type Secret struct {
	value string
	// From says where the value came from: "", "inline", "file /path" or
	// "env NAME". It is safe to show.
	From string
}

// NewSecret returns an inline secret (for tests and tools).
func NewSecret(v string) Secret { return Secret{value: v, From: "inline"} }

// Value returns the secret itself. Use it only to sign or verify.
func (s Secret) Value() string { return s.value }

// IsSet reports whether a value was given.
func (s Secret) IsSet() bool { return s.value != "" }

// String never shows the value.
func (s Secret) String() string {
	if s.value == "" {
		return "<unset>"
	}
	return "<secret>"
}

// GoString never shows the value either (for %#v).
func (s Secret) GoString() string { return s.String() }

// MarshalText never shows the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Equal reports whether two secrets hold the same value.
func (s Secret) Equal(o Secret) bool { return s.value == o.value }

// placeholders are values an example file uses to mean "fill this in".
var placeholders = map[string]bool{"...": true, "…": true, "changeme": true, "<secret>": true}

func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
