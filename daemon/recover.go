package daemon

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/fluxrelay/fluxrelay/config"
	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/store"
)

// RecoverResult says what a recovery found and did.
type RecoverResult struct {
	From   string
	How    string
	Read   int
	Counts map[string]int
}

// Recover re-queues what can be read from a store that was moved aside
// because Badger could not open it (from, or the newest under data_dir).
// The daemon must be stopped: the live store can be open only once.
// Notifications already in the live store — by their ids, which come from
// the dedup keys — are left as they are, so it is safe to run twice.
func Recover(cfg *config.Config, from string) (*RecoverResult, error) {
	if from == "" {
		aside := store.MovedAside(storeDir(cfg))
		if len(aside) == 0 {
			return nil, errors.New("no moved-aside store in " + cfg.DataDir + " (give one with --from DIR)")
		}
		from = aside[len(aside)-1]
	}
	recs, how, err := store.ReadAside(from)
	if err != nil {
		return nil, errors.New("nothing could be read from " + from + ": " + err.Error())
	}
	st, err := openStore(cfg, slog.New(slog.DiscardHandler), time.Now, nil)
	if err != nil {
		return nil, errors.New(err.Error() + " (stop fluxrelay first: sudo systemctl stop fluxrelay)")
	}
	defer st.Close()
	res := &RecoverResult{From: from, How: how, Read: len(recs), Counts: map[string]int{}}
	for _, r := range recs {
		if r.State != notification.Pending && r.State != notification.Dead {
			res.Counts["already delivered or ignored"]++
			continue
		}
		if r.State == notification.Pending && r.Payload == nil {
			res.Counts["unreadable"]++
			continue
		}
		status, err := st.Enqueue(context.Background(), r)
		switch {
		case err != nil:
			res.Counts["failed: "+err.Error()]++
		case status == notification.StatusDuplicate:
			res.Counts["already in the live store"]++
		default:
			res.Counts["re-queued as "+string(r.State)]++
		}
	}
	return res, nil
}
