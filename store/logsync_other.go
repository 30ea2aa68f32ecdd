//go:build !linux

package store

import "os"

// ownLogSync: elsewhere Badger syncs its logs itself (SyncWrites), since a
// sync through another descriptor is not known to write what a mapping
// dirtied on every system.
const ownLogSync = false

func datasync(f *os.File) error { return f.Sync() }
