package store

import (
	"fmt"
	"log/slog"
	"math"
	"strconv"

	badger "github.com/dgraph-io/badger/v4"
)

// level0Merge is how many level-0 tables Badger merges into one table of
// unbounded size when the level below is busy: on a 32-bit build that
// table's builder corrupts it (level0LimitsFor).
const level0Merge = 4

// settleLevelZero makes sure a store opened by a 32-bit build starts with
// fewer level-0 tables than Badger merges into one: a store written by an
// earlier release (level 0 then stalled at 40 tables) can hold more. It
// looks without writing; only if level 0 is too full, or the store cannot
// be opened read-only (it was not closed cleanly), it opens the store with
// no compactors and moves level 0 down with Badger's Flatten, whose
// compactions never merge level 0 into itself. A no-op on 64-bit builds.
func settleLevelZero(opts Options, log *slog.Logger) error {
	if strconv.IntSize != 32 {
		return nil
	}
	return settleLevelZeroWith(opts, log, level0Merge)
}

func settleLevelZeroWith(opts Options, log *slog.Logger, most int) error {
	n, err := levelZeroTables(opts, log, true)
	if err == nil && n < most {
		return nil
	}
	db, err := openSettling(opts, log, false)
	if err != nil {
		return err
	}
	if n = levelZeroOf(db); n >= most {
		log.Info("moving the store's level-0 tables down before the compactors start (a store written by an earlier release)", "tables", n)
		if err := db.Flatten(1); err != nil {
			db.Close()
			return fmt.Errorf("store: move level-0 tables down: %w", err)
		}
	}
	return db.Close()
}

// levelZeroTables opens the store to count its level-0 tables.
func levelZeroTables(opts Options, log *slog.Logger, readOnly bool) (int, error) {
	db, err := openSettling(opts, log, readOnly)
	if err != nil {
		return 0, err
	}
	n := levelZeroOf(db)
	return n, db.Close()
}

// openSettling opens Badger with the store's options but no compactors
// and no stall on level 0 (replaying the memtable logs may flush). Level 0
// is due for compaction from one table, so that Flatten moves it down.
func openSettling(opts Options, log *slog.Logger, readOnly bool) (*badger.DB, error) {
	return openBadgerWith(opts, log, func(bo badger.Options) badger.Options {
		return bo.WithNumCompactors(0).WithReadOnly(readOnly).
			WithNumLevelZeroTables(1).WithNumLevelZeroTablesStall(math.MaxInt32)
	})
}

func levelZeroOf(db *badger.DB) int {
	for _, l := range db.Levels() {
		if l.Level == 0 {
			return l.NumTables
		}
	}
	return 0
}
