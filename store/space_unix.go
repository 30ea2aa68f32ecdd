//go:build !windows

package store

import (
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// FreeBytes is the space left for unprivileged writes on dir's filesystem.
func FreeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// allocated is the disk space a file really takes (Badger's files are
// sparse, so their length overstates it).
func allocated(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return info.Size()
}
