// Package store is fluxrelay's durable queue: notifications in Badger, with a
// dedup index, a retry schedule, dead letters and an age index. One writer
// goroutine owns every write and commits whatever is waiting in a single
// synced transaction (group commit); a caller is answered only after its
// transaction is on disk.
package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/fluxrelay/fluxrelay/notification"
)

// Options configure a Store.
type Options struct {
	// Dir is the Badger directory.
	Dir string
	// MaxDisk is the most the store may use on disk; past it new input is
	// refused. Zero means no budget.
	MaxDisk int64
	// MinFree is the free space below which new input is refused. Zero
	// means DefaultMinFree.
	MinFree int64
	// DedupWindow is how long a notification's fingerprint is remembered.
	DedupWindow time.Duration
	// Retention is how long delivered and ignored records are kept.
	Retention time.Duration
	// KeepDelivered is how long delivered and ignored records are kept
	// even under disk pressure; older ones are evicted, oldest first,
	// before new input is refused (evict.go). Zero evicts them at any age.
	KeepDelivered time.Duration
	// EncryptionKey, when set (16, 24 or 32 bytes), encrypts the files.
	EncryptionKey []byte
	Logger        *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SyncFault, when set (by tests), is asked before each sync of one of
	// the store's files with its path; an error it returns stands for that
	// sync's (failstop.go).
	SyncFault func(path string) error
}

// Badger's "tiny" small-device profile (docs/design.md):
// 4 MB memtables and 1 MB tables keep a million-notification backlog under
// 64 MB with the shipped GOMEMLIMIT (BENCHMARKS.md). Never shrink
// memTableSize from one release to the next: replaying a larger WAL into a
// smaller arena kills the process.
//
// Unlike Badger's usual small-device profile, level 0 may hold 32 tables
// before it is compacted (40 before writes stall). Records live in the LSM
// tree (up to 64 KB, compressed), and every flush spans the whole key space,
// so each level-0 compaction rewrites the base level: doing it for 32
// flushes at a time instead of 8 brings the drain back to what it was with
// records in the value log (BENCHMARKS.md). A read checks at most 40 small
// tables' bloom filters more.
const (
	memTableSize     = 4 << 20
	valueLogFileSize = 16 << 20
)

// DefaultMinFree is the free space kept in reserve so that Badger's flushes
// and compactions never meet a full disk (it dies with SIGBUS there): the
// memtables waiting to be flushed, the value log files, level 0 at its
// stall limit compacted at once, and the base level rewritten with it.
const DefaultMinFree = 2*memTableSize + 2*valueLogFileSize + level0Stall*memTableSize + 32<<20

// valueThreshold is the size from which Badger keeps a value in its value
// log instead of the LSM tree. No record reaches it (the large part of a
// record of blobMin or more is in a blob: blob.go), so nothing new goes to
// the value log; value-log collection moves what earlier releases left
// there (records of 64 KB or more, or of 512 bytes or more before them)
// into the LSM tree. Badger allows at most 15 % of the memtable.
const valueThreshold = 512 << 10

// Level 0 holds level0Tables tables before they are compacted, and writes
// stall at level0Stall (both for 64-bit builds; level0LimitsFor).
const (
	level0Tables = 32
	level0Stall  = 40
)

// level0LimitsFor gives level 0's compaction and stall counts for a build
// whose int has intSize bits. When level 0 has four or more tables and the
// level below is busy, Badger merges level 0 into one table of any size,
// its builder sized from a 4 GiB table: on a 32-bit int that size wraps,
// the builder starts with a 512-byte buffer, and ristretto's allocator
// writes its later blocks over the first (baseTableSize). On 32-bit builds
// level 0 therefore never holds four tables: writes stall at three.
var level0TablesNow, level0StallNow = level0LimitsFor(strconv.IntSize)

func level0LimitsFor(intSize int) (tables, stall int) {
	if intSize == 32 {
		return 2, 3
	}
	return level0Tables, level0Stall
}

// Batch limits stay under Badger's per-transaction limit (15 % of the
// memtable, about 630 KB).
const (
	maxBatchOps   = 512
	maxBatchBytes = 512 << 10
)

// Store is the Badger-backed queue. Its methods are safe for concurrent use.
type Store struct {
	// dbMu guards db and logs, which a re-open after a failed sync
	// replaces (failstop.go): the writer and upkeep hold it to read, and
	// readers try it (view) so that they are turned away, not held up,
	// while the store re-opens.
	dbMu  sync.RWMutex
	db    *badger.DB
	opts  Options
	log   *slog.Logger
	space *space
	blobs *blobStore
	// blobMin is the size of a compressed record from which its body is
	// kept in a blob (blobMinFor).
	blobMin int
	// commitMu is held over a commit and its sync, and over a forced
	// flush of the memtables (evict.go), which Badger does with writes
	// blocked.
	commitMu sync.Mutex

	mu     sync.RWMutex // guards closed and sends on ops
	closed bool
	ops    chan *op
	wake   chan struct{}
	done   chan struct{} // closed when the writer has committed its last batch
	stop   chan struct{}
	idle   chan struct{} // closed when maintain has returned

	pending atomic.Int64
	dead    atomic.Int64
	damaged atomic.Int64
	// commits and writes count the writer's transactions and the ops
	// they carried: their ratio is the batch size.
	commits, writes atomic.Int64

	// head is where the last Due scan found the first live schedule
	// entry; scans Seek there instead of walking over the tombstones of
	// everything delivered before it. The writer lowers it whenever it
	// schedules something earlier, once that is committed, so nothing is
	// ever skipped.
	headMu  sync.Mutex
	head    []byte
	headGen uint64 // bumped by every lowerHead

	// beforeCommit, when set (by tests), runs in the writer after a batch
	// is built and before it is committed.
	beforeCommit func()
	// logs syncs Badger's logs after each commit where the store does
	// that itself (logsync.go); nil where Badger does.
	logs *logSync

	// failed, while set, is why every write is refused after a failed
	// sync; lastFailure stays for Stats. unsynced are the records whose
	// batch failed to sync (failstop.go).
	failed, lastFailure atomic.Pointer[syncFailure]
	syncFailures        atomic.Int64
	reopening           sync.WaitGroup
	unsyncedMu          sync.Mutex
	unsynced            map[string]bool
	// inSync names the new records of the batch being committed: visible
	// in Badger from its commit, on disk only once its sync returns. Due
	// hands none of them out meanwhile: were the sync to fail, what went
	// out could not be recorded, and it would go out again.
	inSyncMu sync.Mutex
	inSync   map[string]bool

	// evicted counts the records evicted for disk space, evictedAt is
	// when that last ran (Unix nanoseconds); relief asks maintain to
	// evict now (evict.go).
	evicted, evictedAt atomic.Int64
	relief             chan struct{}
	relieveMu          sync.Mutex // guards idleEviction too
	idleEviction       time.Time  // no eviction round before then
	// recordSize is a running average of a stored record's size, for the
	// space that delivering what waits will take (space.go).
	recordSize atomic.Int64
	// formatAtOpen is the store format the store had when it was opened;
	// migrated is closed once it is the current one (migrate.go).
	formatAtOpen int
	// indexedAtOpen says whether an unversioned store already had the
	// receive-time index when it was opened (OpenedAs).
	indexedAtOpen bool
	migrated      chan struct{}

	// MovedAside names the directory an unreadable store was moved to at
	// open, or is empty.
	MovedAside string
}

// Open opens (or creates) the store in opts.Dir. A store Badger cannot open
// is moved aside, named with the time, and a fresh one is started; the
// caller should say so loudly (MovedAside).
func Open(opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinFree == 0 {
		opts.MinFree = DefaultMinFree
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create store directory: %w", err)
	}
	blobs, err := newBlobStore(opts.Dir, opts.EncryptionKey, opts.SyncFault)
	if err != nil {
		return nil, err
	}
	s := &Store{
		opts:     opts,
		log:      opts.Logger,
		ops:      make(chan *op, 1024),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		stop:     make(chan struct{}),
		idle:     make(chan struct{}),
		relief:   make(chan struct{}, 1),
		migrated: make(chan struct{}),
		unsynced: map[string]bool{},
		inSync:   map[string]bool{},
		blobs:    blobs,
		blobMin:  blobMinFor(strconv.IntSize, len(opts.EncryptionKey) > 0),
	}
	s.space = newSpace(opts.Dir, opts.MaxDisk, opts.MinFree, s.rewriteReserve)
	if err := settleLevelZero(opts, s.log); err != nil && !isLockError(err) {
		s.log.Warn("could not check the store's level-0 tables before opening it", "err", err)
	}
	db, err := openBadger(opts, s.log)
	if err != nil {
		if isLockError(err) {
			return nil, fmt.Errorf("open store %s: another fluxrelay is using it (%w)", opts.Dir, err)
		}
		if errors.Is(err, badger.ErrEncryptionKeyMismatch) {
			// A configuration error, not damage: never move the queue aside for it.
			return nil, fmt.Errorf("open store %s: store.encryption_key_file does not hold the key this store was written with (or the store is encrypted and no key is set); put the right key back", opts.Dir)
		}
		aside := strings.TrimRight(opts.Dir, `/\`) + asideSuffix + opts.Now().UTC().Format("20060102T150405Z")
		s.log.Error("STORE UNREADABLE: moving it aside and starting on an empty store; run the recovery step to re-queue what can be read",
			"dir", opts.Dir, "moved_to", aside, "err", err)
		if rerr := os.Rename(opts.Dir, aside); rerr != nil {
			return nil, fmt.Errorf("open store %s: %w (and moving it aside failed: %v)", opts.Dir, err, rerr)
		}
		if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("create store directory: %w", err)
		}
		if db, err = openBadger(opts, s.log); err != nil {
			return nil, fmt.Errorf("open fresh store %s: %w", opts.Dir, err)
		}
		s.MovedAside = aside
	}
	s.db = db
	if ownLogSync {
		if s.logs, err = newLogSync(opts.Dir, opts.SyncFault); err != nil {
			db.Close()
			return nil, fmt.Errorf("open store %s: %w", opts.Dir, err)
		}
	}
	if err := s.countIndexes(); err != nil {
		db.Close()
		s.logs.close()
		return nil, err
	}
	s.sampleRecordSize()
	if s.formatAtOpen, err = s.openFormat(); err != nil {
		db.Close()
		s.logs.close()
		return nil, fmt.Errorf("open store %s: %w", opts.Dir, err)
	}
	if s.formatAtOpen == 0 {
		s.indexedAtOpen, _ = s.hasAny(pRecv) // unreadable: counted as not indexed, as before
	}
	s.space.measure()
	go s.writer()
	if n, err := s.reinstate(); err != nil {
		s.log.Warn("cannot look again at the notifications set aside as damaged", "err", err)
	} else if n > 0 {
		s.log.Warn("notifications set aside as damaged (by an earlier release, or while a file could not be read) are readable and back in the queue", "count", n)
	}
	if s.formatAtOpen < formatVersion {
		go s.migrate()
	} else {
		close(s.migrated)
	}
	go s.maintain()
	return s, nil
}

// On 32-bit builds (armv7) no table builder may outgrow its allocator's
// first buffer: past it, ristretto's allocator shifts an int by 32, which
// is 0 there, and later blocks overwrite earlier ones (docs/armv7.md).
// Badger makes that buffer twice the table size; a builder for a memtable
// flush holds the whole memtable (up to 15 % more), one for a compaction
// stops at 95 % of the table size, and every block takes blockSize (more
// when one entry outgrows it: then the block's buffer is doubled, twice,
// and the old ones wasted). So on 32-bit builds the table size is twice
// the memtable's, a block holds the largest entry any record makes
// (blobMin), and each block is at least half used. The test
// TestThirtyTwoBitBuildersStayInTheirFirstBuffer keeps the arithmetic.
var (
	baseTableSize = baseTableSizeFor(strconv.IntSize)
	blockSize     = blockSizeFor(strconv.IntSize)
)

func baseTableSizeFor(intSize int) int64 {
	if intSize == 32 {
		return 2 * memTableSize
	}
	return 1 << 20
}

func blockSizeFor(intSize int) int {
	if intSize == 32 {
		return 128 << 10
	}
	return 4 << 10 // Badger's default
}

// blobMinFor gives the size of a compressed record from which its body
// goes to a blob. An encrypted table builder also allocates a sealed copy
// of every block from the same buffer, so on 32-bit builds an encrypted
// store keeps entries small enough that its blocks are 31/32 full.
func blobMinFor(intSize int, encrypted bool) int {
	if intSize == 32 && encrypted {
		return 4 << 10
	}
	return blobMin
}

func openBadger(opts Options, log *slog.Logger) (db *badger.DB, err error) {
	return openBadgerWith(opts, log, nil)
}

// openBadgerWith opens Badger with the store's options, changed by adjust
// when it is not nil.
func openBadgerWith(opts Options, log *slog.Logger, adjust func(badger.Options) badger.Options) (db *badger.DB, err error) {
	bo := badger.DefaultOptions(opts.Dir).
		WithSyncWrites(!ownLogSync).
		WithMemTableSize(memTableSize).WithNumMemtables(2).
		WithNumLevelZeroTables(level0TablesNow).WithNumLevelZeroTablesStall(level0StallNow).
		WithBaseLevelSize(4 << 20).
		WithValueLogFileSize(valueLogFileSize).WithValueLogMaxEntries(100000).
		WithValueThreshold(valueThreshold).
		WithNumCompactors(2).WithNumGoroutines(2).
		WithCompression(options.None).WithBlockCacheSize(0).
		WithIndexCacheSize(2 << 20).
		WithMetricsEnabled(false).
		WithBaseTableSize(baseTableSize).WithBlockSize(blockSize).
		WithDetectConflicts(false). // one writer goroutine owns every key
		WithLogger(badgerLogger{log.With("library", "badger")})
	// Every level's tables are the base size: a compaction's table
	// builders each hold twice a table in memory, up to five at once, and
	// with records in the LSM tree the deep levels of a big backlog would
	// otherwise build tables doubled at every level (BENCHMARKS.md).
	bo.TableSizeMultiplier = 1
	if len(opts.EncryptionKey) > 0 {
		// Badger refuses encryption without a block cache.
		bo = bo.WithEncryptionKey(opts.EncryptionKey).WithBlockCacheSize(4 << 20).
			WithEncryptionKeyRotationDuration(30 * 24 * time.Hour)
	}
	if adjust != nil {
		bo = adjust(bo)
	}
	// Badger panics on some kinds of damage instead of returning an error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("badger panicked while opening: %v", r)
		}
	}()
	return badger.Open(bo)
}

// isLockError reports whether Open failed because another process holds
// the store. Badger formats the flock error into its message with %+v, not
// %w, so errors.Is cannot see it: its message is all there is to match.
func isLockError(err error) bool {
	return strings.Contains(err.Error(), "Cannot acquire directory lock")
}

// asideSuffix, then the time, names a store that was moved aside.
const asideSuffix = ".unreadable-"

// MovedAside lists the stores that were moved aside from dir because
// Badger could not open them, oldest first.
func MovedAside(dir string) []string {
	aside, _ := filepath.Glob(strings.TrimRight(dir, `/\`) + asideSuffix + "*")
	sort.Strings(aside)
	return aside
}

// Close stops accepting writes, commits what is already queued and closes
// Badger.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.ops)
	s.mu.Unlock()
	<-s.done
	close(s.stop)
	<-s.idle // nothing of the store's upkeep may outlive the database
	<-s.migrated
	s.reopening.Wait()
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.db == nil {
		return errReopening // a re-open after a failed sync had not succeeded
	}
	err := s.db.Close()
	s.logs.close()
	s.db, s.logs = nil, nil
	return err
}

// Wake is signalled after a commit that made notifications due.
func (s *Store) Wake() <-chan struct{} { return s.wake }

// countIndexes sets the in-memory counters from the indexes at open.
func (s *Store) countIndexes() error {
	return s.db.View(func(txn *badger.Txn) error {
		for prefix, c := range map[string]*atomic.Int64{pDue: &s.pending, pDead: &s.dead, pBroken: &s.damaged} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
			var n int64
			for it.Rewind(); it.Valid(); it.Next() {
				n++
			}
			it.Close()
			c.Store(n)
		}
		return nil
	})
}

// ErrAmbiguous is returned by Find when a prefix matches several records.
var ErrAmbiguous = errors.New("that id prefix matches more than one notification; give more of it")

type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...))) }

// errFull wraps notification.ErrFull so errors.Is finds it.
var errFull = notification.ErrFull
