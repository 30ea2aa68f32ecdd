package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fluxrelay/fluxrelay/admin"
	"github.com/fluxrelay/fluxrelay/config"
	"github.com/fluxrelay/fluxrelay/daemon"
)

// check is one line of `fluxrelay doctor`.
type check struct {
	level string // OK, WARN, FAIL
	name  string
	msg   string
}

// doctor runs every check it can and prints one line per check, with the
// fix for anything that is not OK. Exit 1 if any check fails.
func cmdDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFlag := configFlag(fs)
	if code, stop := parseOnlyFlags(fs, args, stdout, stderr); stop {
		return code
	}
	path := configPath(*cfgFlag)
	var out []check
	add := func(level, name, format string, a ...any) {
		out = append(out, check{level, name, fmt.Sprintf(format, a...)})
	}
	cfg, err := config.Load(path)
	var problems config.Problems
	switch {
	case errors.As(err, &problems):
		add("FAIL", "config", "%s has %d problem(s), the first: %s — run fluxrelay check-config -c %s", path, len(problems), problems[0], path)
	case err != nil:
		add("FAIL", "config", "%v", err)
	default:
		add("OK", "config", "%s is valid", path)
		for _, w := range cfg.Warnings {
			add("WARN", "config", "%s", w)
		}
	}
	if cfg != nil {
		out = append(out, doctorDataDir(cfg)...)
		if mounts := readMounts(); mounts != "" {
			out = append(out, doctorFilesystem(cfg.DataDir, mounts))
		}
		out = append(out, doctorCore(cfg)...)
		out = append(out, doctorMQTT(cfg)...)
		out = append(out, doctorListeners(cfg)...)
	}
	out = append(out, doctorClock(time.Now()))
	out = append(out, doctorDaemon(*cfgFlag)...)
	code := exitOK
	for _, c := range out {
		fmt.Fprintf(stdout, "%-4s  %-9s %s\n", c.level, c.name, c.msg)
		if c.level == "FAIL" {
			code = exitFailure
		}
	}
	return code
}

func doctorDataDir(cfg *config.Config) []check {
	dir := cfg.DataDir
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return []check{{"WARN", "data dir", dir + " does not exist yet; fluxrelay creates it on start (the package makes /var/lib/fluxrelay)"}}
	case err != nil:
		return []check{{"FAIL", "data dir", fmt.Sprintf("%s: %v", dir, err)}}
	case !fi.IsDir():
		return []check{{"FAIL", "data dir", dir + " is a file, not a folder — point data_dir at a folder"}}
	}
	var out []check
	probe := filepath.Join(dir, ".doctor-probe")
	if err := os.WriteFile(probe, []byte("x"), 0o600); err != nil {
		out = append(out, check{"FAIL", "data dir", fmt.Sprintf("cannot write in %s (%v) — chown -R fluxrelay:fluxrelay %s", dir, err, dir)})
	} else {
		os.Remove(probe)
		out = append(out, check{"OK", "data dir", fmt.Sprintf("%s is writable (owner %s)", dir, owner(fi))})
	}
	disk := daemon.DiskReport(cfg)
	if free, reserve := disk.Free, disk.Reserve; disk.FreeErr == nil {
		switch {
		case free < reserve:
			out = append(out, check{"FAIL", "disk", fmt.Sprintf("%.0f MiB free on the data disk, below the %d MiB reserve: new notifications are refused — free space", float64(free)/(1<<20), reserve>>20)})
		case free < 4*reserve:
			out = append(out, check{"WARN", "disk", fmt.Sprintf("only %.0f MiB free on the data disk — free space soon", float64(free)/(1<<20))})
		default:
			out = append(out, check{"OK", "disk", fmt.Sprintf("%.1f GiB free", float64(free)/(1<<30))})
		}
	}
	if aside := disk.MovedAside; len(aside) > 0 {
		out = append(out, check{"WARN", "store", fmt.Sprintf("%d unreadable store(s) moved aside (%s): notifications in them are not delivered — run the recovery step, then remove them", len(aside), filepath.Base(aside[len(aside)-1]))})
	}
	return out
}

// doctorCore resolves the core's host, connects, and for https checks the
// certificate; the Date header tells the clock's skew.
func doctorCore(cfg *config.Config) []check {
	if cfg.Core.URL == "" {
		return []check{{"WARN", "core", "core.url is empty: notifications are stored, not delivered — copy the Fluxvend Core webhook URL from the portal into [core]"}}
	}
	u, _ := url.Parse(cfg.Core.URL)
	host := u.Hostname()
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	var out []check
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return []check{{"FAIL", "core", fmt.Sprintf("cannot resolve %s (%v) — check DNS (resolvectl status) and the internet connection", host, err)}}
	}
	out = append(out, check{"OK", "core dns", fmt.Sprintf("%s is %s", host, strings.Join(addrs, ", "))})
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return append(out, check{"FAIL", "core", fmt.Sprintf("cannot connect to %s:%s (%v) — check the internet connection and the firewall", host, port, err)})
	}
	conn.Close()
	if u.Scheme == "https" {
		tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", net.JoinHostPort(host, port), &tls.Config{ServerName: host})
		if err != nil {
			return append(out, check{"FAIL", "core tls", fmt.Sprintf("TLS to %s failed (%v) — is the clock right? is a proxy intercepting HTTPS?", host, err)})
		}
		cert := tc.ConnectionState().PeerCertificates[0]
		tc.Close()
		out = append(out, check{"OK", "core tls", fmt.Sprintf("certificate for %s valid until %s", host, cert.NotAfter.Format("2006-01-02"))})
	}
	c := &http.Client{Timeout: 10 * time.Second}
	if resp, err := c.Get(u.Scheme + "://" + u.Host + "/"); err == nil {
		resp.Body.Close()
		if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			if skew := time.Since(t); skew > 2*time.Minute || skew < -2*time.Minute {
				out = append(out, check{"WARN", "clock", fmt.Sprintf("this gateway's clock is %s off the server's — fix NTP (timedatectl set-ntp true)", skew.Round(time.Second))})
			}
		}
		out = append(out, check{"OK", "core", fmt.Sprintf("%s answers over HTTP", u.Host)})
	}
	return out
}

func doctorMQTT(cfg *config.Config) []check {
	m := cfg.MQTT
	switch m.Mode {
	case "external":
		u, err := url.Parse(m.Broker)
		if err != nil {
			return []check{{"FAIL", "mqtt", "mqtt.broker is not a URL"}}
		}
		conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		if err != nil {
			return []check{{"FAIL", "mqtt", fmt.Sprintf("cannot reach the broker %s (%v) — check it runs and the address", u.Host, err)}}
		}
		conn.Close()
		return []check{{"OK", "mqtt", "the broker " + u.Host + " accepts connections"}}
	case "embedded":
		c := portCheck("mqtt", "mqtt.listen", m.Listen)
		if len(m.Users) == 0 {
			return []check{c, {"WARN", "mqtt", "no [[mqtt.user]]: no terminal can publish — add one per terminal"}}
		}
		return []check{c}
	}
	return nil
}

func doctorListeners(cfg *config.Config) []check {
	out := []check{portCheck("listen", "http.listen", cfg.HTTP.Listen)}
	if cfg.Admin.Listen != "" {
		out = append(out, portCheck("listen", "admin.listen", cfg.Admin.Listen))
	}
	if cfg.Admin.PageListen != "" {
		out = append(out, portCheck("listen", "admin.page_listen", cfg.Admin.PageListen))
	}
	return out
}

// portCheck says whether a listen address can be bound, or who has it.
func portCheck(name, key, addr string) check {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		ln.Close()
		return check{"OK", name, fmt.Sprintf("%s %s is free", key, addr)}
	}
	if c, derr := net.DialTimeout("tcp", loopbackFor(addr), time.Second); derr == nil {
		c.Close()
		return check{"OK", name, fmt.Sprintf("%s %s is in use — by fluxrelay if it is running (see the last line); otherwise stop the other program or change %s", key, addr, key)}
	}
	return check{"FAIL", name, fmt.Sprintf("%s %s cannot be used (%v) — change %s", key, addr, err, key)}
}

func loopbackFor(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func doctorClock(now time.Time) check {
	if now.Year() < 2025 || now.Year() >= 2100 {
		return check{"FAIL", "clock", fmt.Sprintf("the clock reads %s, which cannot be right — enable NTP (timedatectl set-ntp true) or set it", now.UTC().Format(time.RFC3339))}
	}
	return check{"OK", "clock", now.UTC().Format("2006-01-02 15:04:05 UTC")}
}

// doctorDaemon asks the running daemon: anything that needs a person (a
// pause, dead letters waiting) is a FAIL.
func doctorDaemon(cfgFlag string) []check {
	var st admin.Status
	if err := newAdminClient(cfgFlag, "", "").do("GET", "/api/status", &st); err != nil {
		return []check{{"WARN", "daemon", err.Error()}}
	}
	out := []check{{"OK", "daemon", fmt.Sprintf("fluxrelay %s is running: %s, %d waiting", st.Version, stateWords[st.State], st.QueueDepth)}}
	if st.UncleanRestarts > 0 && st.LastUncleanRestart != nil {
		out = append(out, check{"WARN", "restarts", fmt.Sprintf("%d unclean restart(s), the last %s: power cuts or kills — nothing acknowledged is lost, but a UPS spares the SD card", st.UncleanRestarts, st.LastUncleanRestart.Format("2006-01-02 15:04 MST"))})
	}
	told := map[string]bool{}
	for _, t := range st.Targets {
		if t.Mode == "paused" {
			out = append(out, check{"FAIL", "deliveries", "paused: " + oneLine(t.Reason)})
			told[t.Reason] = true
		}
	}
	if st.DeadLetters > 0 {
		out = append(out, check{"FAIL", "dead letters", oneLine(daemon.DeadLettersReason(st.DeadLetters))})
		told[daemon.DeadLettersReason(st.DeadLetters)] = true
	} else {
		out = append(out, check{"OK", "dead letters", "none waiting"})
	}
	if st.State == admin.StateActionNeeded {
		for _, r := range st.Reasons {
			if !told[r] {
				out = append(out, check{"FAIL", "daemon", oneLine(r)})
			}
		}
	}
	return out
}
