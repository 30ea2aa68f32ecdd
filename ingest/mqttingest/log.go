package mqttingest

import (
	"context"
	"log/slog"

	"github.com/mochi-mqtt/server/v2/packets"
)

// quietHandler is the embedded broker's log: its start-up and shutdown
// chatter goes to debug, and so does its error line for a publish our hook
// refused (logged already, in our words, at warn); a packet it logs is
// reduced to its type and topic, never its payload (which holds a
// customer's payment).
type quietHandler struct{ slog.Handler }

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	level := r.Level
	if level == slog.LevelInfo || r.Message == "publish packet error" {
		level = slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, level) {
		return nil
	}
	out := slog.NewRecord(r.Time, level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if p, ok := a.Value.Any().(*packets.Packet); ok && p != nil {
			a = slog.Any(a.Key, *p)
		}
		if pk, ok := a.Value.Any().(packets.Packet); ok {
			out.AddAttrs(slog.String("packet", packets.PacketNames[pk.FixedHeader.Type]), slog.String("topic", clip(pk.TopicName)))
			return true
		}
		out.AddAttrs(a)
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	if l == slog.LevelInfo {
		l = slog.LevelDebug
	}
	return h.Handler.Enabled(ctx, l)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(as)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}
