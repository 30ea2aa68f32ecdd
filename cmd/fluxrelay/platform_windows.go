package main

import (
	"errors"

	"golang.org/x/sys/windows"
)

// What a technician types on Windows, in the messages that tell them what
// to do: the config, which holds admin.token, is readable only by
// Administrators and the service.
const (
	hintElevate = "run it from an elevated prompt (right-click Command Prompt, Run as administrator)"
	hintStart   = "fluxrelay service start (from an elevated prompt)"
	hintAdmin   = "run it from an elevated prompt"
	hintRestart = "fluxrelay service restart (from an elevated prompt)"
)

// socketServed says whether the daemon serves admin.socket here; on
// Windows the CLI talks to admin.listen with admin.token instead.
const socketServed = false

// refused says whether nothing listens where a connection went (Winsock's
// own code: syscall.ECONNREFUSED is never returned on Windows).
func refused(err error) bool { return errors.Is(err, windows.WSAECONNREFUSED) }
