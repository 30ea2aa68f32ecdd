//go:build !linux && !windows

package store

import "os"

// ownLogSync: elsewhere Badger syncs its logs itself (SyncWrites), since a
// sync through another descriptor is not known to write what a mapping
// dirtied on every system.
const ownLogSync = false

func datasync(f *os.File) error { return f.Sync() }

// linkCount is not known here; the store does not sync the logs itself.
func linkCount(*os.File) (uint64, bool) { return 0, false }

// dirWatch is not used here; the store does not sync the logs itself.
type dirWatch struct{}

func newDirWatch(string) (*dirWatch, error) { return nil, nil }
func (*dirWatch) changed() bool             { return true }
func (*dirWatch) close()                    {}
