package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/fluxrelay/fluxrelay/config"
	"github.com/fluxrelay/fluxrelay/daemon"
	"github.com/fluxrelay/fluxrelay/health"
)

// probeDataDir checks data_dir, the disk under it and stores moved aside.
func probeDataDir(e *doctorEnv) []check {
	if e.cfg == nil {
		return nil
	}
	dir := e.cfg.DataDir
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
		out = append(out, check{"FAIL", "data dir", fmt.Sprintf("cannot write in %s (%v) — %s", dir, err, hintOwnDataDir(dir))})
	} else {
		os.Remove(probe)
		out = append(out, check{"OK", "data dir", fmt.Sprintf("%s is writable (%s)", dir, whoMay(dir, fi))})
	}
	disk := daemon.DiskReport(e.cfg)
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

// probeClock judges this machine's clock, and its skew to Fluxvend's as
// the daemon last measured it, by the thresholds of the state
// (health.ClockOK, health.SkewOK).
func probeClock(e *doctorEnv) []check {
	now := e.now
	if !health.ClockOK(now) {
		return []check{{"FAIL", "clock", fmt.Sprintf("the clock reads %s, which cannot be right — enable NTP (timedatectl set-ntp true) or set it", now.UTC().Format(time.RFC3339))}}
	}
	c := check{"OK", "clock", now.UTC().Format("2006-01-02 15:04:05 UTC")}
	switch {
	case e.st == nil || e.st.ClockSkewSeconds == nil:
		c.msg += "; its skew to Fluxvend's is measured by the daemon once Fluxvend answers"
	case !health.SkewOK(skewOf(e.st.ClockSkewSeconds)):
		return []check{{"WARN", "clock", fmt.Sprintf("this gateway's clock is %s off Fluxvend's (more than %s; from Fluxvend's last answer) — enable NTP (timedatectl set-ntp true)",
			skewOf(e.st.ClockSkewSeconds).Round(time.Second), health.MaxSkew)}}
	default:
		c.msg += fmt.Sprintf(", %s off Fluxvend's (from its last answer)", skewOf(e.st.ClockSkewSeconds).Round(time.Second))
	}
	return []check{c}
}

func skewOf(seconds *float64) time.Duration { return time.Duration(*seconds * float64(time.Second)) }

// listenKeys are the listeners of a config: their name in the daemon's
// status, their key and their address.
func listenKeys(cfg *config.Config) [][3]string {
	out := [][3]string{{"http", "http.listen", cfg.HTTP.Listen}}
	if cfg.Admin.Listen != "" {
		out = append(out, [3]string{"admin", "admin.listen", cfg.Admin.Listen})
	}
	if cfg.Admin.PageListen != "" {
		out = append(out, [3]string{"page", "admin.page_listen", cfg.Admin.PageListen})
	}
	return out
}

// probeListen checks each listening address: with the daemon running, as
// its status says; otherwise by binding it for a moment.
func probeListen(e *doctorEnv) []check {
	if e.cfg == nil {
		return nil
	}
	var out []check
	for _, l := range listenKeys(e.cfg) {
		out = append(out, listenCheck(e, "listen", l[0], l[1], l[2]))
	}
	return out
}

// listenCheck is one listener's line. It never connects to the address: a
// connection that sends nothing is a fault in the log of whatever serves
// it (the embedded MQTT broker's, among others).
func listenCheck(e *doctorEnv, name, status, key, addr string) check {
	if e.st != nil {
		l, ok := e.st.Listeners[status]
		switch {
		case !ok:
			return check{"WARN", name, fmt.Sprintf("%s %s: the running daemon does not listen there (restart it to apply the config)", key, addr)}
		case l.Up:
			return check{"OK", name, fmt.Sprintf("%s %s is up (the running daemon says)", key, l.Addr)}
		}
		return check{"FAIL", name, fmt.Sprintf("%s %s cannot be used (%s) — stop the program using that port or change %s, then restart fluxrelay", key, addr, l.Error, key)}
	}
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		ln.Close()
		return check{"OK", name, fmt.Sprintf("%s %s is free (bound for a moment and let go)", key, addr)}
	}
	return check{"FAIL", name, fmt.Sprintf("%s %s cannot be bound (%v) while the daemon does not answer — stop the program using that port or change %s", key, addr, err, key)}
}
