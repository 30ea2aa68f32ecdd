//go:build !windows

package main

import (
	"errors"
	"syscall"
)

// What a technician types on this system, in the messages that tell them
// what to do.
const (
	hintElevate = "run with sudo or join the group fluxrelay"
	hintStart   = "sudo systemctl start fluxrelay"
	hintAdmin   = "run it as root"
	hintRestart = "sudo systemctl restart fluxrelay"
)

// socketServed says whether the daemon serves admin.socket here; on
// Windows the CLI talks to admin.listen with admin.token instead.
const socketServed = true

// refused says whether nothing listens where a connection went.
func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
