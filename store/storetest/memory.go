// Package storetest holds an in-memory queue with the store's contract and
// the conformance suite that both it and the Badger store must pass.
package storetest

import (
	"bytes"
	"context"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/store"
)

// Memory is an in-memory queue for tests of the parts above the store. It
// keeps the same contract as store.Store but nothing survives it.
type Memory struct {
	mu      sync.Mutex
	records map[string]*notification.Record
	dedup   map[string][]byte
	wake    chan struct{}
	// Full, when set, makes Enqueue refuse new input as a full disk would.
	Full bool
}

// NewMemory returns an empty Memory queue.
func NewMemory() *Memory {
	return &Memory{records: map[string]*notification.Record{}, dedup: map[string][]byte{}, wake: make(chan struct{}, 1)}
}

func clone(r *notification.Record) *notification.Record { c := *r; return &c }

// Enqueue implements the store contract.
func (m *Memory) Enqueue(_ context.Context, r *notification.Record) (notification.Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Full {
		return "", notification.ErrFull
	}
	fps := r.Fingerprints()
	for _, id := range append([]string{r.ID}, r.AliasIDs...) {
		known := [][]byte{m.dedup[id]}
		if old, ok := m.records[id]; ok {
			known = old.Fingerprints()
		}
		if known[0] == nil {
			continue
		}
		for _, k := range known {
			for _, fp := range fps {
				if bytes.Equal(k, fp) {
					return notification.StatusDuplicate, nil
				}
			}
		}
		return "", &notification.ConflictError{ID: id, DedupKey: r.DedupKey, Diff: notification.DiffFields(known[0], fps[0])}
	}
	fp := fps[0]
	m.dedup[r.ID] = fp
	m.records[r.ID] = clone(r)
	if r.State == notification.Ignored {
		return notification.StatusIgnored, nil
	}
	m.signal()
	return notification.StatusQueued, nil
}

func (m *Memory) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Update implements the store contract.
func (m *Memory) Update(_ context.Context, id string, fn func(*notification.Record) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.records[id]
	if !ok {
		return notification.ErrNotFound
	}
	r := clone(old)
	if err := fn(r); err != nil {
		return err
	}
	// What arrived never changes once stored: only the delivery does.
	kept := clone(old)
	kept.Delivery = r.Delivery
	m.records[id] = kept
	if r.State == notification.Pending {
		m.signal()
	}
	return nil
}

// Drop implements the store contract.
func (m *Memory) Drop(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.records[id]; !ok {
		return notification.ErrNotFound
	}
	delete(m.records, id)
	return nil
}

func (m *Memory) sorted(state notification.State, key func(*notification.Record) time.Time) []*notification.Record {
	var out []*notification.Record
	for _, r := range m.records {
		if r.State == state {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *notification.Record) int {
		if c := key(a).Compare(key(b)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Due implements the store contract.
func (m *Memory) Due(now time.Time, skip map[string]bool) (iter.Seq2[*notification.Record, error], func() time.Time) {
	var later time.Time
	due := func(yield func(*notification.Record, error) bool) {
		m.mu.Lock()
		var batch []*notification.Record
		for _, r := range m.sorted(notification.Pending, func(r *notification.Record) time.Time { return r.NextAttempt }) {
			if r.NextAttempt.After(now) {
				later = r.NextAttempt
				break
			}
			if !skip[r.ID] {
				batch = append(batch, clone(r))
			}
		}
		m.mu.Unlock() // yielded outside the lock, as the store yields outside its transactions
		for _, r := range batch {
			if !yield(r, nil) {
				return
			}
		}
	}
	return due, func() time.Time { return later }
}

// UpdateFrom implements the store contract.
func (m *Memory) UpdateFrom(ctx context.Context, read *notification.Record, fn func(*notification.Record) error) error {
	return m.Update(ctx, read.ID, fn)
}

// Get implements the store contract.
func (m *Memory) Get(id string) (*notification.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.records[id]; ok {
		return clone(r), nil
	}
	return nil, notification.ErrNotFound
}

// Find implements the store contract.
func (m *Memory) Find(prefix string) (*notification.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var found *notification.Record
	for id, r := range m.records {
		if prefix != "" && strings.HasPrefix(id, prefix) {
			if found != nil {
				return nil, store.ErrAmbiguous
			}
			found = r
		}
	}
	if found == nil {
		return nil, notification.ErrNotFound
	}
	return clone(found), nil
}

// DeadLetters implements the store contract.
func (m *Memory) DeadLetters() ([]*notification.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.sorted(notification.Dead, func(*notification.Record) time.Time { return time.Time{} })
	for i := range out {
		out[i] = clone(out[i])
	}
	return out, nil
}

// Stats implements the store contract.
func (m *Memory) Stats() store.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	var st store.Stats
	pending := m.sorted(notification.Pending, func(r *notification.Record) time.Time { return r.ReceivedAt })
	st.Pending = int64(len(pending))
	if len(pending) > 0 {
		st.OldestPending = pending[0].ReceivedAt
	}
	st.Dead = int64(len(m.sorted(notification.Dead, func(*notification.Record) time.Time { return time.Time{} })))
	if m.Full {
		st.Full = notification.ErrFull.Error()
	}
	return st
}

// CapSchedule implements the store contract.
func (m *Memory) CapSchedule(_ context.Context, limit time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.records {
		if r.State == notification.Pending && r.NextAttempt.After(limit) {
			r.NextAttempt = limit
			n++
		}
	}
	return n, nil
}

// Wake implements the store contract.
func (m *Memory) Wake() <-chan struct{} { return m.wake }

// Close implements the store contract.
func (m *Memory) Close() error { return nil }

var _ Queue = (*Memory)(nil)
var _ Queue = (*store.Store)(nil)
