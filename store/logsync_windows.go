package store

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// ownLogSync: on Windows too the store syncs Badger's logs itself, and
// must. Badger writes its memtable and value logs through a mapped view,
// and its sync of a mapped file does nothing on Windows (ristretto's msync
// there is a stub), so SyncWrites would acknowledge writes that only the
// system's lazy writing puts on disk. Windows needs the view flushed
// (FlushViewOfFile), then the file (FlushFileBuffers): the first writes the
// pages the view dirtied, the second waits for them and the file's
// metadata to reach the disk, past its cache.
const ownLogSync = true

// openLog opens a log for syncing: FlushFileBuffers needs write access,
// and every sharing mode lets Badger still truncate, rename or delete the
// log while the store holds it.
func openLog(path string) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err == windows.ERROR_ACCESS_DENIED && lastNtStatus() == windows.STATUS_DELETE_PENDING {
		err = windows.ERROR_FILE_NOT_FOUND // deleted, waiting for a handle to close
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}

var rtlGetLastNtStatus = windows.NewLazySystemDLL("ntdll.dll").NewProc("RtlGetLastNtStatus")

func lastNtStatus() windows.NTStatus {
	r, _, _ := rtlGetLastNtStatus.Call()
	return windows.NTStatus(r)
}

// linkCount is the number of names the file has: 0 once it was deleted,
// which on Windows may first leave it pending deletion under its name
// until the last handle to it is closed.
func linkCount(f *os.File) (uint64, bool) {
	var info struct { // FILE_STANDARD_INFO
		AllocationSize, EndOfFile int64
		NumberOfLinks             uint32
		DeletePending, Directory  bool
	}
	err := windows.GetFileInformationByHandleEx(windows.Handle(f.Fd()), windows.FileStandardInfo,
		(*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)))
	if err != nil {
		return 0, false
	}
	if info.DeletePending {
		return 0, true
	}
	return uint64(info.NumberOfLinks), true
}

// dirWatch tells whether files were created in, removed from or renamed
// in the store's directory since it was last asked (a change
// notification), so that the log sync reads the directory only then.
type dirWatch struct{ h windows.Handle }

func newDirWatch(dir string) (*dirWatch, error) {
	h, err := windows.FindFirstChangeNotification(dir, false, windows.FILE_NOTIFY_CHANGE_FILE_NAME)
	if err != nil {
		return nil, err
	}
	return &dirWatch{h: h}, nil
}

// changed says whether anything happened since the last call, and arms
// the notification again first: what happens after it is recorded, and
// seen at the next call.
func (w *dirWatch) changed() bool {
	ev, err := windows.WaitForSingleObject(w.h, 0)
	if err != nil || ev == windows.WAIT_FAILED {
		return true
	}
	if ev != windows.WAIT_OBJECT_0 {
		return false
	}
	_ = windows.FindNextChangeNotification(w.h)
	return true
}

func (w *dirWatch) close() { windows.FindCloseChangeNotification(w.h) }

// datasync flushes Badger's view of the log f, then f.
func datasync(f *os.File) error {
	if base := views.find(f.Name()); base != 0 {
		if err := windows.FlushViewOfFile(base, 0); err != nil {
			views.forget(f.Name()) // unmapped since: look again next time
			if base = views.find(f.Name()); base != 0 {
				if err := windows.FlushViewOfFile(base, 0); err != nil {
					return err
				}
			}
		}
	}
	return windows.FlushFileBuffers(windows.Handle(f.Fd()))
}

// views remembers where Badger mapped each log this process syncs: it is
// looked up once per log (Badger maps a log once, when it starts it).
var views = &viewCache{at: map[string]uintptr{}}

type viewCache struct {
	mu sync.Mutex
	at map[string]uintptr // path → base address of its view
}

func (c *viewCache) forget(path string) {
	c.mu.Lock()
	delete(c.at, path)
	c.mu.Unlock()
}

// find returns the base address of a view of path mapped in this
// process, or 0 if there is none. The few paths remembered are the logs
// being synced; an older one is dropped when a newer one is looked up.
func (c *viewCache) find(path string) uintptr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if base, ok := c.at[path]; ok {
		return base
	}
	base := findView(path)
	if base != 0 {
		if len(c.at) >= 4 {
			clear(c.at)
		}
		c.at[path] = base
	}
	return base
}

const memMapped = 0x40000 // MEM_MAPPED: a view of a section (a mapped file)

var getMappedFileName = windows.NewLazySystemDLL("psapi.dll").NewProc("GetMappedFileNameW")

// findView walks this process's address space for a view of the file at
// path. A view's file is named as the kernel knows it
// (\Device\HarddiskVolume3\ProgramData\…), so the path is compared
// without its drive.
func findView(path string) uintptr {
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0
	}
	want := strings.ToLower(abs[len(filepath.VolumeName(abs)):])
	self := windows.CurrentProcess()
	var mbi windows.MemoryBasicInformation
	buf := make([]uint16, windows.MAX_LONG_PATH)
	for addr := uintptr(0); ; {
		if err := windows.VirtualQuery(addr, &mbi, unsafe.Sizeof(mbi)); err != nil {
			return 0
		}
		if mbi.Type == memMapped && mbi.State == windows.MEM_COMMIT && mbi.BaseAddress == mbi.AllocationBase {
			n, _, _ := getMappedFileName.Call(uintptr(self), mbi.BaseAddress, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
			if n > 0 && strings.HasSuffix(strings.ToLower(windows.UTF16ToString(buf[:n])), want) {
				return mbi.BaseAddress
			}
		}
		next := mbi.BaseAddress + mbi.RegionSize
		if next <= addr {
			return 0
		}
		addr = next
	}
}

// watchTables flushes each table Badger writes, within a second of its
// appearing, and once more when the store closes (Badger writes its last
// memtable out as it closes). Badger writes a table through a mapping and
// its flush of it does nothing on Windows; then it deletes the memtable
// log that held the same entries, or the tables a compaction merged. A
// power cut in that second can still lose them: docs/windows.md.
func watchTables(dir string) (stop func()) {
	w := &tableWatch{dir: dir, seen: map[string]bool{}, quit: make(chan struct{}), done: make(chan struct{})}
	w.pass() // tables an earlier run left may still be in the system's cache
	go w.run()
	return func() {
		close(w.quit)
		<-w.done
		w.pass()
	}
}

// tableSynced, when set (by tests), is called with each table flushed.
var tableSynced func(path string)

type tableWatch struct {
	dir        string
	seen       map[string]bool // flushed, by name
	quit, done chan struct{}
}

func (w *tableWatch) run() {
	defer close(w.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-w.quit:
			return
		case <-tick.C:
			w.pass()
		}
	}
}

// pass flushes the tables not flushed yet. One that cannot be (gone
// already, merged by a compaction) is tried again next time if it is
// still there.
func (w *tableWatch) pass() {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return
	}
	present := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sst") {
			continue
		}
		present[name] = true
		if w.seen[name] {
			continue
		}
		path := filepath.Join(w.dir, name)
		f, err := openLog(path)
		if err != nil {
			continue
		}
		err = datasync(f)
		f.Close()
		if err == nil {
			w.seen[name] = true
			views.forget(path)
			if tableSynced != nil {
				tableSynced(path)
			}
		}
	}
	for name := range w.seen {
		if !present[name] {
			delete(w.seen, name)
		}
	}
}

// holdLogs: the sync closes the logs after each pass. Where a delete
// leaves the name until the last handle is closed (a delete without POSIX
// semantics, and every delete under wine), a log Badger deleted would
// otherwise stay listed, and so held, for ever.
const holdLogs = false
