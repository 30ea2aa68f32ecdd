//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSystemdNotify runs the daemon as systemd would with Type=notify and
// WatchdogSec=: on a fake $NOTIFY_SOCKET it says READY=1 with its state
// line once it serves, WATCHDOG=1 again and again while the store's writer
// answers, and STOPPING=1 when it stops.
func TestSystemdNotify(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000") // 0.2 s: a ping every 0.1 s
	t.Setenv("WATCHDOG_PID", fmt.Sprint(os.Getpid()))
	cfg := filepath.Join(dir, "fluxrelay.toml")
	doc := "version = 1\ndata_dir = \"data\"\n[http]\nlisten = \"127.0.0.1:0\"\n[mqtt]\nmode = \"off\"\n[admin]\nsocket = \"\"\nlisten = \"\"\n[[source]]\nname = \"till\"\nprovider = \"core\"\n"
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() { done <- runDaemon(ctx, cfg, daemonIO{stderr: &stderr}) }()
	defer func() { cancel(); <-done }()

	next := func() string {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v\n%s", err, stderr.String())
		}
		return string(buf[:n])
	}
	first := next()
	// no core.url: the state line says so
	if !strings.HasPrefix(first, "READY=1\nSTATUS=ACTION NEEDED; 0 waiting, 0 dead letters; core.url is empty") {
		t.Errorf("first notification %q; want READY=1 with the state line", first)
	}
	for watchdogs := 0; watchdogs < 3; {
		switch msg := next(); {
		case msg == "WATCHDOG=1":
			watchdogs++
		case strings.HasPrefix(msg, "STATUS="):
		default:
			t.Fatalf("unexpected notification %q", msg)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d\n%s", code, stderr.String())
	}
	done <- 0 // for the deferred wait
	for {
		msg := next()
		if msg == "STOPPING=1" {
			break
		}
		if msg != "WATCHDOG=1" && !strings.HasPrefix(msg, "STATUS=") {
			t.Fatalf("unexpected notification %q before STOPPING=1", msg)
		}
	}
}

// TestJournalPriorities: when stderr is the journal's stream, each line
// starts with its syslog priority and carries no time (the journal keeps
// it); anywhere else the lines are plain.
func TestJournalPriorities(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	st := fi.Sys().(*syscall.Stat_t)
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	level := new(slog.LevelVar)
	level.Set(slog.LevelDebug)
	for _, format := range []string{"text", "json"} {
		f.Truncate(0)
		f.Seek(0, 0)
		log := newLogger(f, format, level).With("component", "relay")
		log.Debug("d")
		log.Info("i")
		log.Warn("w", "k", "v")
		log.Error("e")
		raw, _ := os.ReadFile(f.Name())
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		if len(lines) != 4 {
			t.Fatalf("%s: %d lines:\n%s", format, len(lines), raw)
		}
		for i, p := range []string{"<7>", "<6>", "<4>", "<3>"} {
			if !strings.HasPrefix(lines[i], p) || strings.Contains(lines[i], "time") || !strings.Contains(lines[i], "relay") {
				t.Errorf("%s: line %d %q; want the prefix %s, the component, and no time", format, i, lines[i], p)
			}
		}
	}
	t.Setenv("JOURNAL_STREAM", "1:2")
	var buf bytes.Buffer
	newLogger(&buf, "text", level).Info("plain")
	if strings.HasPrefix(buf.String(), "<") || !strings.Contains(buf.String(), "time=") {
		t.Errorf("not the journal, yet %q", buf.String())
	}
}
