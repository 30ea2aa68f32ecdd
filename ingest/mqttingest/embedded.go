package mqttingest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
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
	Username string
	// Password, or PasswordHash (bcrypt) when it is set.
	Password, PasswordHash string
	// Sources the user may publish for; none means all.
	Sources []string
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
	// OnListen is told when the listener is up, or why it is not: it
	// cannot bind, or accepting connections fails (out of file
	// descriptors), until it works again.
	OnListen func(addr string, err error)
	// Limits; zero means the Default one.
	MaxConns, MaxConnsPerAddr    int
	ConnectWithin, SessionExpiry time.Duration
}

// The embedded broker's limits (docs/security.md says why these).
const (
	// DefaultMaxConns bounds the connections the broker holds; a shop's
	// terminals are a few dozen at most.
	DefaultMaxConns = 128
	// DefaultMaxConnsPerAddr bounds the connections from one address: a
	// terminal needs one, a reconnecting one two.
	DefaultMaxConnsPerAddr = 8
	// DefaultConnectWithin is how long a connection may take to send its
	// CONNECT.
	DefaultConnectWithin = 10 * time.Second
	// DefaultSessionExpiry caps how long a disconnected session is kept
	// (MQTT 5 session expiry, and clean-session=false with 3.1.1). A
	// terminal's session holds nothing it needs back: its unacknowledged
	// publishes wait in the terminal.
	DefaultSessionExpiry = time.Hour
	// MaxSessionsPerUser bounds the disconnected sessions kept for one
	// login: past it the oldest go.
	MaxSessionsPerUser = 8
	// PacketRoom is what a packet may carry beyond http.max_body: the
	// topic, properties and an envelope's headers.
	PacketRoom = 64 << 10
	// MaxConnect is the largest CONNECT packet taken, before login.
	MaxConnect = 16 << 10
)

// Broker is the embedded MQTT broker. Terminals log in with a configured
// user and publish at QoS 1 to {prefix}/{source}/{terminal}; the PUBACK is
// sent only once the notification is on disk: the store commits inside
// OnPublish, which mochi runs before it writes the PUBACK (docs/design.md).
type Broker struct {
	opts    BrokerOptions
	intake  *ingest.Intake
	logins  *logins
	log     *slog.Logger
	refused *ingest.RateLog
	srv     atomic.Pointer[mqtt.Server]
	guard   atomic.Pointer[guard]
}

// NewBroker returns a broker that stores into intake.
func NewBroker(intake *ingest.Intake, users []User, opts BrokerOptions) *Broker {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.MaxConnsPerAddr <= 0 {
		opts.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	if opts.ConnectWithin <= 0 {
		opts.ConnectWithin = DefaultConnectWithin
	}
	if opts.SessionExpiry <= 0 {
		opts.SessionExpiry = DefaultSessionExpiry
	}
	b := &Broker{opts: opts, intake: intake, logins: newLogins(), log: opts.Logger, refused: ingest.NewRateLog(time.Minute, failKeep)}
	b.SetUsers(users)
	return b
}

// MaxPacket is the largest MQTT packet the broker reads: http.max_body
// and room for the topic, properties and an envelope's headers. A larger
// one ends the connection before it is read.
func (b *Broker) MaxPacket() int { return int(b.intake.Limits().MaxBody) + PacketRoom }

// SetTLS makes the listener take TLS connections only. Call before Run.
func (b *Broker) SetTLS(c *tls.Config) { b.opts.TLS = c }

// SetUsers replaces the terminals' logins (at start and on reload).
func (b *Broker) SetUsers(users []User) { b.logins.set(users) }

// Conns reports how many connections the broker holds.
func (b *Broker) Conns() int {
	if g := b.guard.Load(); g != nil {
		return g.open()
	}
	return 0
}

// Run serves until ctx ends. A port that cannot be bound is tried again
// every few seconds; the daemon keeps running meanwhile.
func (b *Broker) Run(ctx context.Context) error {
	srv := mqtt.New(&mqtt.Options{
		InlineClient: false,
		Logger:       slog.New(quietHandler{b.log.With("library", "mochi").Handler()}),
		Capabilities: b.capabilities(),
		// Terminals may not subscribe, so nobody reads $SYS: refreshing it
		// every second (mochi's default) only wakes an idle gateway.
		SysTopicResendInterval: 3600,
	})
	b.srv.Store(srv)
	if err := srv.AddHook(&durableHook{b: b}, nil); err != nil {
		return err
	}
	inner, err := listen.Retry(ctx, b.opts.Listen, func(err error) {
		b.onListen(b.opts.Listen, err)
		b.log.Error("cannot listen for MQTT; trying again", "key", "mqtt.listen", "addr", b.opts.Listen, "err", err)
	})
	if inner == nil {
		return err
	}
	addr := inner.Addr().String()
	g := newGuard(inner, b.opts.MaxConnsPerAddr, b.opts.MaxConns, b.opts.ConnectWithin, b.log, func(err error) { b.onListen(addr, err) })
	b.guard.Store(g)
	var l net.Listener = g
	if b.opts.TLS != nil {
		l = tls.NewListener(g, b.opts.TLS)
	}
	if err := srv.AddListener(listeners.NewNet("terminals", connectLimit{Listener: l, max: MaxConnect})); err != nil {
		g.Close()
		return fmt.Errorf("mqtt broker: %w", err)
	}
	b.onListen(addr, nil)
	if err := srv.Serve(); err != nil {
		g.Close()
		return fmt.Errorf("mqtt broker: %w", err)
	}
	<-ctx.Done()
	// mochi disconnects its clients before it closes its listener, and a
	// terminal reconnecting in between is accepted and then left without
	// an answer until its connect timeout (30 s for paho). Stop accepting
	// and drop every connection first; publishes being stored finish, and
	// mochi waits for them.
	g.Close()
	return srv.Close()
}

func (b *Broker) onListen(addr string, err error) {
	if b.opts.OnListen != nil {
		b.opts.OnListen(addr, err)
	}
}

// capabilities are mochi's limits for terminals that publish and never
// subscribe.
func (b *Broker) capabilities() *mqtt.Capabilities {
	c := mqtt.NewDefaultServerCapabilities()
	c.MaximumQos = 1 // QoS 2 is taken as QoS 1: the store already dedupes
	c.RetainAvailable = 0
	c.WildcardSubAvailable = 0
	c.SharedSubAvailable = 0
	c.MaximumPacketSize = uint32(b.MaxPacket())
	c.MaximumSessionExpiryInterval = uint32(b.opts.SessionExpiry / time.Second)
	c.MaximumClients = int64(b.opts.MaxConns)
	c.TopicAliasMaximum = 0 // a terminal needs none, and each would be kept per client
	c.ReceiveMaximum = 32   // publishes in flight per terminal: they are stored one by one
	c.MaximumInflight = 64
	c.MaximumClientWritesPending = 256
	return c
}

// durableHook authenticates terminals, lets them publish only under the
// topic prefix, and stores each publish before the broker acknowledges it.
type durableHook struct {
	mqtt.HookBase
	b *Broker

	// mu guards the order in which sessions were left: mochi's stop
	// time is in whole seconds, too coarse to tell the oldest.
	mu     sync.Mutex
	left   map[string]uint64 // client id → when its session was left
	leftAt uint64
}

func (h *durableHook) ID() string { return "fluxrelay-durable" }

func (h *durableHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnDisconnect}, []byte{b})
}

// OnConnect refuses a client id that is not bound to the username
// ({username} or {username}-…): with it one terminal's login could take
// over another's session and drop its connection.
func (h *durableHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	user := string(pk.Connect.Username)
	if boundID(user, pk.Connect.ClientIdentifier) {
		return nil
	}
	if ok, skipped := h.b.refused.Allow("id:"+user, time.Now()); ok {
		h.b.log.Warn("MQTT login refused: the client id must be the username, or start with the username and a dash; set the terminal's client id so",
			"username", clip(user), "client_id", clip(pk.Connect.ClientIdentifier), "remote", cl.Net.Remote, "more_refused_since_last_line", skipped)
	}
	if srv := h.b.srv.Load(); srv != nil {
		_ = srv.SendConnack(cl, packets.ErrClientIdentifierNotValid, false, nil)
	}
	return packets.ErrClientIdentifierNotValid
}

// OnConnectAuthenticate checks the login in the same time whether or not
// the username exists, and refuses at once an address that failed too
// often (5 in a row, then one more every 12 s).
func (h *durableHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	addr, now := remoteAddr(cl.Net.Remote), time.Now()
	user := string(pk.Connect.Username)
	if h.b.logins.blocked(addr, now) {
		h.b.logRefusedLogin("MQTT login refused: too many failed logins from this address; wait a minute, then check the terminal's username and password against [[mqtt.user]]", user, addr)
		return false
	}
	if _, ok := h.b.logins.check(user, pk.Connect.Password); !ok {
		h.b.logins.fail(addr, now)
		h.b.logRefusedLogin("MQTT login refused; check the terminal's username and password against [[mqtt.user]]", user, addr)
		return false
	}
	return true
}

func (b *Broker) logRefusedLogin(msg, user string, addr netip.Addr) {
	if ok, skipped := b.refused.Allow("login:"+addr.String(), time.Now()); ok {
		b.log.Warn(msg, "username", clip(user), "remote", addr.String(), "more_refused_since_last_line", skipped)
	}
}

// OnDisconnect keeps at most MaxSessionsPerUser disconnected sessions per
// login: each holds memory until it expires, and a login may use any
// number of client ids of its own.
func (h *durableHook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	srv := h.b.srv.Load()
	if expire || srv == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.left == nil {
		h.left = map[string]uint64{}
	}
	h.leftAt++
	h.left[cl.ID] = h.leftAt
	var stale []*mqtt.Client
	kept := make(map[string]bool, len(h.left))
	for _, c := range srv.Clients.GetAll() {
		if c.StopTime() == 0 {
			continue
		}
		kept[c.ID] = true
		if c != cl && bytes.Equal(c.Properties.Username, cl.Properties.Username) {
			stale = append(stale, c)
		}
	}
	for id := range h.left {
		if !kept[id] && id != cl.ID {
			delete(h.left, id) // expired, or resumed and not yet left again
		}
	}
	if len(stale) < MaxSessionsPerUser {
		return
	}
	slices.SortFunc(stale, func(a, b *mqtt.Client) int {
		return cmp.Or(cmp.Compare(a.StopTime(), b.StopTime()), cmp.Compare(h.left[a.ID], h.left[b.ID]))
	})
	for _, c := range stale[:len(stale)-MaxSessionsPerUser+1] {
		srv.Clients.Delete(c.ID)
		delete(h.left, c.ID)
	}
}

func remoteAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
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
	if ok, skipped := h.b.refused.Allow("publish:"+source+"\x00"+terminal+"\x00"+a.Outcome.String(), time.Now()); ok {
		h.b.log.Warn("MQTT notification refused; acknowledged so the terminal does not resend it", "source", source, "terminal", clip(terminal),
			"outcome", a.Outcome.String(), "error", a.Error, "more_refused_since_last_line", skipped)
	}
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
	user, _ := h.b.logins.user(string(cl.Properties.Username))
	if !user.mayPublish(source) {
		return h.b.intake.Refuse(source, meta, ingest.NotAllowed,
			fmt.Sprintf("MQTT user %q may not publish for source %q; add it to that user's sources if this terminal takes its payments", user.Username, source)), source, terminal
	}
	body, header, err := Decode(pk.Payload)
	if err != nil {
		return h.b.intake.RefuseErr(source, meta, err), source, terminal
	}
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
	case ingest.TooLarge:
		return packets.ErrPacketTooLarge
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
