package store

import (
	"context"
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/fluxrelay/fluxrelay/notification"
)

// expireBatch bounds the notifications one Expire transaction removes.
const expireBatch = 256

// Expire removes the delivered and ignored notifications whose
// store.retention has ended, and returns how many it removed. Their dedup
// entries stay until store.dedup_window ends, so a resend is still
// answered "duplicate". The store runs it every minute.
func (s *Store) Expire(ctx context.Context) (int, error) {
	removed := 0
	for {
		var keys [][]byte
		now := s.opts.Now()
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pExpire)})
			defer it.Close()
			for it.Rewind(); it.Valid() && len(keys) < expireBatch; it.Next() {
				if at, _ := splitTimeKey(pExpire, it.Item().Key()); at.After(now) {
					break
				}
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			return removed, err
		}
		o := &op{size: 128 * len(keys)}
		o.apply = func(txn *badger.Txn, d *delta) error {
			for _, k := range keys {
				_, id := splitTimeKey(pExpire, k)
				if err := txn.Delete(k); err != nil {
					return err
				}
				r, err := getRecord(txn, id)
				if errors.Is(err, notification.ErrNotFound) || (err == nil && !retained(r)) {
					continue
				}
				// Past its retention, readable or not.
				if err := txn.Delete(stateKey(id)); err != nil {
					return err
				}
				if err := txn.Delete(recordKey(id)); err != nil {
					return err
				}
			}
			return nil
		}
		if err := s.submit(ctx, o); err != nil {
			return removed, err
		}
		removed += len(keys)
		if len(keys) < expireBatch {
			return removed, nil
		}
	}
}
