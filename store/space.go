package store

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
)

// space guards the disk: new input is refused while the store uses more
// than its budget or the filesystem has less than minFree left, long
// before Badger could meet a full disk.
type space struct {
	dir              string
	maxDisk, minFree int64

	mu      sync.Mutex
	used    int64 // measured by walking the directory
	written int64 // estimated since the last measurement
}

func newSpace(dir string, maxDisk, minFree int64) *space {
	return &space{dir: dir, maxDisk: maxDisk, minFree: minFree}
}

// check returns ErrFull (wrapped with the reason) when new input must be
// refused.
func (s *space) check() error {
	_, _, full := s.state()
	return full
}

// state measures the disk once: what the store uses, what is free, and
// why new input must be refused (nil when it need not).
func (s *space) state() (used, free int64, full error) {
	free, err := FreeBytes(s.dir)
	s.mu.Lock()
	used = s.used + s.written
	s.mu.Unlock()
	switch {
	case err == nil && free < s.minFree:
		full = fmt.Errorf("%w (free space on the data disk is %s, below the %s reserve)", errFull, human(free), human(s.minFree))
	case s.maxDisk > 0 && used >= s.maxDisk:
		full = fmt.Errorf("%w (the store uses %s of its store.max_disk = %s)", errFull, human(used), human(s.maxDisk))
	}
	return used, free, full
}

// wrote adds a committed batch's estimated size to the running total.
func (s *space) wrote(batch []*op) {
	var n int64
	for _, o := range batch {
		n += int64(o.size)
	}
	s.mu.Lock()
	s.written += n
	s.mu.Unlock()
}

// measure walks the store directory and adds up the disk blocks in use.
func (s *space) measure() {
	var total int64
	_ = filepath.WalkDir(s.dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			total += allocated(info)
		}
		return nil
	})
	s.mu.Lock()
	s.used, s.written = total, 0
	s.mu.Unlock()
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}
