//go:build !windows

package store

import "os"

// openLog opens a log for syncing.
func openLog(path string) (*os.File, error) { return os.Open(path) }

// watchTables: Badger syncs the tables it writes here.
func watchTables(string) (stop func()) { return func() {} }

// holdLogs: the sync keeps each log open until Badger deletes it, whose
// name then goes at once (on systems other than Linux the store does not
// sync the logs itself).
const holdLogs = true
