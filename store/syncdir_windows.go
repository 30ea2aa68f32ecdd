package store

import (
	"errors"
	"io/fs"

	"golang.org/x/sys/windows"
)

// syncDirectory flushes a directory, so that the names created in it are
// on disk, where the filesystem takes a flush of a directory (it needs a
// handle with write access, which os.Open does not give). Where it does
// not, nothing is lost by it: NTFS journals every name it creates, and a
// flush of any file created in the directory (the store flushes each log,
// table and blob it relies on) writes the journal up to that file, its
// name included.
func syncDirectory(dir string) error {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return &fs.PathError{Op: "sync", Path: dir, Err: err}
	}
	if err != nil {
		return nil
	}
	defer windows.CloseHandle(h)
	_ = windows.FlushFileBuffers(h)
	return nil
}
