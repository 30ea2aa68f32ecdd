package store

import (
	"testing"
	"time"
)

func TestCollectEvery(t *testing.T) {
	for env, want := range map[string]time.Duration{"": 10 * time.Minute, "1s": time.Second, "250ms": 250 * time.Millisecond, "-1s": 10 * time.Minute, "0": 10 * time.Minute, "soon": 10 * time.Minute} {
		if got := collectEvery(env); got != want {
			t.Errorf("FLUXRELAY_TEST_GC_EVERY=%q: every %s, want %s", env, got, want)
		}
	}
}
