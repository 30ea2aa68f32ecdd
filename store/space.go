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
//
// What the store uses is what its files take on disk (every file under
// its directory, blobs included, by the blocks allocated), measured every
// few seconds, plus what was written since, plus what delivering the
// records that wait will write again: each is rewritten when it is
// delivered, and the old version takes its space until compaction drops
// it (rewriteReserve). Under pressure, delivered records are evicted
// first (evict.go).
type space struct {
	dir              string
	maxDisk, minFree int64
	// reserve is what delivering the waiting records will write.
	reserve func() int64

	mu      sync.Mutex
	used    int64 // measured by walking the directory
	written int64 // estimated since the last measurement
}

// Eviction starts when the store uses evictAt percent of its budget, or
// free space is within a quarter of the reserve, and frees space down to
// evictTo percent (or half the reserve more).
const (
	evictAt = 90
	evictTo = 75
)

func newSpace(dir string, maxDisk, minFree int64, reserve func() int64) *space {
	return &space{dir: dir, maxDisk: maxDisk, minFree: minFree, reserve: reserve}
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
	reserve := s.reserve()
	switch {
	case err == nil && free < s.minFree:
		full = fmt.Errorf("%w (free space on the data disk is %s, below the %s reserve)", errFull, human(free), human(s.minFree))
	case s.maxDisk > 0 && used+reserve >= s.maxDisk:
		full = fmt.Errorf("%w (the store uses %s of its store.max_disk = %s, and keeps %s for delivering what waits)", errFull, human(used), human(s.maxDisk), human(reserve))
	}
	return used, free, full
}

// excess is how much eviction should free: nothing while the store is
// well within its budget and the disk has room.
func (s *space) excess() int64 {
	free, err := FreeBytes(s.dir)
	s.mu.Lock()
	used := s.used + s.written
	s.mu.Unlock()
	used += s.reserve()
	var want int64
	if s.maxDisk > 0 && used >= s.maxDisk*evictAt/100 {
		want = used - s.maxDisk*evictTo/100
	}
	if err == nil && free < s.minFree+s.minFree/4 {
		want = max(want, s.minFree+s.minFree/2-free)
	}
	return want
}

// wrote adds a committed batch's estimated size to the running total.
func (s *space) wrote(batch []*op, errs []error) {
	var n int64
	for i, o := range batch {
		if errs[i] == nil && !o.noWrite {
			n += int64(o.size)
		}
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
