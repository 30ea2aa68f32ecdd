//go:build !unix

package daemon

import (
	"os"
	"path/filepath"
)

// storeInUse reports whether another process holds the store in dir:
// elsewhere than Unix, Badger's LOCK file exists only while a process has
// the store open (the system deletes it when that process ends).
func storeInUse(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "LOCK"))
	return err == nil
}
