//go:build windows

package store

import (
	"io/fs"

	"golang.org/x/sys/windows"
)

// FreeBytes is the space left for unprivileged writes on dir's filesystem.
func FreeBytes(dir string) (int64, error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, err
	}
	var free, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, &total, &totalFree); err != nil {
		return 0, err
	}
	return int64(free), nil
}

func allocated(info fs.FileInfo) int64 { return info.Size() }
