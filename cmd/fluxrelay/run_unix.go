//go:build unix

package main

import (
	"os"
	"syscall"
)

// restrictFiles makes every file the daemon creates from now on readable
// and writable by its own user only (files 0600, folders 0700): the queue
// holds customers' payments. A data_dir left open to others by an earlier
// release is closed to them (0700).
func restrictFiles(dataDir string) error {
	syscall.Umask(0o077)
	fi, err := os.Stat(dataDir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	return os.Chmod(dataDir, fi.Mode().Perm()&0o700)
}
