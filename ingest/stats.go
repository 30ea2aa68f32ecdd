package ingest

import (
	"sync"
	"sync/atomic"
	"time"
)

// Counts are one source's counters since the daemon started. Every
// notification received is counted once as queued, a duplicate, ignored,
// held or rejected.
type Counts struct {
	Received, Queued, Duplicates, Ignored, Held, Rejected atomic.Int64
	// Panics counts notifications a provider's parser failed on.
	Panics atomic.Int64
	// Stale counts notifications taken (queued or held) whose own date is
	// older than the dedup window: very late, or replays of notifications
	// delivered and since forgotten.
	Stale atomic.Int64
}

// Rejection is a refused request, kept in memory for status.
type Rejection struct {
	At       time.Time `json:"at"`
	Source   string    `json:"source"`
	Peer     string    `json:"peer,omitempty"`
	Terminal string    `json:"terminal,omitempty"`
	Outcome  string    `json:"outcome"`
	Error    string    `json:"error"`
}

// Stats holds the per-source counters and the last 100 rejections.
type Stats struct {
	mu       sync.Mutex
	sources  map[string]*Counts
	rejected []Rejection
	next     int
}

// NewStats returns empty Stats.
func NewStats() *Stats { return &Stats{sources: map[string]*Counts{}} }

func (s *Stats) source(name string) *Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.sources[name]
	if !ok {
		c = new(Counts)
		s.sources[name] = c
	}
	return c
}

// Source returns the counters of one source.
func (s *Stats) Source(name string) *Counts { return s.source(name) }

const keepRejections = 100

func (s *Stats) remember(r Rejection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rejected) < keepRejections {
		s.rejected = append(s.rejected, r)
		return
	}
	s.rejected[s.next] = r
	s.next = (s.next + 1) % keepRejections
}

// Rejections returns the remembered rejections, oldest first.
func (s *Stats) Rejections() []Rejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(append([]Rejection{}, s.rejected[s.next:]...), s.rejected[:s.next]...)
}

// RateLog lets a kind of log line through at most once per interval for
// each key, and counts the lines it held back. It keeps at most a set
// number of keys: a flood from ever new addresses empties it rather than
// grows it.
type RateLog struct {
	every time.Duration
	keys  int
	mu    sync.Mutex
	last  map[string]rateEntry
}

type rateEntry struct {
	at      time.Time
	skipped int
}

// NewRateLog returns a RateLog for one line per key every interval, that
// keeps at most keys keys.
func NewRateLog(every time.Duration, keys int) *RateLog {
	return &RateLog{every: every, keys: keys, last: map[string]rateEntry{}}
}

// Allow reports whether a line for key may be logged now, and how many
// were held back since the last one.
func (l *RateLog) Allow(key string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.last[key]
	if ok && now.Sub(e.at) < l.every {
		e.skipped++
		l.last[key] = e
		return false, 0
	}
	if !ok && len(l.last) >= l.keys {
		clear(l.last)
	}
	l.last[key] = rateEntry{at: now}
	return true, e.skipped
}
