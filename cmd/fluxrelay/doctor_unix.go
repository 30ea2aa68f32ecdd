//go:build !windows

package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// whoMay says who owns dir and its mode.
func whoMay(_ string, fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "owner unknown"
	}
	name := strconv.Itoa(int(st.Uid))
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return fmt.Sprintf("owner %s, mode %04o", name, fi.Mode().Perm())
}

func hintOwnDataDir(dir string) string { return "chown -R fluxrelay:fluxrelay " + dir }

// filesystemCheck looks at the filesystem that holds dir in the mount
// table, where there is one (Linux).
func filesystemCheck(dir, mounts string) (check, bool) {
	if mounts == "" {
		return check{}, false
	}
	return doctorFilesystem(dir, mounts), true
}

// readMounts is the mount table, or "" where there is none.
func readMounts() string {
	b, _ := os.ReadFile("/proc/self/mounts")
	return string(b)
}
