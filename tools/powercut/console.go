package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// tail reads the harness's lines ("POWERCUT …") from a console file as
// qemu writes it, and writes them to path+".times" with when the host saw
// each, in seconds since the boot.
type tail struct {
	path    string
	start   time.Time
	off     int64
	partial string
	seen    []line
}

type line struct {
	text string
	at   time.Time
}

func (t *tail) lines() []line {
	f, err := os.Open(t.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	buf, err := io.ReadAll(io.NewSectionReader(f, t.off, 1<<40))
	if err != nil || len(buf) == 0 {
		return nil
	}
	t.off += int64(len(buf))
	text := t.partial + string(buf)
	parts := strings.Split(text, "\n")
	t.partial = parts[len(parts)-1]
	now := time.Now()
	var out []line
	for _, p := range parts[:len(parts)-1] {
		// a kernel message may have been printed on the same line first
		if _, rest, ok := strings.Cut(strings.TrimRight(p, "\r"), "POWERCUT "); ok {
			out = append(out, line{text: rest, at: now})
		}
	}
	t.seen = append(t.seen, out...)
	if f, err := os.OpenFile(t.path+".times", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		for _, l := range out {
			fmt.Fprintf(f, "%8.3f %s\n", l.at.Sub(t.start).Seconds(), l.text)
		}
		f.Close()
	}
	return out
}
