//go:build fluxrelay_hole1

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// This is the log sync of releases before the store read its directory at
// every commit, kept for the power-cut campaign's control only (build tag
// fluxrelay_hole1, docs/durability.md): it walks the memtable logs by
// number and stops at the first missing one, so when Badger starts two logs
// between two commits and deletes the middle one, it goes on syncing a
// deleted file while the live log is never synced.
//
// With SyncWrites on, Badger syncs two logs at every commit: the value log
// and the memtable's write-ahead log. It syncs the value log even when the
// commit wrote nothing there, which is every commit here (records live in
// the LSM tree), and on ext4 a sync of a file with nothing to write still
// flushes the device's cache: two flushes per commit, where one carries the
// data. On an SD card a flush is the cost of a commit.
//
// Where the store can sync a log itself (Linux: fdatasync on its own
// descriptor writes the pages Badger dirtied through its mapping, as msync
// does), it turns SyncWrites off and syncs exactly what a commit wrote:
// the memtable log, every one of them since the last sync if Badger
// started a new one in between, and the value log only when a value went
// there (records of 64 KB or more, compressed). The store acknowledges
// nothing before that sync has returned.
//
// Badger names the logs by number, a new one one higher than the last:
// 00012.mem, 000003.vlog. A commit's entries are in the memtable log that
// was newest when it was written, or (if Badger started another since) in
// one before it, never in an older one than the last synced.

// logSet follows one kind of log: the newest file synced so far.
type logSet struct {
	dir    string
	ext    string // ".mem" or ".vlog"
	digits int    // 5 or 6
	fid    int    // the newest synced, or found at open
	f      *os.File
	// synced, when set (by tests), is called with each file synced.
	synced func(path string)
	fault  func(path string) error
}

func (l *logSet) path(fid int) string {
	return filepath.Join(l.dir, fmt.Sprintf("%0*d%s", l.digits, fid, l.ext))
}

// open finds the newest log of its kind in the directory. Badger makes a
// memtable log and a value log when it opens a store, so there is one.
func (l *logSet) open() error {
	l.fid = -1
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), l.ext)
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(name); err == nil && n > l.fid {
			l.fid = n
		}
	}
	if l.fid < 0 {
		return fmt.Errorf("no %s file in the store directory", l.ext)
	}
	l.f, err = os.Open(l.path(l.fid))
	return err
}

// sync syncs the newest log synced before and every log started since.
func (l *logSet) sync() error {
	for {
		next, err := os.Open(l.path(l.fid + 1))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return err
		}
		// Badger started a new log: entries may still sit in this one.
		err = l.datasync()
		l.f.Close()
		l.f, l.fid = next, l.fid+1
		if err != nil {
			return fmt.Errorf("sync %s: %w", l.path(l.fid-1), err)
		}
	}
	if err := l.datasync(); err != nil {
		return fmt.Errorf("sync %s: %w", l.path(l.fid), err)
	}
	return nil
}

func (l *logSet) datasync() error {
	if l.synced != nil {
		l.synced(l.path(l.fid))
	}
	if l.fault != nil {
		if err := l.fault(l.path(l.fid)); err != nil {
			return err
		}
	}
	return datasync(l.f)
}

func (l *logSet) close() {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// logSync syncs Badger's logs for the store; the store has none where
// Badger syncs them itself.
type logSync struct {
	mu        sync.Mutex
	mem, vlog logSet
}

func newLogSync(dir string, fault func(string) error) (*logSync, error) {
	l := &logSync{mem: logSet{dir: dir, ext: ".mem", digits: 5, fault: fault}, vlog: logSet{dir: dir, ext: ".vlog", digits: 6, fault: fault}}
	if err := l.mem.open(); err != nil {
		return nil, err
	}
	if err := l.vlog.open(); err != nil {
		l.mem.close()
		return nil, err
	}
	return l, nil
}

// sync makes a commit durable: the memtable logs always, the value log
// when the commit wrote to it.
func (l *logSync) sync(valueLog bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if valueLog {
		// The value log first: the memtable log points into it.
		if err := l.vlog.sync(); err != nil {
			return err
		}
	}
	return l.mem.sync()
}

func (l *logSync) close() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mem.close()
	l.vlog.close()
}
