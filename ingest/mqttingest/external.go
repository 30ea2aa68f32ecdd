package mqttingest

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/provider"
)

// SubscriberOptions configure the subscription to an external broker.
type SubscriberOptions struct {
	Broker      string // tcp://host:1883, ssl://host:8883
	ClientID    string
	Username    string
	Password    string
	TopicPrefix string
	// SharedGroup, when set, subscribes through $share/{group}/… so that
	// several gateways split the load and cover for each other.
	SharedGroup string
	TLS         *tls.Config
	Logger      *slog.Logger
	Now         func() time.Time
	// OnState is told when the connection is up, or why it is not.
	OnState func(up bool, err error)
	// ReconnectMax bounds the wait between reconnects (default 30s).
	ReconnectMax time.Duration
	// BounceWait is how long to stay away after the store refused a
	// message, before reconnecting for its redelivery (default 5s).
	BounceWait time.Duration
	// StatusTopic, when set, is kept retained on the broker: "online"
	// while connected, "offline" after a clean stop and, as the last will,
	// when the connection is lost (see StatusTopic).
	StatusTopic string
}

// The payloads of the status topic.
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// StatusTopic is where a gateway tells a central broker whether it is up:
// {prefix}/_gateway/{name}/status, with the characters a topic level
// cannot hold ("/", "+", "#") in the name made "_". It is one level deeper
// than what terminals publish to, so no subscription to {prefix}/+/+ sees
// it, and "_gateway" can never be a source's name.
func StatusTopic(prefix, gateway string) string {
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == '+' || r == '#' || r == 0 {
			return '_'
		}
		return r
	}, gateway)
	return prefix + "/_gateway/" + name + "/status"
}

// Subscriber takes notifications from an external broker at least once: a
// persistent session (stable client id, clean session off) keeps what
// arrives while fluxrelay is down, and each message is acknowledged only
// after it is stored (docs/design.md).
type Subscriber struct {
	opts   SubscriberOptions
	intake *ingest.Intake
	log    *slog.Logger

	mu       sync.Mutex
	bouncing bool
	closed   bool
}

// NewSubscriber returns a subscriber that stores into intake.
func NewSubscriber(intake *ingest.Intake, opts SubscriberOptions) *Subscriber {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReconnectMax == 0 {
		opts.ReconnectMax = 30 * time.Second
	}
	if opts.BounceWait == 0 {
		opts.BounceWait = 5 * time.Second
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID()
	}
	return &Subscriber{opts: opts, intake: intake, log: opts.Logger}
}

// DefaultClientID derives a client id from the machine's id: stable across
// restarts, different per gateway, at most 23 characters.
func DefaultClientID() string {
	id, err := os.ReadFile("/etc/machine-id")
	if err != nil || len(id) == 0 {
		h, _ := os.Hostname()
		id = []byte(h)
	}
	sum := sha256.Sum256(id)
	return "fluxrelay-" + hex.EncodeToString(sum[:])[:12]
}

// Filter is the subscription's topic filter.
func (s *Subscriber) Filter() string {
	f := s.opts.TopicPrefix + "/+/+"
	if s.opts.SharedGroup != "" {
		f = "$share/" + s.opts.SharedGroup + "/" + f
	}
	return f
}

// Run keeps the subscription until ctx ends.
func (s *Subscriber) Run(ctx context.Context) error {
	o := paho.NewClientOptions().
		AddBroker(s.opts.Broker).
		SetClientID(s.opts.ClientID).
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		SetOrderMatters(false).
		SetKeepAlive(30 * time.Second).SetPingTimeout(10 * time.Second).
		SetConnectTimeout(10 * time.Second).SetWriteTimeout(10 * time.Second).
		SetAutoReconnect(true).SetMaxReconnectInterval(s.opts.ReconnectMax).
		SetConnectRetry(true).SetConnectRetryInterval(min(5*time.Second, s.opts.ReconnectMax)).
		SetDefaultPublishHandler(s.handle). // session messages delivered before Subscribe
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			s.log.Warn("MQTT broker connection lost; reconnecting", "broker", s.opts.Broker, "err", err)
			s.state(false, err)
		})
	if s.opts.Username != "" {
		o.SetUsername(s.opts.Username).SetPassword(s.opts.Password)
	}
	if s.opts.TLS != nil {
		o.SetTLSConfig(s.opts.TLS)
	}
	if s.opts.StatusTopic != "" {
		o.SetWill(s.opts.StatusTopic, StatusOffline, 1, true)
	}
	o.SetOnConnectHandler(func(c paho.Client) {
		t := c.Subscribe(s.Filter(), 1, s.handle)
		if t.Wait() && t.Error() != nil {
			s.log.Error("MQTT subscribe failed", "filter", s.Filter(), "err", t.Error())
			s.state(false, t.Error())
			return
		}
		s.log.Info("subscribed to the MQTT broker", "broker", s.opts.Broker, "filter", s.Filter(), "client_id", s.opts.ClientID)
		s.state(true, nil)
		s.tellStatus(c, StatusOnline)
	})
	client := paho.NewClient(o)
	client.Connect() // with ConnectRetry it keeps trying in the background
	<-ctx.Done()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if client.IsConnectionOpen() {
		s.tellStatus(client, StatusOffline) // a clean stop sends no will
	}
	client.Disconnect(250)
	return nil
}

// tellStatus publishes the retained status, when one is kept. It goes at
// QoS 0: a connection lost before it is written is followed by the will
// ("offline") and, on reconnecting, by "online" again. (At QoS 1, paho
// v1.5.1 re-sends an unacknowledged publish after a reconnect from two
// goroutines at once: a data race, and a panic when both complete it.)
func (s *Subscriber) tellStatus(c paho.Client, status string) {
	if s.opts.StatusTopic == "" {
		return
	}
	t := c.Publish(s.opts.StatusTopic, 0, true, status)
	if !t.WaitTimeout(5*time.Second) || t.Error() != nil {
		s.log.Warn("the gateway's status could not be published to the MQTT broker", "topic", s.opts.StatusTopic, "status", status, "err", t.Error())
	}
}

func (s *Subscriber) state(up bool, err error) {
	if s.opts.OnState != nil {
		s.opts.OnState(up, err)
	}
}

// handle stores one message and only then acknowledges it. A message the
// store refuses is not acknowledged: the broker sends it again after the
// next connection, which bounce brings about.
func (s *Subscriber) handle(c paho.Client, m paho.Message) {
	source, terminal, ok := Topic(s.opts.TopicPrefix, m.Topic())
	if !ok {
		m.Ack()
		return
	}
	meta := ingest.Meta{Terminal: terminal}
	var a ingest.Answer
	if limits := s.intake.Limits(); len(m.Payload()) > int(limits.MaxBody)+PacketRoom {
		a = s.intake.RefuseErr(source, meta, limits.TooLarge())
	} else if body, header, err := Decode(m.Payload()); err != nil {
		a = s.intake.RefuseErr(source, meta, err)
	} else {
		a = s.intake.Accept(context.Background(), source, &provider.Request{Body: body, Header: header, Received: s.opts.Now()}, meta)
	}
	if a.Outcome == ingest.Unavailable {
		s.log.Warn("MQTT notification not stored; the broker will send it again", "source", source, "err", a.Error)
		s.bounce(c)
		return
	}
	if !a.Outcome.Stored() {
		s.log.Warn("MQTT notification refused; acknowledged so that it is not resent", "source", source, "terminal", terminal, "outcome", a.Outcome.String(), "error", a.Error)
	}
	m.Ack()
}

// bounce drops and restores the connection so the broker redelivers what
// was not acknowledged (MQTT brokers resend only on a new connection).
func (s *Subscriber) bounce(c paho.Client) {
	s.mu.Lock()
	if s.bouncing {
		s.mu.Unlock()
		return
	}
	s.bouncing = true
	s.mu.Unlock()
	go func() {
		c.Disconnect(100)
		time.Sleep(s.opts.BounceWait)
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.closed {
			c.Connect()
		}
		s.bouncing = false
	}()
}
