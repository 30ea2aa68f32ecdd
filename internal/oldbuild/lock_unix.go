//go:build unix

package oldbuild

import (
	"os"
	"path/filepath"
	"syscall"
)

// lock holds dir's lock file until the returned function is called, so
// that test binaries running at once build a commit only once.
func lock(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
