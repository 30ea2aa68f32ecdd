package store

import (
	"github.com/dgraph-io/badger/v4"
	"slices"

	"github.com/fluxrelay/fluxrelay/notification"
)

// put writes r (encoded as val) and moves its index entries from where old
// had them. old is nil for a new record.
func (s *Store) put(txn *badger.Txn, old, r *notification.Record, val []byte, d *delta) error {
	if err := s.unindex(txn, old, r, d); err != nil {
		return err
	}
	if d.touched == nil {
		d.touched = map[string]bool{}
	}
	d.touched[r.ID] = true
	if len(val) >= valueThreshold {
		d.valueLog = true // never, since records keep large parts in blobs
	}
	e := badger.NewEntry(recordKey(r.ID), val)
	if (r.State == notification.Delivered || r.State == notification.Ignored) && s.opts.Retention > 0 {
		e = e.WithTTL(s.opts.Retention)
	}
	if err := txn.SetEntry(e); err != nil {
		return err
	}
	// The reference and receive-time indexes: written with the record, and
	// again with the record's retention once it is delivered, so that they
	// expire together.
	if old == nil || (old.State != notification.Delivered && r.State == notification.Delivered) {
		for _, k := range indexKeys(r) {
			e := badger.NewEntry(k, nil)
			if (r.State == notification.Delivered || r.State == notification.Ignored) && s.opts.Retention > 0 {
				e = e.WithTTL(s.opts.Retention)
			}
			if err := txn.SetEntry(e); err != nil {
				return err
			}
		}
	}
	wasPending := old != nil && old.State == notification.Pending
	wasDead := old != nil && old.State == notification.Dead
	switch r.State {
	case notification.Pending:
		if !wasPending || !old.NextAttempt.Equal(r.NextAttempt) {
			k := timeKey(pDue, r.NextAttempt, r.ID)
			if err := txn.Set(k, nil); err != nil {
				return err
			}
			d.scheduled = append(d.scheduled, k)
			d.wake = true
		}
		if !wasPending {
			d.pending++
			return txn.Set(timeKey(pAge, r.ReceivedAt, r.ID), nil)
		}
	case notification.Dead:
		if !wasDead {
			d.dead++
			return txn.Set(deadKey(r.ID), nil)
		}
	}
	return nil
}

// unindex removes the index entries old has that r (nil when the record is
// being deleted) will not keep.
func (s *Store) unindex(txn *badger.Txn, old, r *notification.Record, d *delta) error {
	if old == nil {
		return nil
	}
	if r == nil {
		for _, k := range indexKeys(old) {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
	}
	stillPending := r != nil && r.State == notification.Pending
	switch old.State {
	case notification.Pending:
		if !stillPending || !old.NextAttempt.Equal(r.NextAttempt) {
			if err := txn.Delete(timeKey(pDue, old.NextAttempt, old.ID)); err != nil {
				return err
			}
		}
		if !stillPending {
			d.pending--
			return txn.Delete(timeKey(pAge, old.ReceivedAt, old.ID))
		}
	case notification.Dead:
		if r == nil || r.State != notification.Dead {
			d.dead--
			return txn.Delete(deadKey(old.ID))
		}
	}
	return nil
}

// indexKeys are the keys that index r by its references and by when it
// was received; they expire with the record.
func indexKeys(r *notification.Record) [][]byte {
	keys := [][]byte{timeKey(pRecv, r.ReceivedAt, r.ID)}
	for _, ref := range refs(r) {
		keys = append(keys, refKey(ref, r.ID))
	}
	return keys
}

// refs are the references a person may look a notification up by: its
// payload's, and those it carries of its own (a held one's provider
// reference).
func refs(r *notification.Record) []string {
	var out []string
	if r.Payload != nil {
		out = append(out, r.Payload.TransactionRef)
		if p := r.Payload.PaymentRef; p != "" && p != r.Payload.TransactionRef {
			out = append(out, p)
		}
	}
	for _, ref := range r.Refs {
		if ref != "" && !slices.Contains(out, ref) {
			out = append(out, ref)
		}
	}
	return out
}
