package mqttingest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"

	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/internal/listen"
	"github.com/fluxrelay/fluxrelay/provider"
)

// User is one terminal's login on the embedded broker.
type User struct {
	Username string
	// Password, or PasswordHash (bcrypt) when it is set.
	Password, PasswordHash string
	// Sources the user may publish for; none means all.
	Sources []string
}

// check says whether password is the user's.
func (u User) check(password []byte) bool {
	if u.PasswordHash != "" {
		return bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), password) == nil
	}
	return subtle.ConstantTimeCompare([]byte(u.Password), password) == 1
}

// mayPublish says whether the user may publish for the source.
func (u User) mayPublish(source string) bool {
	return len(u.Sources) == 0 || slices.Contains(u.Sources, source)
}

// BrokerOptions configure the embedded broker.
type BrokerOptions struct {
	Listen      string
	TopicPrefix string
	TLS         *tls.Config
	Logger      *slog.Logger
	Now         func() time.Time
	// OnListen is told when the listener is up, or why it is not.
	OnListen func(addr string, err error)
}

// Broker is the embedded MQTT broker. Terminals log in with a configured
// user and publish at QoS 1 to {prefix}/{source}/{terminal}; the PUBACK is
// sent only once the notification is on disk: the store commits inside
// OnPublish, which mochi runs before it writes the PUBACK (docs/design.md).
type Broker struct {
	opts   BrokerOptions
	intake *ingest.Intake
	users  atomic.Pointer[map[string]User]
	log    *slog.Logger
}

// NewBroker returns a broker that stores into intake.
func NewBroker(intake *ingest.Intake, users []User, opts BrokerOptions) *Broker {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Broker{opts: opts, intake: intake, log: opts.Logger}
	b.SetUsers(users)
	return b
}

// SetTLS makes the listener take TLS connections only. Call before Run.
func (b *Broker) SetTLS(c *tls.Config) { b.opts.TLS = c }

// SetUsers replaces the terminals' logins (at start and on reload).
func (b *Broker) SetUsers(users []User) {
	m := make(map[string]User, len(users))
	for _, u := range users {
		m[u.Username] = u
	}
	b.users.Store(&m)
}

// Run serves until ctx ends. A port that cannot be bound is tried again
// every few seconds; the daemon keeps running meanwhile.
func (b *Broker) Run(ctx context.Context) error {
	srv := mqtt.New(&mqtt.Options{
		InlineClient: false,
		Logger:       slog.New(quietHandler{b.log.With("library", "mochi").Handler()}),
		Capabilities: brokerCapabilities(),
		// Terminals may not subscribe, so nobody reads $SYS: refreshing it
		// every second (mochi's default) only wakes an idle gateway.
		SysTopicResendInterval: 3600,
	})
	if err := srv.AddHook(&durableHook{b: b}, nil); err != nil {
		return err
	}
	inner, err := listen.Retry(ctx, b.opts.Listen, func(err error) {
		if b.opts.OnListen != nil {
			b.opts.OnListen(b.opts.Listen, err)
		}
		b.log.Error("cannot listen for MQTT; trying again", "key", "mqtt.listen", "addr", b.opts.Listen, "err", err)
	})
	if inner == nil {
		return err
	}
	ln := &closingListener{Listener: inner, conns: map[*trackedConn]struct{}{}}
	var l net.Listener = ln
	if b.opts.TLS != nil {
		l = tls.NewListener(ln, b.opts.TLS)
	}
	if err := srv.AddListener(listeners.NewNet("terminals", l)); err != nil {
		inner.Close()
		return fmt.Errorf("mqtt broker: %w", err)
	}
	if b.opts.OnListen != nil {
		b.opts.OnListen(inner.Addr().String(), nil)
	}
	if err := srv.Serve(); err != nil {
		ln.Close()
		return fmt.Errorf("mqtt broker: %w", err)
	}
	<-ctx.Done()
	// mochi disconnects its clients before it closes its listener, and a
	// terminal reconnecting in between is accepted and then left without
	// an answer until its connect timeout (30 s for paho). Stop accepting
	// and drop every connection first; publishes being stored finish, and
	// mochi waits for them.
	ln.Close()
	return srv.Close()
}

// closingListener is the terminals' listener. Its Close also closes every
// connection it accepted that is still open.
type closingListener struct {
	net.Listener
	mu     sync.Mutex
	closed bool
	conns  map[*trackedConn]struct{}
}

func (l *closingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *closingListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	err := l.Listener.Close()
	for c := range conns {
		c.Conn.Close()
	}
	return err
}

type trackedConn struct {
	net.Conn
	l *closingListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c) // a no-op once the listener is closed
	c.l.mu.Unlock()
	return c.Conn.Close()
}

func brokerCapabilities() *mqtt.Capabilities {
	c := mqtt.NewDefaultServerCapabilities()
	c.MaximumQos = 1 // QoS 2 is taken as QoS 1: the store already dedupes
	c.RetainAvailable = 0
	c.WildcardSubAvailable = 0
	c.SharedSubAvailable = 0
	return c
}

// durableHook authenticates terminals, lets them publish only under the
// topic prefix, and stores each publish before the broker acknowledges it.
type durableHook struct {
	mqtt.HookBase
	b *Broker
}

func (h *durableHook) ID() string { return "fluxrelay-durable" }

func (h *durableHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish}, []byte{b})
}

func (h *durableHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	u, ok := (*h.b.users.Load())[string(pk.Connect.Username)]
	if !ok || !u.check(pk.Connect.Password) {
		h.b.log.Warn("MQTT login refused; check the terminal's username and password against [[mqtt.user]]", "username", string(pk.Connect.Username), "remote", cl.Net.Remote)
		return false
	}
	return true
}

// OnACLCheck lets terminals publish and subscribe to nothing: one terminal
// must not read another's payments. A publish to a topic that names no
// source, or one the user may not publish for, is answered in OnPublish,
// where a terminal speaking MQTT v5 learns why (mochi would drop a v3
// connection refused here, and log the packet with its payload).
func (h *durableHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	return write
}

func (h *durableHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	a, source, terminal := h.accept(cl, pk)
	if a.Outcome == ingest.Unavailable {
		// Not stored: no PUBACK. Dropping the connection makes the
		// terminal send it again at once, on its next connection.
		cl.Stop(errors.New("notification not stored: " + a.Error))
		return pk, packets.ErrRejectPacket
	}
	if a.Outcome.Stored() {
		return pk, packets.CodeSuccessIgnore // acknowledged; nothing is fanned out
	}
	h.b.log.Warn("MQTT notification refused; acknowledged so the terminal does not resend it", "source", source, "terminal", terminal, "outcome", a.Outcome.String(), "error", a.Error)
	if cl.Properties.ProtocolVersion == 5 {
		return pk, refusalCode(a.Outcome) // the PUBACK carries it
	}
	return pk, packets.CodeSuccessIgnore
}

// accept checks the topic and the user's sources, then hands the payload
// to the intake.
func (h *durableHook) accept(cl *mqtt.Client, pk packets.Packet) (a ingest.Answer, source, terminal string) {
	source, terminal, ok := Topic(h.b.opts.TopicPrefix, pk.TopicName)
	if !ok {
		return h.b.intake.Refuse("", ingest.Meta{}, ingest.NoSource,
			fmt.Sprintf("topic %q is not %s/{source}/{terminal}; publish to the topic your technician gave the terminal", clip(pk.TopicName), h.b.opts.TopicPrefix)), "", ""
	}
	meta := ingest.Meta{Terminal: terminal}
	user := (*h.b.users.Load())[string(cl.Properties.Username)]
	if !user.mayPublish(source) {
		return h.b.intake.Refuse(source, meta, ingest.NotAllowed,
			fmt.Sprintf("MQTT user %q may not publish for source %q; add it to that user's sources if this terminal takes its payments", user.Username, source)), source, terminal
	}
	body, header := Decode(pk.Payload)
	req := &provider.Request{Body: body, Header: header, Received: h.b.opts.Now()}
	return h.b.intake.Accept(context.Background(), source, req, meta), source, terminal
}

// refusalCode is the MQTT v5 reason code a refused publish's PUBACK
// carries.
func refusalCode(o ingest.Outcome) packets.Code {
	switch o {
	case ingest.NotGenuine, ingest.NotAllowed:
		return packets.ErrNotAuthorized
	case ingest.NoSource:
		return packets.ErrTopicNameInvalid
	case ingest.BadInput:
		return packets.ErrPayloadFormatInvalid
	default:
		return packets.ErrUnspecifiedError
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

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
