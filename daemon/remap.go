package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/fluxrelay/fluxrelay/admin"
	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/provider"
)

// cannotRemap is a held notification that a replay could not map: a
// refusal a person can act on (409), like admin.ErrCannotSend.
type cannotRemap struct{ why string }

func (e *cannotRemap) Error() string        { return e.why }
func (e *cannotRemap) Is(target error) bool { return target == admin.ErrCannotSend }

// remap runs a held notification through its source's provider again, on
// the body and headers it was stored with (after a config fix or an
// upgrade of fluxrelay), and queues what it maps to in its place: the held
// record is dropped once the mapped one is stored. The mapped notification
// has the id a fresh arrival would have, so a resend of it is a duplicate.
// What still cannot be mapped stays held, and the error says why.
func (d *Daemon) remap(ctx context.Context, held *notification.Record) (admin.Replayed, error) {
	out := admin.Replayed{Status: "replayed", ID: held.ID}
	src := d.intake.Source(held.Source)
	if src == nil {
		return out, &cannotRemap{fmt.Sprintf("the source %q it came from is no longer configured, so it cannot be mapped again: add the source back and replay it, or record the payment in Fluxvend by hand and drop it", held.Source)}
	}
	parsed, err := parse(src.Verifier, held)
	switch {
	case err != nil:
		return out, &cannotRemap{"it still cannot be mapped (" + err.Error() + "): fix the source's config or upgrade fluxrelay and replay it again, or record the payment in Fluxvend by hand and drop it"}
	case parsed.Held != "":
		return out, &cannotRemap{"it still cannot be mapped: " + parsed.Held + "; after a fix to the source's config or an upgrade, replay it again"}
	case parsed.Ignored == "" && !d.sendable(&notification.Record{Source: held.Source, Payload: parsed.Payload}):
		return out, &cannotRemap{"it maps to a payment without an amount, which cannot be sent to Fluxvend: record it in Fluxvend by hand, then drop it"}
	}
	now := d.opts.Now()
	rec := ingest.NewRecord(held.Source, src.Provider, parsed, held.ReceivedAt)
	rec.Peer, rec.Terminal, rec.Headers, rec.Raw, rec.Verified = held.Peer, held.Terminal, held.Headers, held.Raw, held.Verified
	if rec.State == notification.Pending {
		rec.NextAttempt = now
	}
	st, err := d.store.Enqueue(ctx, rec)
	var conflict *notification.ConflictError
	switch {
	case errors.As(err, &conflict):
		return out, &cannotRemap{"it maps to " + rec.TransactionRef() + ", but another notification with that reference and different content was received (" + conflict.Diff + "): check both in the provider's dashboard; record this one by hand and drop it"}
	case err != nil:
		return out, err
	}
	if err := d.store.Drop(ctx, held.ID); err != nil {
		return out, fmt.Errorf("mapped and stored as %s, but the held copy could not be dropped (drop it with fluxrelay dlq drop %s): %w", rec.ID, held.ID[:12], err)
	}
	out.Remapped = rec.ID
	switch {
	case st == notification.StatusDuplicate:
		out.Message = fmt.Sprintf("mapped again: it is %s, which this gateway already has (id %s); the held copy was dropped", rec.TransactionRef(), rec.ID[:12])
	case rec.State == notification.Ignored:
		out.Message = fmt.Sprintf("mapped again: not a sale (%s); kept as ignored (id %s), the held copy was dropped", rec.Reason, rec.ID[:12])
	default:
		out.Message = fmt.Sprintf("mapped again: %s, %s, queued for Fluxvend as %s", rec.TransactionRef(), rec.Payload.Amount, rec.ID[:12])
	}
	d.log.Info("held notification mapped again", "id", held.ID, "as", rec.ID, "source", held.Source, "transaction_ref", rec.TransactionRef(), "stored", string(st))
	return out, nil
}

// parse has p map a stored notification, recovering a panic as ingest
// does: a parser's bug is an answer, never a crash.
func parse(p provider.Provider, r *notification.Record) (parsed *provider.Parsed, err error) {
	defer func() {
		if x := recover(); x != nil {
			parsed, err = nil, errors.New("fluxrelay's parser failed on it, a fluxrelay bug to report")
		}
	}()
	h := http.Header{}
	for _, x := range r.Headers {
		h.Add(x.Name, x.Value)
	}
	return p.Parse(&provider.Request{Body: r.Raw, Header: h, Received: r.ReceivedAt})
}
