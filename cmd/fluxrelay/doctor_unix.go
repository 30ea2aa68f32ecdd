//go:build !windows

package main

import (
	"fmt"
	"io/fs"
	"os/user"
	"strconv"
	"syscall"
)

func owner(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "unknown"
	}
	name := strconv.Itoa(int(st.Uid))
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return fmt.Sprintf("%s, mode %04o", name, fi.Mode().Perm())
}
