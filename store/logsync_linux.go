package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// ownLogSync: on Linux the store syncs Badger's logs itself (logsync.go).
const ownLogSync = true

// datasync is fdatasync, which is what Badger's msync of a mapped log
// amounts to on Linux: the file's dirty pages and what is needed to read
// them back, whichever mapping or descriptor dirtied them.
func datasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}
