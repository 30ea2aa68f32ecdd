package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/fluxrelay/fluxrelay/notification"
)

// fingerprintsOf is Record.Fingerprints; tests give records forms of
// their own.
var fingerprintsOf = (*notification.Record).Fingerprints

// errDuplicate is the op-level form of notification.StatusDuplicate.
var errDuplicate = errors.New("duplicate")

// Enqueue stores a new notification (pending or ignored) and answers once it
// is on disk. A repeat of a known notification (same id or one of its
// AliasIDs, and one of its Fingerprints) is a Duplicate and changes
// nothing, unless the batch that stored it failed to sync: then it is
// written again. The same id with other content is a
// *notification.ConflictError. When the disk budget is exhausted it returns
// notification.ErrFull and stores nothing.
func (s *Store) Enqueue(ctx context.Context, r *notification.Record) (notification.Status, error) {
	if r.StoredAt.IsZero() {
		r.StoredAt = s.opts.Now().UTC()
	}
	r.Blob = ""
	val, err := encodeRecord(r)
	if err != nil {
		return "", err
	}
	if len(val) >= s.blobMin {
		// The blob is on disk before the commit that refers to it.
		r.Blob = s.blobs.newName(r.ID)
		defer s.blobs.done(r.Blob)
		if err := s.blobs.write(r.Blob, val); err != nil {
			return "", fmt.Errorf("store: %w", err)
		}
		if val, err = encodeSmall(r); err != nil {
			return "", err
		}
	}
	fps := fingerprintsOf(r)
	sum := sha256.Sum256(fps[0])
	wrote, state := false, r.State
	o := &op{ingest: true, id: r.ID, size: len(val) + 128}
	o.apply = func(txn *badger.Txn, d *delta) error {
		wrote, state, o.id = false, r.State, r.ID
		old, err := s.checkKnown(txn, r, fps)
		if errors.Is(err, errDuplicate) && old != nil && s.isUnsynced(old.ID) {
			// Its batch failed to sync: this batch's sync answers for it.
			state, o.id = old.State, old.ID
			return s.rewrite(txn, old, d)
		}
		if err != nil {
			return err
		}
		if err := s.setDedup(txn, r.ID, sum[:]); err != nil {
			return err
		}
		wrote = true
		return s.put(txn, nil, r, val, d)
	}
	err = s.submit(ctx, o)
	if r.Blob != "" && !wrote {
		s.blobs.remove(r.Blob) // never referred to
	}
	if wrote && err == nil {
		s.noteRecordSize(len(val))
	}
	switch {
	case errors.Is(err, errDuplicate):
		return notification.StatusDuplicate, nil
	case err != nil:
		var ce *notification.ConflictError
		if errors.As(err, &ce) {
			return "", ce
		}
		return "", err
	case state == notification.Ignored:
		return notification.StatusIgnored, nil
	case state == notification.Dead:
		return notification.StatusHeld, nil
	default:
		return notification.StatusQueued, nil
	}
}

func (s *Store) setDedup(txn *badger.Txn, id string, sum []byte) error {
	e := badger.NewEntry(dedupKey(id), sum)
	if s.opts.DedupWindow > 0 {
		e = e.WithTTL(s.opts.DedupWindow)
	}
	return txn.SetEntry(e)
}

// rewrite writes a record whose batch failed to sync again as it is, with
// its dedup and index entries, so that the batch's sync covers it. The
// counters already count it.
func (s *Store) rewrite(txn *badger.Txn, old *notification.Record, d *delta) error {
	val, err := s.encode(old, d)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(old.Fingerprint())
	if err := s.setDedup(txn, old.ID, sum[:]); err != nil {
		return err
	}
	counted := delta{touched: d.touched}
	if err := s.put(txn, nil, old, val, &counted); err != nil {
		return err
	}
	d.touched, d.valueLog = counted.touched, d.valueLog || counted.valueLog
	d.scheduled = append(d.scheduled, counted.scheduled...)
	d.wake = d.wake || counted.wake
	return nil
}

// checkKnown compares a new notification with one known under its id or
// one of its aliases: with its record while it is kept (so a conflict can
// name the fields that differ), else with the fingerprint hash in the
// dedup index. It returns nil for a new notification, errDuplicate or a
// *ConflictError as results, and the known record when it is kept.
func (s *Store) checkKnown(txn *badger.Txn, r *notification.Record, fps [][]byte) (*notification.Record, error) {
	for _, id := range append([]string{r.ID}, r.AliasIDs...) {
		if old, err := s.knownAs(txn, r, id, fps); old != nil || err != nil {
			return old, err
		}
	}
	return nil, nil
}

func (s *Store) knownAs(txn *badger.Txn, r *notification.Record, id string, fps [][]byte) (*notification.Record, error) {
	old, err := s.getRecord(txn, id)
	switch {
	case err == nil:
		for _, known := range fingerprintsOf(old) {
			for _, fp := range fps {
				if bytes.Equal(known, fp) {
					return old, resultError{errDuplicate}
				}
			}
		}
		return old, resultError{&notification.ConflictError{ID: id, DedupKey: r.DedupKey, Diff: notification.DiffFields(old.Fingerprint(), fps[0])}}
	case !errors.Is(err, notification.ErrNotFound):
		return nil, err
	}
	item, err := txn.Get(dedupKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	known, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	for _, fp := range fps {
		if sum := sha256.Sum256(fp); bytes.Equal(known, sum[:]) {
			return nil, resultError{errDuplicate}
		}
	}
	return nil, resultError{&notification.ConflictError{ID: id, DedupKey: r.DedupKey,
		Diff: "the earlier notification's details are past store.retention, so the fields that differ cannot be named"}}
}

// Update changes a stored notification's delivery: fn edits a copy, and
// the indexes follow its state and next attempt. Only r.Delivery is kept:
// what arrived never changes once stored. If fn returns an error nothing
// changes.
func (s *Store) Update(ctx context.Context, id string, fn func(*notification.Record) error) error {
	return s.update(ctx, id, nil, fn)
}

// UpdateFrom is Update for a record the caller has just read: while it is
// still the stored revision, the writer starts from it instead of reading
// and decoding it again.
func (s *Store) UpdateFrom(ctx context.Context, read *notification.Record, fn func(*notification.Record) error) error {
	return s.update(ctx, read.ID, read, fn)
}

func (s *Store) update(ctx context.Context, id string, read *notification.Record, fn func(*notification.Record) error) error {
	o := &op{size: 4 << 10}
	o.apply = func(txn *badger.Txn, d *delta) error { return s.edit(txn, d, id, read, fn) }
	return s.submit(ctx, o)
}

// edit changes one stored notification's delivery in txn: fn edits a copy,
// and the indexes follow. A notification that is gone, or that fn or the
// encoding refuses, is a result (resultError), not a failure of txn.
func (s *Store) edit(txn *badger.Txn, d *delta, id string, read *notification.Record, fn func(*notification.Record) error) error {
	old, err := s.current(txn, id, read, d)
	if err != nil {
		if errors.Is(err, notification.ErrNotFound) {
			return resultError{err}
		}
		return err
	}
	edit := *old
	if err := fn(&edit); err != nil {
		return resultError{err}
	}
	// What arrived never changes once stored: only the delivery does.
	r := *old
	r.Delivery = edit.Delivery
	val, err := s.encode(&r, d)
	if err != nil {
		return resultError{err}
	}
	return s.put(txn, old, &r, val, d)
}

// UpdateEach applies fn to each of ids in one transaction (one fsync) and
// returns how many it changed; an id that is gone, or for which fn returns
// an error, is left as it is. Callers bound ids (a few hundred) so that a
// large change goes in batches that never hold up ingest for long.
func (s *Store) UpdateEach(ctx context.Context, ids []string, fn func(*notification.Record) error) (int, error) {
	changed := 0
	o := &op{size: 4 << 10 * len(ids)}
	o.apply = func(txn *badger.Txn, d *delta) error {
		changed = 0
		for _, id := range ids {
			err := s.edit(txn, d, id, nil, fn)
			if isResult(err) {
				continue // gone, or refused by fn: left as it is
			}
			if err != nil {
				return err
			}
			changed++
		}
		return nil
	}
	err := s.submit(ctx, o)
	return changed, err
}

// current returns the stored record: read, when the caller's copy is still
// the stored revision and this batch has not written it, else read anew.
func (s *Store) current(txn *badger.Txn, id string, read *notification.Record, d *delta) (*notification.Record, error) {
	if read != nil && read.Rev != 0 && !d.touched[id] {
		item, err := txn.Get(recordKey(id))
		if err == nil && item.Version() == read.Rev {
			return read, nil
		}
	}
	return s.getRecord(txn, id)
}

// Drop deletes a notification and its indexes. Its dedup entry stays, so a
// resend is still answered "duplicate".
func (s *Store) Drop(ctx context.Context, id string) error {
	o := &op{size: 256}
	o.apply = func(txn *badger.Txn, d *delta) error { return s.drop(txn, id, d) }
	return s.submit(ctx, o)
}

// drop deletes a notification and its indexes in txn, and has its blob
// removed once that is synced.
func (s *Store) drop(txn *badger.Txn, id string, d *delta) error {
	old, err := s.readRecord(txn, id, false)
	if err != nil {
		if errors.Is(err, notification.ErrNotFound) {
			return resultError{err}
		}
		return err
	}
	if old.Blob != "" {
		// The references are in the blob.
		if err := s.blobs.fill(old); err != nil {
			s.log.Warn("the blob of a notification being deleted cannot be read; its references stay in the index until they expire", "id", id, "err", err)
		}
		d.oldBlobs = append(d.oldBlobs, old.Blob)
	}
	if err := s.unindex(txn, old, nil, d); err != nil {
		return err
	}
	return txn.Delete(recordKey(id))
}

// getRecord reads a stored notification whole, its blob included.
func (s *Store) getRecord(txn *badger.Txn, id string) (*notification.Record, error) {
	return s.readRecord(txn, id, true)
}

// readRecord reads a stored notification; without full, a record kept in
// the blob form lacks its raw body, payload and headers (r.Blob names
// them).
func (s *Store) readRecord(txn *badger.Txn, id string, full bool) (*notification.Record, error) {
	item, err := txn.Get(recordKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, notification.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	r := new(notification.Record)
	if err = item.Value(func(v []byte) error { return decodeRecord(v, r) }); err != nil {
		return nil, fmt.Errorf("decode notification %s: %w", id, err)
	}
	r.Rev = item.Version()
	if full && r.Blob != "" {
		if err := s.blobs.fill(r); err != nil {
			return nil, err
		}
	}
	reconstructTrail(r)
	return r, nil
}

// encode returns the stored form of r: compressed, or when that is blobMin
// or more, the blob form, writing r's blob first if it has none (a record
// an earlier release stored whole).
func (s *Store) encode(r *notification.Record, d *delta) ([]byte, error) {
	if r.Blob != "" {
		return encodeSmall(r)
	}
	val, err := encodeRecord(r)
	if err != nil || len(val) < s.blobMin {
		return val, err
	}
	name := s.blobs.newName(r.ID)
	d.newBlobs = append(d.newBlobs, name)
	if err := s.blobs.write(name, val); err != nil {
		return nil, err
	}
	r.Blob = name
	return encodeSmall(r)
}
