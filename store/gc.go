package store

import (
	"os"
	"time"
)

// CollectValueLog runs the value-log collection now, once the store is in
// the current format, as maintain does on its own every gcEvery: for tests
// that need it at a known moment.
func (s *Store) CollectValueLog() { <-s.migrated; s.collectValueLog() }

// gcEvery is how often maintain collects the value log: every ten minutes,
// or as often as FLUXRELAY_TEST_GC_EVERY says (a Go duration), which the
// power-cut campaign's upgrade round sets to force a collection in the
// running daemon. It is for tests: nothing tells users of it.
var gcEvery = collectEvery(os.Getenv("FLUXRELAY_TEST_GC_EVERY"))

func collectEvery(env string) time.Duration {
	if d, err := time.ParseDuration(env); err == nil && d > 0 {
		return d
	}
	return 10 * time.Minute
}
