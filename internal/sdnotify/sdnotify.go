// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)): a service started with Type=notify says when it is ready,
// what it is doing, and, under WatchdogSec=, that it still works. Outside
// systemd (no $NOTIFY_SOCKET) every call does nothing.
package sdnotify

import (
	"net"
	"os"
	"strconv"
	"time"
)

// Notifier sends states to the service manager. The zero of *Notifier (nil)
// sends nothing.
type Notifier struct {
	addr *net.UnixAddr
}

// New returns the notifier for $NOTIFY_SOCKET, or nil when there is none.
func New() *Notifier {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' { // an abstract socket
		path = "\x00" + path[1:]
	}
	return &Notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
}

// Send sends one or more newline-separated assignments, such as
// "READY=1\nSTATUS=ok".
func (n *Notifier) Send(state string) error {
	if n == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// WatchdogInterval is how often the service manager wants WATCHDOG=1
// ($WATCHDOG_USEC, when $WATCHDOG_PID is unset or this process), or 0.
func WatchdogInterval() time.Duration {
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	return time.Duration(usec) * time.Microsecond
}
