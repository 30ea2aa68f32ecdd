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

// linkCount is the number of names the file has: 0 once it was deleted.
func linkCount(f *os.File) (uint64, bool) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, false
	}
	return uint64(st.Nlink), true
}

// dirWatch tells whether files were created in or removed from the
// store's directory since it was last asked (inotify), so that the log
// sync reads the directory only then.
type dirWatch struct{ fd int }

func newDirWatch(dir string) (*dirWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	mask := uint32(unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM)
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &dirWatch{fd: fd}, nil
}

// changed drains what happened since the last call: true when anything
// did (an overflow of the queue is an event too), or when it cannot tell.
func (w *dirWatch) changed() bool {
	var buf [4096]byte
	changed := false
	for {
		n, err := unix.Read(w.fd, buf[:])
		switch {
		case n > 0:
			changed = true
		case err == unix.EAGAIN:
			return changed
		case err != unix.EINTR:
			return true
		}
	}
}

func (w *dirWatch) close() { unix.Close(w.fd) }
