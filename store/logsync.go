//go:build !fluxrelay_hole1

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// With SyncWrites on, Badger syncs two logs at every commit: the value log
// and the memtable's write-ahead log. It syncs the value log even when the
// commit wrote nothing there, which is every commit here (nothing goes to
// the value log: blob.go), and on ext4 a sync of a file with nothing to
// write still flushes the device's cache: two flushes per commit, where one
// carries the data. On an SD card a flush is the cost of a commit.
//
// Where the store can sync a log itself (Linux: fdatasync on its own
// descriptor writes the pages Badger dirtied through its mapping, as msync
// does; Windows: logsync_windows.go), it turns SyncWrites off and syncs exactly what a commit may have
// written. It learns which logs exist from the store's directory, read
// again at a commit whenever a file was created or removed in it since the
// last one (inotify tells, for one read that usually finds nothing; a read
// of the directory of a 1 GB store costs about half a millisecond), so it
// cannot lose track of them however many memtables Badger starts and
// flushes between two commits:
//
//   - the newest memtable log always: the commit's entries are there, or
//     in an older log that is still listed, or already in a table that
//     Badger synced when it flushed that memtable;
//   - an older log once more after it stopped being the newest (it may
//     hold entries written since the last sync), and never again: Badger
//     writes only to the newest, and on ext4 a sync of a clean file still
//     flushes the device;
//   - the value logs in the same way, only when a commit (or the value-log
//     collection) may have put a value there;
//   - the directory, when a log or table file appeared since the last
//     time: Badger creates memtable and value logs at their full size and
//     never syncs the directory for them, nor for a table it flushes from a
//     memtable (it does for compactions and the MANIFEST).
//
// If the newest log turns out unlinked after its sync (Badger flushed and
// deleted it meanwhile), the directory is read again; if it cannot find a
// live log, the sync fails, and the store stops acknowledging (writer.go).
// The store acknowledges nothing before the sync has returned.

// maxRelists bounds how often one sync reads the directory again after
// Badger moved on under it.
const maxRelists = 4

// errLostTrack is returned when the sync cannot find the log it must sync.
var errLostTrack = errors.New("the store's memtable log was deleted while it was being synced, again and again; the store cannot tell what reached the disk")

// heldLog is a log file the sync holds open (between syncs only where
// holdLogs).
type heldLog struct {
	f *os.File
	// clean is set once the file was synced after a newer log of its kind
	// existed: Badger writes to it no more.
	clean bool
}

// logKind follows one kind of log (".mem" or ".vlog").
type logKind struct {
	ext  string
	held map[int]*heldLog
}

// logSync syncs Badger's logs for the store; the store has none where
// Badger syncs them itself.
type logSync struct {
	mu        sync.Mutex
	dir       string
	mem, vlog logKind
	// watch says when the directory changed; the listing read then is
	// kept until it changes again.
	watch  *dirWatch
	listed *listing
	// dirSynced holds the newest memtable log, value log and table the
	// directory was last synced with: Badger numbers each kind upwards,
	// so a higher number is a file whose name may not be on disk yet.
	dirSynced [3]int
	// fault, when set (by tests), is asked before each sync; an error it
	// returns stands for that sync's.
	fault func(path string) error
	// synced, when set (by tests), is called with each file or directory
	// synced.
	synced func(path string)
	// stopTables stops watchTables, after a last pass.
	stopTables func()
}

func newLogSync(dir string, fault func(string) error) (*logSync, error) {
	l := &logSync{dir: dir, fault: fault,
		mem:  logKind{ext: ".mem", held: map[int]*heldLog{}},
		vlog: logKind{ext: ".vlog", held: map[int]*heldLog{}},
	}
	w, err := newDirWatch(dir)
	if err != nil {
		return nil, fmt.Errorf("watch the store directory: %w", err)
	}
	l.watch = w // before the first listing: nothing created after it is missed
	names, err := l.list()
	if err != nil {
		l.close()
		return nil, err
	}
	if len(names.mem) == 0 || len(names.vlog) == 0 {
		l.close()
		return nil, fmt.Errorf("no memtable log or value log in the store directory %s", dir)
	}
	// Badger has just created a memtable log (and perhaps a value log)
	// without syncing the directory.
	l.dirSynced = [3]int{-1, -1, -1}
	if err := l.syncDir(names.newest); err != nil {
		l.close()
		return nil, err
	}
	l.stopTables = watchTables(dir)
	return l, nil
}

// current returns the directory's listing: read again when the watch saw
// a file created or removed since the last one (drained before the read,
// so that nothing created after it goes unseen), or when force is set.
func (l *logSync) current(force bool) (listing, error) {
	changed := l.watch == nil || l.watch.changed()
	if l.listed != nil && !changed && !force {
		return *l.listed, nil
	}
	ls, err := l.list()
	if err != nil {
		l.listed = nil
		return ls, err
	}
	l.listed = &ls
	return ls, nil
}

// listing is what one read of the directory found.
type listing struct {
	mem, vlog []int // log numbers, ascending
	newest    [3]int
}

// The kinds of file whose names the directory sync follows.
const (
	kindMem = iota
	kindVlog
	kindTable
)

func (l *logSync) list() (listing, error) {
	d, err := os.Open(l.dir)
	if err != nil {
		return listing{}, fmt.Errorf("read the store directory: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return listing{}, fmt.Errorf("read the store directory: %w", err)
	}
	ls := listing{newest: [3]int{-1, -1, -1}}
	for _, name := range names {
		kind, n := fileKind(name)
		if kind < 0 {
			continue
		}
		ls.newest[kind] = max(ls.newest[kind], n)
		switch kind {
		case kindMem:
			ls.mem = append(ls.mem, n)
		case kindVlog:
			ls.vlog = append(ls.vlog, n)
		}
	}
	slices.Sort(ls.mem)
	slices.Sort(ls.vlog)
	return ls, nil
}

// fileKind tells a memtable log, value log or table by its name, and its
// number; -1 for any other file.
func fileKind(name string) (kind, n int) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return -1, 0
	}
	switch name[i:] {
	case ".mem":
		kind = kindMem
	case ".vlog":
		kind = kindVlog
	case ".sst":
		kind = kindTable
	default:
		return -1, 0
	}
	n, err := strconv.Atoi(name[:i])
	if err != nil {
		return -1, 0
	}
	return kind, n
}

// sync makes a commit durable: the memtable logs always, the value logs
// when the commit (or a collection) may have written to them.
func (l *logSync) sync(valueLog bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range maxRelists {
		ls, err := l.current(i > 0)
		if err != nil {
			return err
		}
		live := true
		if valueLog {
			// The value log first: the memtable log points into it.
			if live, err = l.syncKind(&l.vlog, ls.vlog); err != nil {
				return err
			}
		}
		if live {
			if live, err = l.syncKind(&l.mem, ls.mem); err != nil {
				return err
			}
		}
		if !live {
			continue // Badger moved on while we synced: read again
		}
		return l.syncDir(ls.newest)
	}
	return errLostTrack
}

// syncKind syncs every log of k that may hold unsynced entries, the
// oldest first, and forgets those Badger deleted. It reports false when
// the newest turned out unlinked after its sync.
func (l *logSync) syncKind(k *logKind, ids []int) (live bool, err error) {
	if len(ids) == 0 {
		return false, nil
	}
	for id, h := range k.held {
		if !slices.Contains(ids, id) {
			h.close()
			delete(k.held, id)
		}
	}
	if !holdLogs {
		// Let go of every log between two syncs: a name Badger deletes
		// stays listed while a handle to it is open.
		defer func() {
			for _, h := range k.held {
				h.close()
			}
		}()
	}
	newest := ids[len(ids)-1]
	for _, id := range ids {
		h := k.held[id]
		if h != nil && h.clean {
			continue
		}
		if h == nil || h.f == nil {
			f, err := openLog(l.path(k, id))
			if errors.Is(err, fs.ErrNotExist) {
				continue // flushed and deleted since the listing
			}
			if err != nil {
				return false, err
			}
			if h == nil {
				h = &heldLog{}
				k.held[id] = h
			}
			h.f = f
		}
		if err := l.datasync(h.f); err != nil {
			return false, err
		}
		if id != newest {
			h.clean = true
		}
	}
	h := k.held[newest]
	if h == nil || h.f == nil {
		return false, nil
	}
	n, ok := linkCount(h.f)
	return !ok || n > 0, nil
}

func (h *heldLog) close() {
	if h.f != nil {
		h.f.Close()
		h.f = nil
	}
}

func (l *logSync) path(k *logKind, id int) string {
	if k.ext == ".mem" {
		return filepath.Join(l.dir, fmt.Sprintf("%05d.mem", id))
	}
	return filepath.Join(l.dir, fmt.Sprintf("%06d.vlog", id))
}

func (l *logSync) datasync(f *os.File) error {
	if l.synced != nil {
		l.synced(f.Name())
	}
	if l.fault != nil {
		if err := l.fault(f.Name()); err != nil {
			return fmt.Errorf("sync %s: %w", filepath.Base(f.Name()), err)
		}
	}
	if err := datasync(f); err != nil {
		return fmt.Errorf("sync %s: %w", filepath.Base(f.Name()), err)
	}
	return nil
}

// syncDir syncs the store's directory when files appeared in it since
// the last time (newest holds a higher number than then), so that their
// names survive a power cut.
func (l *logSync) syncDir(newest [3]int) error {
	fresh := false
	for k := range newest {
		fresh = fresh || newest[k] > l.dirSynced[k]
	}
	if !fresh {
		return nil
	}
	if l.synced != nil {
		l.synced(l.dir)
	}
	if l.fault != nil {
		if err := l.fault(l.dir); err != nil {
			return fmt.Errorf("sync the store directory: %w", err)
		}
	}
	if err := syncDirectory(l.dir); err != nil {
		return fmt.Errorf("sync the store directory: %w", err)
	}
	for k := range newest {
		l.dirSynced[k] = max(l.dirSynced[k], newest[k])
	}
	return nil
}

func (l *logSync) close() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range []*logKind{&l.mem, &l.vlog} {
		for id, h := range k.held {
			h.close()
			delete(k.held, id)
		}
	}
	if l.watch != nil {
		l.watch.close()
		l.watch = nil
	}
	if l.stopTables != nil {
		l.stopTables()
		l.stopTables = nil
	}
}
