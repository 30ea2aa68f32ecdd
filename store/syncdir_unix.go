//go:build !windows

package store

import "os"

// syncDirectory fsyncs a directory, so that the names created in it are
// on disk.
func syncDirectory(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
