package mqttingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"

	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/internal/mosquittotest"
	"github.com/fluxrelay/fluxrelay/internal/mqttwire"
	"github.com/fluxrelay/fluxrelay/internal/syncbuf"
	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/provider"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

// sink is the in-memory store with a switch to refuse or hold enqueues.
type sink struct {
	*storetest.Memory
	refuse atomic.Int32  // refuse this many enqueues (as a full disk would)
	hold   chan struct{} // when set, the first enqueue waits for it to close
	held   atomic.Bool
	calls  atomic.Int32
	delay  time.Duration // each enqueue takes this long
}

func newSink() *sink { return &sink{Memory: storetest.NewMemory()} }

func (s *sink) Enqueue(ctx context.Context, r *notification.Record) (notification.Status, error) {
	s.calls.Add(1)
	if s.hold != nil && s.held.CompareAndSwap(false, true) {
		<-s.hold
		return "", notification.ErrClosed // the daemon stopped before the commit
	}
	time.Sleep(s.delay)
	if s.refuse.Add(-1) >= 0 {
		return "", notification.ErrFull
	}
	return s.Memory.Enqueue(ctx, r)
}

func newIntake(s ingest.Sink) *ingest.Intake {
	in := ingest.NewIntake(s, nil, time.Now)
	in.SetSources([]*ingest.Source{
		{Name: "till", Provider: "core", Verifier: &provider.Core{Tenant: "t"}},
		{Name: "signed", Provider: "core", Verifier: &provider.Core{Tenant: "t", Secret: "till-secret"}},
	})
	return in
}

// publisher is a terminal: a real paho client.
func publisher(t *testing.T, addr, id, user, pass string) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(false).
		SetUsername(user).SetPassword(pass).SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond).
		SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// startBroker runs a broker; stop (also run at cleanup) ends it and waits.
func startBroker(t *testing.T, in *ingest.Intake, addr string) (string, func()) {
	t.Helper()
	return startBrokerWith(t, in, addr, []User{{Username: "till-1", Password: "pw-1"}}, nil)
}

func startBrokerWith(t *testing.T, in *ingest.Intake, addr string, users []User, log *slog.Logger) (string, func()) {
	t.Helper()
	a, stop, _ := runBroker(t, in, users, BrokerOptions{Listen: addr, Logger: log})
	return a, stop
}

// runBroker runs a broker with opts; stop (also run at cleanup) ends it
// and waits.
func runBroker(t *testing.T, in *ingest.Intake, users []User, opts BrokerOptions) (string, func(), *Broker) {
	t.Helper()
	up := make(chan string, 1)
	opts.TopicPrefix = "fluxrelay"
	opts.OnListen = func(a string, err error) {
		if err == nil {
			select {
			case up <- a:
			default:
			}
		}
	}
	b := NewBroker(in, users, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	select {
	case a := <-up:
		return a, stop, b
	case <-time.After(10 * time.Second):
		t.Fatal("the broker did not start")
	}
	return "", nil, nil
}

// completed waits for a paho token on its Done channel (paho's
// WaitTimeout misreports with short timeouts) and returns its error.
func completed(t *testing.T, tok paho.Token, within time.Duration) (bool, error) {
	t.Helper()
	select {
	case <-tok.Done():
		return true, tok.Error()
	case <-time.After(within):
		return false, nil
	}
}

func waitStored(t *testing.T, s *storetest.Memory, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for s.Stats().Pending < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d stored; want %d", s.Stats().Pending, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A note on proof: paho completes a publish token, without an error, when
// the broker drops the connection, even with a persistent session, and
// then sends the message again. So the tests below do not take a finished
// token as a PUBACK; they watch what the broker side sees: a terminal that
// got no PUBACK keeps sending until the store has the message.

// TestPubackOnlyAfterCommit stops the broker while a terminal's message is
// between receipt and commit: no PUBACK goes out, so the terminal sends it
// again to the restarted broker, where it is stored once.
func TestPubackOnlyAfterCommit(t *testing.T) {
	first := newSink()
	first.hold = make(chan struct{})
	addr, stop := startBroker(t, newIntake(first), "127.0.0.1:0")
	term := publisher(t, addr, "till-1", "till-1", "pw-1")
	term.Publish("fluxrelay/till/T1", 1, false, `{"transactionRef":"M-1","amount":"250.00"}`)
	for first.calls.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }() // the daemon stops before the commit…
	for term.IsConnectionOpen() {          // …and has dropped the terminal
		time.Sleep(5 * time.Millisecond)
	}
	close(first.hold)
	<-stopped
	second := newSink() // …and starts again
	startBroker(t, newIntake(second), addr)
	waitStored(t, second.Memory, 1)
	if r, err := second.Get(notification.NewID("till", "core", "t", "M-1")); err != nil || r.Terminal != "T1" {
		t.Errorf("stored record %+v, %v; want it with terminal T1", r, err)
	}
	// A marker published after it: a resend of the first would reach the
	// store before the marker does.
	term.Publish("fluxrelay/till/T1", 1, false, `{"transactionRef":"M-2","amount":"1.00"}`)
	waitStored(t, second.Memory, 2)
	if n := second.calls.Load(); n != 2 || first.Stats().Pending != 0 {
		t.Errorf("after the restart the store was asked %d times for 2 notifications; want each once", n)
	}
}

// TestStoreRefusalWithholdsPuback: while the store refuses (disk full), the
// terminal gets no PUBACK and keeps sending; it is stored once it fits.
func TestStoreRefusalWithholdsPuback(t *testing.T) {
	s := newSink()
	s.refuse.Store(3)
	addr, _ := startBroker(t, newIntake(s), "127.0.0.1:0")
	term := publisher(t, addr, "till-1", "till-1", "pw-1")
	term.Publish("fluxrelay/till/T1", 1, false, `{"transactionRef":"M-2","amount":1}`)
	waitStored(t, s.Memory, 1)
	term.Publish("fluxrelay/till/T1", 1, false, `{"transactionRef":"M-3","amount":1}`) // the marker
	waitStored(t, s.Memory, 2)
	if n := s.calls.Load(); n != 5 {
		t.Errorf("%d store attempts; want 5: three refused (no PUBACK, so the terminal resent), one stored, then the marker", n)
	}
}

// TestStopClosesEveryConnection: connections the broker accepted but that
// never logged in (a terminal mid-handshake, a port scan) are closed when
// it stops, so stopping does not wait on them and a terminal reconnecting
// then is not left waiting for an answer.
func TestStopClosesEveryConnection(t *testing.T) {
	addr, stop, b := runBroker(t, newIntake(newSink()), []User{{Username: "till-1", Password: "pw-1"}}, BrokerOptions{Listen: "127.0.0.1:0"})
	publisher(t, addr, "till-1", "till-1", "pw-1") // one logged in, too
	var silent []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	for deadline := time.Now().Add(10 * time.Second); b.Conns() < 4; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the broker holds %d connections; want 4", b.Conns())
		}
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the broker did not stop within 10 s with connections that never sent CONNECT")
	}
	for i, c := range silent {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("connection %d is still open after the broker stopped (read: %v)", i, err)
		}
	}
}

func TestEmbeddedAuthAndACL(t *testing.T) {
	s := newSink()
	addr, _ := startBroker(t, newIntake(s), "127.0.0.1:0")
	bad := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("till-1-x").SetUsername("till-1").SetPassword("wrong"))
	done, err := completed(t, bad.Connect(), 5*time.Second)
	if !done || err == nil {
		bad.Disconnect(0)
		t.Errorf("a wrong password: connect finished %v with error %v; want a refusal", done, err)
	}
	term := publisher(t, addr, "till-1-sub", "till-1", "pw-1")
	tok := term.Subscribe("fluxrelay/#", 1, nil)
	if done, err := completed(t, tok, 5*time.Second); !done {
		t.Fatal("no SUBACK within 5s")
	} else if st, ok := tok.(*paho.SubscribeToken); err == nil && (!ok || st.Result()["fluxrelay/#"] < 0x80) {
		t.Error("a terminal may subscribe to other terminals' payments")
	}
}

// TestRefusalsCarryReasonCodes: a terminal speaking MQTT 5 learns why its
// publish was refused from the PUBACK's reason code; one speaking 3.1.1
// gets a plain PUBACK and keeps its connection; a user limited to some
// sources may publish for those only; a bcrypt hash works as a password;
// and no payload byte reaches the log.
func TestRefusalsCarryReasonCodes(t *testing.T) {
	s := newSink()
	in := newIntake(s)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-2"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := startBrokerWith(t, in, "127.0.0.1:0", []User{
		{Username: "till-1", Password: "pw-1"},
		{Username: "till-2", PasswordHash: string(hash), Sources: []string{"till"}},
	}, log)
	const marker = "CUSTOMER-PAYLOAD-BYTES"
	body := `{"transactionRef":"R-1","amount":5,"note":"` + marker + `"}`
	signed := `{"headers":{"Signature":"` + notification.Sign("till-secret", []byte(body)) + `"},"body":` + fmt.Sprintf("%q", body) + `}`

	v5, err := mqttwire.DialV5(addr, "till-1-v5", "till-1", "pw-1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer v5.Close()
	for _, c := range []struct {
		topic, payload string
		code           byte
	}{
		{"elsewhere/till/T1", body, 0x90},
		{"fluxrelay/till", body, 0x90},
		{"fluxrelay/nosuch/T1", body, 0x90},
		{"fluxrelay/till/T1", "not json " + marker, 0x99},
		{"fluxrelay/signed/T1", body, 0x87}, // unsigned
		{"fluxrelay/signed/T1", signed, 0},
	} {
		err := v5.Publish(c.topic, []byte(c.payload), 5*time.Second)
		var refused *mqttwire.Refused
		switch {
		case c.code == 0 && err != nil:
			t.Errorf("%s: %v; want it stored", c.topic, err)
		case c.code != 0 && (!errors.As(err, &refused) || refused.Code != c.code):
			t.Errorf("%s %.20q: %v; want reason code %#x", c.topic, c.payload, err, c.code)
		}
	}

	limited, err := mqttwire.DialV5(addr, "till-2", "till-2", "pw-2", 5*time.Second)
	if err != nil {
		t.Fatalf("a login with a bcrypt hash: %v", err)
	}
	defer limited.Close()
	var refused *mqttwire.Refused
	if err := limited.Publish("fluxrelay/signed/T2", []byte(signed), 5*time.Second); !errors.As(err, &refused) || refused.Code != 0x87 {
		t.Errorf("a user limited to till published for signed: %v; want 0x87", err)
	}
	if err := limited.Publish("fluxrelay/till/T2", []byte(`{"transactionRef":"R-2","amount":5}`), 5*time.Second); err != nil {
		t.Errorf("a user limited to till could not publish for it: %v", err)
	}
	if _, err := mqttwire.DialV5(addr, "till-2-b", "till-2", "pw-1", 5*time.Second); err == nil {
		t.Error("a wrong password was accepted against a bcrypt hash")
	}

	v3, err := mqttwire.Dial(addr, "till-1-v3", "till-1", "pw-1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer v3.Close()
	if err := v3.Publish("elsewhere/x", []byte(body), 5*time.Second); err != nil {
		t.Errorf("MQTT 3.1.1, a bad topic: %v; want a plain PUBACK", err)
	}
	if err := v3.Publish("fluxrelay/till/T3", []byte(`{"transactionRef":"R-3","amount":5}`), 5*time.Second); err != nil {
		t.Errorf("MQTT 3.1.1, after a bad topic the connection is unusable: %v", err)
	}

	waitStored(t, s.Memory, 3)
	if got := len(in.Stats.Rejections()); got != 7 {
		t.Errorf("%d rejections remembered; want 7", got)
	}
	if strings.Contains(logs.String(), marker) {
		t.Errorf("a payload reached the log:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "mochi mqtt starting") {
		t.Error("the broker's start-up chatter is logged at info")
	}
}

// TestMosquittoPubSeesTheReason: a stock MQTT 5 client is told why its
// publish was refused.
func TestMosquittoPubSeesTheReason(t *testing.T) {
	pub := mosquittotest.NeedTool(t, "mosquitto_pub")
	in := newIntake(newSink())
	var logs syncBuffer
	addr, _ := startBrokerWith(t, in, "127.0.0.1:0", []User{{Username: "till-1", Password: "pw-1"}},
		slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command(pub, "-h", host, "-p", port, "-u", "till-1", "-P", "pw-1", "-V", "mqttv5", "-q", "1",
		"-t", "fluxrelay/till/T1", "-m", "not json").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Payload format invalid") {
		t.Errorf("mosquitto_pub: %v\n%s", err, out)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a refused publish is logged as an error:\n%s", logs.String())
	}
}

// TestBrokerLogKeepsPayloadsOut: the embedded broker logs a packet it could
// not process ("pk", the whole packet); what reaches the log is its type and
// topic, never its payload.
func TestBrokerLogKeepsPayloadsOut(t *testing.T) {
	var logs syncBuffer
	log := slog.New(quietHandler{slog.NewJSONHandler(&logs, nil)})
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "fluxrelay/till/T1", Payload: []byte("CUSTOMER-PAYLOAD")}
	log.Warn("error processing packet", "error", "x", "pk", pk)
	log.Warn("error processing packet", "pk", &pk)
	log.Info("mochi mqtt starting")
	out := logs.String()
	if strings.Contains(out, "CUSTOMER-PAYLOAD") || strings.Count(out, `"topic":"fluxrelay/till/T1"`) != 2 || !strings.Contains(out, `"packet":"Publish"`) {
		t.Errorf("the log:\n%s", out)
	}
	if strings.Contains(out, "starting") {
		t.Error("info from the broker is not lowered to debug")
	}
}

type syncBuffer = syncbuf.Buffer

// TestBadPayloadsAckedNotStored: payloads that fail verification are
// acknowledged (so the terminal does not resend them forever), counted and
// never stored; the broker keeps working.
func TestBadPayloadsAckedNotStored(t *testing.T) {
	s := newSink()
	in := newIntake(s)
	addr, _ := startBroker(t, in, "127.0.0.1:0")
	term := publisher(t, addr, "till-1-c", "till-1", "pw-1")
	body := `{"transactionRef":"S-1","amount":5}`
	for _, c := range []struct{ topic, payload string }{
		{"fluxrelay/till/T1", `not json`},
		{"fluxrelay/till/T1", `{"amount":5}`},
		{"fluxrelay/nosuch/T1", body},
		{"fluxrelay/signed/T1", body}, // unsigned
		{"fluxrelay/signed/T1", `{"headers":{"Signature":"` + notification.Sign("wrong", []byte(body)) + `"},"body":` + fmt.Sprintf("%q", body) + `}`},
	} {
		if tok := term.Publish(c.topic, 1, false, c.payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("%s %s was not acknowledged: %v", c.topic, c.payload, tok.Error())
		}
	}
	good := `{"headers":{"Signature":"` + notification.Sign("till-secret", []byte(body)) + `"},"body":` + fmt.Sprintf("%q", body) + `}`
	if tok := term.Publish("fluxrelay/signed/T1", 1, false, good); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	waitStored(t, s.Memory, 1)
	if n := in.Stats.Source("till").Rejected.Load() + in.Stats.Source("signed").Rejected.Load(); n != 4 {
		t.Errorf("rejected = %d; want 4", n)
	}
	if len(in.Stats.Rejections()) != 5 {
		t.Errorf("%d rejections remembered; want 5 (the unknown source too)", len(in.Stats.Rejections()))
	}
}

// subscriber runs a Subscriber until it has subscribed; stop (also run at
// cleanup) ends it and waits.
func subscriber(t *testing.T, m *mosquittotest.Broker, in *ingest.Intake, id string) func() {
	t.Helper()
	up := make(chan struct{}, 1)
	sub := NewSubscriber(in, SubscriberOptions{Broker: m.URL(), ClientID: id, TopicPrefix: "fluxrelay",
		ReconnectMax: 300 * time.Millisecond, BounceWait: 200 * time.Millisecond,
		OnState: func(ok bool, _ error) {
			if ok {
				select {
				case up <- struct{}{}:
				default:
				}
			}
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	select {
	case <-up:
	case <-time.After(15 * time.Second):
		t.Fatal("the subscriber did not subscribe")
	}
	return stop
}

// TestExternalSessionSurvivesDowntime: what terminals publish while
// fluxrelay is down is delivered when it comes back (persistent session).
func TestExternalSessionSurvivesDowntime(t *testing.T) {
	m := mosquittotest.Start(t)
	s := newSink()
	stop := subscriber(t, m, newIntake(s), "gw-1")
	stop()
	term := publisher(t, m.Addr, "term-1", "", "")
	for i := range 50 {
		if tok := term.Publish("fluxrelay/till/T1", 1, false, fmt.Sprintf(`{"transactionRef":"D-%d","amount":1}`, i)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	subscriber(t, m, newIntake(s), "gw-1")
	waitStored(t, s.Memory, 50)
}

// TestExternalBrokerRestart restarts mosquitto while fluxrelay still has a
// backlog of its messages in flight: every message mosquitto acknowledged
// to the terminal is stored, none twice.
func TestExternalBrokerRestart(t *testing.T) {
	m := mosquittotest.Start(t)
	s := newSink()
	s.delay = 10 * time.Millisecond // a slow disk: a backlog builds up
	subscriber(t, m, newIntake(s), "gw-2")
	term := publisher(t, m.Addr, "term-2", "", "")
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			// each awaited on a connection that stays up: a real PUBACK
			tok := term.Publish("fluxrelay/till/T1", 1, false, fmt.Sprintf(`{"transactionRef":"R-%d","amount":1}`, i))
			if done, err := completed(t, tok, 10*time.Second); !done || err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
		}
	}
	publish(0, 150)
	if s.Stats().Pending >= 150 {
		t.Fatal("the backlog drained before the restart; the test proves nothing")
	}
	before := s.Stats().Pending
	m.Restart()
	for deadline := time.Now().Add(10 * time.Second); !term.IsConnectionOpen(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the terminal did not reconnect")
		}
	}
	publish(150, 300)
	waitStored(t, s.Memory, 300)
	t.Logf("mosquitto restarted with %d of 150 stored: all 300 stored in the end, after %d store attempts", before, s.calls.Load())
}

// TestExternalRedeliversUnacked: messages the store refused are not
// acknowledged; the broker sends them again and they are stored.
func TestExternalRedeliversUnacked(t *testing.T) {
	m := mosquittotest.Start(t)
	s := newSink()
	s.refuse.Store(5)
	subscriber(t, m, newIntake(s), "gw-3")
	term := publisher(t, m.Addr, "term-3", "", "")
	for i := range 10 {
		term.Publish("fluxrelay/till/T1", 1, false, fmt.Sprintf(`{"transactionRef":"U-%d","amount":1}`, i)).WaitTimeout(5 * time.Second)
	}
	waitStored(t, s.Memory, 10)
	if n := s.calls.Load(); n < 15 {
		t.Errorf("%d store attempts; want at least 15 (5 refused, then 10 stored)", n)
	}
}

// TestSharedGroupSplitsTheLoad: two gateways in one shared group split the
// terminals' messages between them, and together store every one.
func TestSharedGroupSplitsTheLoad(t *testing.T) {
	m := mosquittotest.Start(t)
	a, b := newSink(), newSink()
	for _, gw := range []struct {
		id string
		s  *sink
	}{{"gw-a", a}, {"gw-b", b}} {
		up := make(chan struct{}, 1)
		sub := NewSubscriber(newIntake(gw.s), SubscriberOptions{Broker: m.URL(), ClientID: gw.id, TopicPrefix: "fluxrelay", SharedGroup: "shop",
			OnState: func(ok bool, _ error) {
				if ok {
					select {
					case up <- struct{}{}:
					default:
					}
				}
			}})
		if sub.Filter() != "$share/shop/fluxrelay/+/+" {
			t.Fatalf("filter %s", sub.Filter())
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- sub.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		<-up
	}
	term := publisher(t, m.Addr, "term-s", "", "")
	for i := range 200 {
		if done, err := completed(t, term.Publish("fluxrelay/till/T1", 1, false, fmt.Sprintf(`{"transactionRef":"S-%d","amount":1}`, i)), 10*time.Second); !done || err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for a.Stats().Pending+b.Stats().Pending < 200 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	na, nb := a.Stats().Pending, b.Stats().Pending
	if na+nb != 200 || na == 0 || nb == 0 {
		t.Errorf("gateway A stored %d, B %d; want 200 in all, split between them", na, nb)
	}
}

// TestExternalBadPayloadsDoNotStopTheSubscriber: refused payloads are acked
// and counted; the next good one is stored.
func TestExternalBadPayloadsDoNotStopTheSubscriber(t *testing.T) {
	m := mosquittotest.Start(t)
	s := newSink()
	in := newIntake(s)
	subscriber(t, m, in, "gw-bad")
	term := publisher(t, m.Addr, "term-bad", "", "")
	for _, p := range []string{"garbage", `{"amount":1}`, `{"transactionRef":"B-1","amount":"-5"}`, "", `{"transactionRef":"B-2","amount":"5.00"}`} {
		term.Publish("fluxrelay/till/T1", 1, false, p).Wait()
	}
	waitStored(t, s.Memory, 1)
	for deadline := time.Now().Add(20 * time.Second); in.Stats.Source("till").Rejected.Load() < 4; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			break
		}
	}
	if n := in.Stats.Source("till").Rejected.Load(); n != 4 {
		t.Errorf("rejected %d; want 4", n)
	}
	if _, err := s.Get(notification.NewID("till", "core", "t", "B-2")); err != nil {
		t.Errorf("the good payload after the bad ones was not stored: %v", err)
	}
}

// panicky is a provider whose parser panics on anything.
type panicky struct{}

func (panicky) Verify(*provider.Request) error { return nil }
func (panicky) Verification() string           { return "none" }

func (panicky) Parse(*provider.Request) (*provider.Parsed, error) {
	var list []map[string]string
	_ = list[0]["payer"] // the bug that once took the whole daemon down
	return nil, nil
}

// TestParserPanicOverMQTT: a message a provider's parser panics on is
// acknowledged and counted as rejected; the broker, and with it the daemon,
// goes on taking notifications.
func TestParserPanicOverMQTT(t *testing.T) {
	s := newSink()
	in := newIntake(s)
	in.SetSources([]*ingest.Source{
		{Name: "till", Provider: "core", Verifier: &provider.Core{Tenant: "t"}},
		{Name: "boom", Provider: "monnify", Verifier: panicky{}},
	})
	addr, _ := startBroker(t, in, "127.0.0.1:0")
	c := publisher(t, addr, "till-1", "till-1", "pw-1")
	if done, err := completed(t, c.Publish("fluxrelay/boom/T1", 1, false, `{"eventType":"SUCCESSFUL_TRANSACTION"}`), 10*time.Second); !done || err != nil {
		t.Fatalf("the message that panicked was not acknowledged: %v", err)
	}
	if done, err := completed(t, c.Publish("fluxrelay/till/T1", 1, false, `{"transactionRef":"after-panic","amount":"10.00"}`), 10*time.Second); !done || err != nil {
		t.Fatalf("the broker stopped taking notifications after a parser panic: %v", err)
	}
	waitStored(t, s.Memory, 1)
	if p, rj := in.Stats.Source("boom").Panics.Load(), in.Stats.Source("boom").Rejected.Load(); p != 1 || rj != 1 {
		t.Errorf("panics %d, rejected %d; want 1 and 1", p, rj)
	}
}
