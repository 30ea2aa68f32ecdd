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
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/internal/listen"
	"github.com/fluxrelay/fluxrelay/provider"
)

// User is one terminal's login on the embedded broker.
type User struct {
	Username, Password string
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
	users  atomic.Pointer[map[string]string]
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
	m := make(map[string]string, len(users))
	for _, u := range users {
		m[u.Username] = u.Password
	}
	b.users.Store(&m)
}

// Run serves until ctx ends. A port that cannot be bound is tried again
// every few seconds; the daemon keeps running meanwhile.
func (b *Broker) Run(ctx context.Context) error {
	srv := mqtt.New(&mqtt.Options{
		InlineClient: false,
		Logger:       b.log.With("component", "mqtt-broker"),
		Capabilities: brokerCapabilities(),
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
	want, ok := (*h.b.users.Load())[string(pk.Connect.Username)]
	if !ok || subtle.ConstantTimeCompare([]byte(want), pk.Connect.Password) != 1 {
		h.b.log.Warn("MQTT login refused; check the terminal's username and password against [[mqtt.user]]", "username", string(pk.Connect.Username), "remote", cl.Net.Remote)
		return false
	}
	return true
}

// OnACLCheck lets terminals publish under the prefix and subscribe to nothing:
// one terminal must not read another's payments.
func (h *durableHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if !write {
		return false
	}
	_, _, ok := Topic(h.b.opts.TopicPrefix, topic)
	return ok
}

func (h *durableHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	source, terminal, ok := Topic(h.b.opts.TopicPrefix, pk.TopicName)
	if !ok {
		return pk, packets.CodeSuccessIgnore
	}
	body, header := Decode(pk.Payload)
	req := &provider.Request{Body: body, Header: header, Received: h.b.opts.Now()}
	a := h.b.intake.Accept(context.Background(), source, req, ingest.Meta{Terminal: terminal})
	if a.Outcome == ingest.Unavailable {
		// Not stored: no PUBACK. Dropping the connection makes the
		// terminal send it again at once, on its next connection.
		cl.Stop(errors.New("notification not stored: " + a.Error))
		return pk, packets.ErrRejectPacket
	}
	if !a.Outcome.Stored() {
		h.b.log.Warn("MQTT notification refused; acknowledged so the terminal does not resend it", "source", source, "terminal", terminal, "outcome", a.Outcome.String(), "error", a.Error)
	}
	return pk, packets.CodeSuccessIgnore // acknowledged; nothing is fanned out
}
