//go:build !fluxrelay_hole1

package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// syncRecorder records what the store's log sync synced, by base name
// ("00003.mem", or "dir" for the store directory).
type syncRecorder struct {
	mu     sync.Mutex
	synced []string
	// tables are the table files that were in the directory when it
	// was synced.
	tables map[string]bool
}

func recordSyncs(s *Store) *syncRecorder {
	rec := &syncRecorder{tables: map[string]bool{}}
	s.logs.synced = func(p string) {
		name := filepath.Base(p)
		var tables []string
		if p == s.opts.Dir {
			name = "dir"
			tables, _ = filepath.Glob(filepath.Join(p, "*.sst"))
		}
		rec.mu.Lock()
		for _, t := range tables {
			rec.tables[filepath.Base(t)] = true
		}
		rec.synced = append(rec.synced, name)
		rec.mu.Unlock()
	}
	return rec
}

func (r *syncRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.synced
	r.synced = nil
	return got
}

// TestLogSync: each write syncs the memtable log that holds it, and one
// flush is all a commit costs; when Badger starts a new memtable log, the
// one before is synced once more and the directory once, and neither
// again; a record big enough for a blob syncs the blob and its directory
// before the commit, and nothing goes to the value log; a ping syncs
// nothing.
func TestLogSync(t *testing.T) {
	if !ownLogSync {
		t.Skip("Badger syncs its own logs on this system")
	}
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := recordSyncs(s)
	ctx := context.Background()

	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("a ping synced %v", got)
	}

	first := memLogs(t, dir)[0]
	var listed *listing
	for i := range 20 {
		if _, err := s.Enqueue(ctx, formRecord(fmt.Sprint("SYNC-", i), 1)); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(); !slices.Equal(got, []string{first}) {
			t.Fatalf("write %d synced %v; want [%s]: one flush per commit", i, got, first)
		}
		if i == 0 {
			listed = s.logs.listed
		}
	}
	if ownLogSync && s.logs.listed != listed {
		t.Error("commits that created no file read the directory again")
	}

	// Fill past a memtable (4 MB): records that do not compress.
	newest := func() string { logs := memLogs(t, dir); return logs[len(logs)-1] }
	var got []string
	for i := 0; newest() == first; i++ {
		if i > 2000 {
			t.Fatal("no new memtable log after 2 000 records of 4 KB")
		}
		r := formRecord(fmt.Sprint("SYNC-FILL-", i), 1)
		r.Raw = make([]byte, 4<<10)
		rand.Read(r.Raw)
		if _, err := s.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.take()...)
	}
	next := newest()
	// The commit that found the new log synced the old one (unless Badger
	// had flushed it already), the new one and the directory; until then
	// each synced the old one alone.
	if len(got) < 2 || !slices.Equal(got[len(got)-2:], []string{next, "dir"}) {
		t.Errorf("across a new memtable log the syncs end with %v; want [%s %s dir]", got[max(0, len(got)-3):], first, next)
	}
	for i, name := range got[:max(0, len(got)-2)] {
		if name != first {
			t.Errorf("sync %d before the new log's was of %s", i, name)
		}
	}
	// Badger flushes the old memtable to a table: one more directory sync.
	waitFor(t, "Badger to flush the first memtable", func() bool { return slices.Equal(memLogs(t, dir), []string{next}) })
	if _, err := s.Enqueue(ctx, formRecord("SYNC-AFTER", 1)); err != nil {
		t.Fatal(err)
	}
	// Its table was in the directory when it was synced: at this commit,
	// or at the one that found the new log when Badger had written the
	// table by then.
	if got := rec.take(); !slices.Equal(got, []string{next, "dir"}) && !slices.Equal(got, []string{next}) {
		t.Errorf("the commit after the flush synced %v; want [%s dir]", got, next)
	}
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(tables) == 0 {
		t.Fatal("Badger flushed the memtable but no table file is there")
	}
	rec.mu.Lock()
	for _, table := range tables {
		if !rec.tables[filepath.Base(table)] {
			t.Errorf("table %s is not covered by a sync of the directory", filepath.Base(table))
		}
	}
	rec.mu.Unlock()
	if _, err := s.Enqueue(ctx, formRecord("SYNC-AFTER-2", 1)); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); !slices.Equal(got, []string{next}) {
		t.Errorf("the next commit synced %v; want [%s] alone", got, next)
	}

	big := formRecord("SYNC-BIG", 1)
	big.Raw = make([]byte, 100<<10)
	rand.Read(big.Raw)
	var order []string
	s.blobs.fault = func(p string) error { order = append(order, "blob:"+filepath.Base(p)); return nil }
	s.beforeCommit = func() { order = append(order, "commit") }
	if _, err := s.Enqueue(ctx, big); err != nil {
		t.Fatal(err)
	}
	s.blobs.fault, s.beforeCommit = nil, nil
	order = append(order, rec.take()...)
	if len(order) != 4 || !strings.HasPrefix(order[0], "blob:"+big.ID) || order[1] != "blob:blobs" || order[2] != "commit" || !strings.HasSuffix(order[3], ".mem") {
		t.Errorf("a large record: %v; want its blob synced, then the blobs directory, then the commit, then the memtable log", order)
	}
}

// TestLogSyncFailsLoudlyWhenItLosesTrack: if every memtable log the sync
// finds is unlinked by the time it is synced, the sync fails rather than
// acknowledge.
func TestLogSyncFailsLoudlyWhenItLosesTrack(t *testing.T) {
	if !ownLogSync {
		t.Skip("Badger syncs its own logs on this system")
	}
	if wineLacks != "" {
		t.Skip(wineLacks)
	}
	dir := t.TempDir()
	for _, name := range []string{"00001.mem", "000001.vlog"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := newLogSync(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	n := 1
	l.synced = func(p string) {
		if strings.HasSuffix(p, ".mem") {
			// Badger starts the next log and deletes this one under the sync.
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%05d.mem", n+1)), []byte("x"), 0o600)
			os.Remove(p)
			n++
		}
	}
	if err := l.sync(false); err != errLostTrack {
		t.Errorf("sync = %v; want errLostTrack", err)
	}
}

// BenchmarkLogSyncList is what reading the store's directory costs a
// commit, in the directory of a store of 100 MB and of 1 GB (100 and 1 000
// tables): to set against a flush, milliseconds on an SD card.
func BenchmarkLogSyncList(b *testing.B) {
	for _, tables := range []int{100, 1000} {
		b.Run(fmt.Sprint(tables, "-tables"), func(b *testing.B) { benchmarkList(b, tables) })
	}
}

func benchmarkList(b *testing.B, tables int) {
	dir := b.TempDir()
	for i := range tables {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("%06d.sst", i)), nil, 0o600)
	}
	for _, name := range []string{"01000.mem", "01001.mem", "000042.vlog", "MANIFEST", "DISCARD", "KEYREGISTRY"} {
		os.WriteFile(filepath.Join(dir, name), nil, 0o600)
	}
	l := &logSync{dir: dir}
	for b.Loop() {
		if _, err := l.list(); err != nil {
			b.Fatal(err)
		}
	}
}

// wineLacks, when set (logsync_windows_test.go), says why a test of what
// wine does not emulate is skipped there.
var wineLacks string
