//go:build unix

package daemon

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// storeInUse reports whether another process holds the store in dir: Badger
// holds an exclusive flock on the directory while it has it open.
func storeInUse(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false // no store yet, or one that Open will say more about
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}
