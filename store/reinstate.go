package store

import (
	"context"

	"github.com/dgraph-io/badger/v4"

	"github.com/fluxrelay/fluxrelay/notification"
)

// reinstate puts back in the queue, at open, the records set aside as
// damaged (z/) that this release can read after all: a record an older
// release could not decode (one in a form it did not know, after a
// downgrade) is whole to this one, and so is one set aside while its blob
// or a table was briefly unreadable. A record still unreadable stays
// aside. It returns how many went back.
func (s *Store) reinstate() (int, error) {
	var ids []string
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pBroken), PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			ids = append(ids, string(it.Item().Key()[len(pBroken):]))
		}
		return nil
	})
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	back := 0
	o := &op{size: 512 * len(ids)}
	o.apply = func(txn *badger.Txn, d *delta) error {
		back = 0
		for _, id := range ids {
			r, err := s.getRecord(txn, id)
			if err != nil {
				continue // still unreadable: it stays aside
			}
			if err := txn.Delete(damagedKey(id)); err != nil {
				return err
			}
			d.damaged--
			// Its record and its other indexes stayed; the schedule and
			// age entries (or the dead-letter entry) are written again.
			switch r.State {
			case notification.Pending:
				k := timeKey(pDue, r.NextAttempt, r.ID)
				if err := txn.Set(k, nil); err != nil {
					return err
				}
				if err := txn.Set(timeKey(pAge, r.ReceivedAt, r.ID), nil); err != nil {
					return err
				}
				d.scheduled, d.wake = append(d.scheduled, k), true
				d.pending++
			case notification.Dead:
				if err := txn.Set(deadKey(r.ID), nil); err != nil {
					return err
				}
				d.dead++
			default:
				continue // finished: nothing to queue
			}
			back++
		}
		return nil
	}
	return back, s.submit(context.Background(), o)
}
