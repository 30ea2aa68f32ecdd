package main

import (
	"path/filepath"
	"sync"
	"time"
)

// pacer paces the senders in the upgrade scenario like a shop's day: a
// burst of sales every few seconds (a queue at the till) while the daemon
// brings the earlier release's store up to date; nothing from the moment
// the store starts a new memtable (the upgrade or the collection is
// rewriting) until a collection has deleted a value-log file, so that the
// collection runs with no commit of the store's own in between, as in a
// quiet shop; then as fast as they can until the cut. A nil pacer does
// not hold anyone back.
type pacer struct {
	mu      sync.Mutex
	started time.Time
	holding bool
	flood   chan struct{} // closed once a collection deleted a file
}

// burst is how often the senders come before the collection.
const burst = 3 * time.Second

func newPacer() *pacer { return &pacer{flood: make(chan struct{})} }

// start begins the bursts; files created before it do not count.
func (p *pacer) start() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.started = time.Now()
	p.mu.Unlock()
}

// wait returns when a sender may send its next sale.
func (p *pacer) wait() {
	if p == nil {
		return
	}
	for first := true; ; first = false {
		select {
		case <-p.flood:
			return
		default:
		}
		p.mu.Lock()
		holding, started := p.holding, p.started
		p.mu.Unlock()
		switch {
		case holding:
			<-p.flood
			return
		case !first:
			return
		}
		time.Sleep(burst - time.Since(started)%burst)
	}
}

// event takes what watchFiles reports.
func (p *pacer) event(what, name string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.started.IsZero():
	case what == "GONE":
		select {
		case <-p.flood:
		default:
			close(p.flood)
			say("PACE flood: a collection deleted %s", name)
		}
	case what == "FILE" && filepath.Ext(name) == ".mem" && !p.holding:
		p.holding = true
		say("PACE hold: %s started", name)
	}
}
