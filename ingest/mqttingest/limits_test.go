package mqttingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/internal/mqttwire"
	"github.com/fluxrelay/fluxrelay/notification"
)

var tills = []User{{Username: "till-1", Password: "pw-1"}, {Username: "till-2", Password: "pw-2"}}

// closedWithin says whether the broker closes c within d: a read ends with
// EOF or a reset, not with the test's own deadline.
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// TestPacketSizeLimit: a body over http.max_body is answered 0x95 and not
// stored; a packet declared larger than the broker's maximum (200 MB, as
// the attack that took 1 GB did) ends the connection before anything is
// read; and the broker goes on taking notifications.
func TestPacketSizeLimit(t *testing.T) {
	s := newSink()
	in := newIntake(s)
	in.SetLimits(ingest.Limits{MaxBody: 4 << 10, DedupWindow: time.Hour})
	addr, _, b := runBroker(t, in, tills, BrokerOptions{Listen: "127.0.0.1:0"})
	if b.MaxPacket() != 4<<10+PacketRoom {
		t.Errorf("MaxPacket = %d", b.MaxPacket())
	}
	v5, err := mqttwire.DialV5(addr, "till-1", "till-1", "pw-1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer v5.Close()
	big := `{"transactionRef":"BIG","amount":1,"pad":"` + strings.Repeat("p", 5<<10) + `"}`
	var refused *mqttwire.Refused
	if err := v5.Publish("fluxrelay/till/T1", []byte(big), 5*time.Second); !errors.As(err, &refused) || refused.Code != 0x95 {
		t.Errorf("a body over max_body: %v; want 0x95", err)
	}
	huge, err := mqttwire.DialV5(addr, "till-1-h", "till-1", "pw-1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	huge.Raw().Write(mqttwire.Header(0x32, 200<<20))
	if !closedWithin(huge.Raw(), 10*time.Second) {
		t.Error("a packet declared at 200 MB did not end the connection")
	}
	if err := v5.Publish("fluxrelay/till/T1", []byte(`{"transactionRef":"OK","amount":1}`), 5*time.Second); err != nil {
		t.Errorf("after the refusals: %v", err)
	}
	if s.Stats().Pending != 1 {
		t.Errorf("%d stored; want 1", s.Stats().Pending)
	}
}

// TestConnectLimits: a connection that sends no CONNECT, or only part of
// one, is closed after ConnectWithin; one whose first packet is not a
// CONNECT, or a CONNECT declared larger than MaxConnect, at once.
func TestConnectLimits(t *testing.T) {
	addr, _, _ := runBroker(t, newIntake(newSink()), tills, BrokerOptions{Listen: "127.0.0.1:0", ConnectWithin: 300 * time.Millisecond})
	for _, c := range []struct {
		name  string
		sends []byte
	}{
		{"nothing", nil},
		{"half a CONNECT", mqttwire.Connect(mqttwire.Options{ClientID: "till-1", User: "till-1", Pass: "pw-1"})[:9]},
		{"a PUBLISH first", mqttwire.Header(0x32, 10)},
		{"a CONNECT declared at 1 MB", mqttwire.Header(0x10, 1<<20)},
		{"a length of five bytes", []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f}},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.Write(c.sends)
		if !closedWithin(conn, 10*time.Second) {
			t.Errorf("%s: still open after 10 s", c.name)
		}
		conn.Close()
	}
	if _, err := mqttwire.Dial(addr, "till-1", "till-1", "pw-1", 5*time.Second); err != nil {
		t.Errorf("a terminal that logs in at once: %v", err)
	}
}

// TestConnectionCaps: one address holds at most MaxConnsPerAddr
// connections, the broker MaxConns.
func TestConnectionCaps(t *testing.T) {
	addr, _, b := runBroker(t, newIntake(newSink()), tills, BrokerOptions{Listen: "127.0.0.1:0", MaxConnsPerAddr: 3, MaxConns: 5})
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	dial := func(from string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		return c
	}
	for range 3 {
		dial("127.0.0.1")
	}
	if !closedWithin(dial("127.0.0.1"), 10*time.Second) {
		t.Error("a fourth connection from one address was kept")
	}
	dial("127.0.0.2")
	dial("127.0.0.2")
	if !closedWithin(dial("127.0.0.3"), 10*time.Second) {
		t.Error("a sixth connection in all was kept")
	}
	if n := b.Conns(); n != 5 {
		t.Errorf("the broker holds %d connections; want 5", n)
	}
}

// TestClientIDBoundToUsername: till-2 cannot use till-1's client id (it
// would take over till-1's session and drop its connection); each login
// may use its name or its name and a dash.
func TestClientIDBoundToUsername(t *testing.T) {
	addr, _, _ := runBroker(t, newIntake(newSink()), tills, BrokerOptions{Listen: "127.0.0.1:0"})
	one, err := mqttwire.DialV5(addr, "till-1", "till-1", "pw-1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	for _, c := range []struct {
		id   string
		v5   bool
		code byte
	}{{"till-1", true, 0x85}, {"till-1", false, 0x02}, {"till-10", true, 0x85}, {"till-1-x", true, 0x85}, {"x", false, 0x02}} {
		_, err := mqttwire.DialWith(addr, mqttwire.Options{ClientID: c.id, User: "till-2", Pass: "pw-2", V5: c.v5}, 5*time.Second)
		var refused *mqttwire.ConnectRefused
		if !errors.As(err, &refused) || refused.Code != c.code {
			t.Errorf("till-2 as %q (v5 %v): %v; want CONNACK %#x", c.id, c.v5, err, c.code)
		}
	}
	if err := one.Publish("fluxrelay/till/T1", []byte(`{"transactionRef":"STILL-UP","amount":1}`), 5*time.Second); err != nil {
		t.Errorf("till-1 lost its connection to till-2's tries: %v", err)
	}
	for _, id := range []string{"till-2", "till-2-a", "till-2-till-1", ""} {
		c, err := mqttwire.Dial(addr, id, "till-2", "pw-2", 5*time.Second)
		if err != nil {
			t.Errorf("till-2 as %q: %v", id, err)
			continue
		}
		c.Close()
	}
}

// TestEveryLoginCostsOneComparison: a login takes one bcrypt comparison
// whether the user is unknown, has a password in clear or a hash, and
// whether it is right: its time tells nothing. The comparison for users
// without a hash is against one at the configured users' highest cost.
func TestEveryLoginCostsOneComparison(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw-h"), bcrypt.MinCost+1)
	l := newLogins()
	l.set([]User{{Username: "plain", Password: "pw-p"}})
	if c, err := bcrypt.Cost(l.dummy); err != nil || c != bcrypt.MinCost {
		t.Errorf("with no hash configured, the dummy hash's cost is %d (%v); want the cheapest, %d", c, err, bcrypt.MinCost)
	}
	l.set([]User{{Username: "plain", Password: "pw-p"}, {Username: "hashed", PasswordHash: string(hash)}})
	if c, err := bcrypt.Cost(l.dummy); err != nil || c != bcrypt.MinCost+1 {
		t.Errorf("the dummy hash's cost is %d (%v); want the hash's, %d", c, err, bcrypt.MinCost+1)
	}
	var calls int
	real := l.compare
	l.compare = func(h, p []byte) error { calls++; return real(h, p) }
	for _, c := range []struct {
		user, pass string
		ok         bool
	}{{"nobody", "x", false}, {"plain", "x", false}, {"plain", "pw-p", true}, {"hashed", "x", false}, {"hashed", "pw-h", true}} {
		calls = 0
		if _, ok := l.check(c.user, []byte(c.pass)); ok != c.ok || calls != 1 {
			t.Errorf("%s/%s: ok %v after %d comparisons; want %v after 1", c.user, c.pass, ok, calls, c.ok)
		}
	}
	strong, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost+2)
	l.set([]User{{Username: "strong", PasswordHash: string(strong)}})
	if c, _ := bcrypt.Cost(l.dummy); c != bcrypt.MinCost+2 {
		t.Errorf("the dummy hash's cost is %d; want the users' highest, %d", c, bcrypt.MinCost+2)
	}
}

// TestFailedLoginsPerAddress: five failures from one address, then one
// more every 12 s; other addresses are not held back.
func TestFailedLoginsPerAddress(t *testing.T) {
	l := newLogins()
	a, b := netip.MustParseAddr("192.168.1.50"), netip.MustParseAddr("192.168.1.51")
	t0 := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	for i := range failBurst {
		if l.blocked(a, t0) {
			t.Fatalf("blocked after %d failures", i)
		}
		l.fail(a, t0)
	}
	if !l.blocked(a, t0) || l.blocked(b, t0) {
		t.Fatalf("after %d failures: blocked %v, the other address %v; want true and false", failBurst, l.blocked(a, t0), l.blocked(b, t0))
	}
	if l.blocked(a, t0.Add(failEvery)) != false {
		t.Error("no second chance after failEvery")
	}
	l.fail(a, t0.Add(failEvery))
	if !l.blocked(a, t0.Add(failEvery+time.Second)) {
		t.Error("a failure in the second chance did not block again")
	}
}

// TestLoginFloodIsRefusedOverTheWire: after five wrong passwords from an
// address, even the right one is refused from it for a while.
func TestLoginFloodIsRefusedOverTheWire(t *testing.T) {
	addr, _, _ := runBroker(t, newIntake(newSink()), tills, BrokerOptions{Listen: "127.0.0.1:0"})
	for range failBurst {
		if _, err := mqttwire.Dial(addr, "till-1", "till-1", "wrong", 5*time.Second); err == nil {
			t.Fatal("a wrong password was taken")
		}
	}
	if _, err := mqttwire.Dial(addr, "till-1", "till-1", "pw-1", 5*time.Second); err == nil {
		t.Error("the right password was taken right after five failures from the same address")
	}
}

// TestSessionsAreBounded: a login that makes many persistent sessions under
// client ids of its own keeps MaxSessionsPerUser of them; v5 session
// expiry and the 3.1.1 sessions are capped at SessionExpiry.
func TestSessionsAreBounded(t *testing.T) {
	addr, _, b := runBroker(t, newIntake(newSink()), tills, BrokerOptions{Listen: "127.0.0.1:0", SessionExpiry: 30 * time.Minute})
	if c := b.capabilities(); c.MaximumSessionExpiryInterval != 1800 || c.TopicAliasMaximum != 0 || c.MaximumPacketSize == 0 {
		t.Errorf("capabilities %+v", c)
	}
	for i := range 40 {
		c, err := mqttwire.DialWith(addr, mqttwire.Options{ClientID: fmt.Sprintf("till-1-%d", i), User: "till-1", Pass: "pw-1", Persistent: true, V5: i%2 == 0, SessionExpiry: 1 << 30}, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		want := min(i+1, MaxSessionsPerUser)
		for deadline := time.Now().Add(10 * time.Second); sessions(b, "till-1") != want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after %d sessions, %d kept; want %d", i+1, sessions(b, "till-1"), want)
			}
		}
	}
	// The newest are kept, though all were left within a second or two.
	for _, c := range b.srv.Load().Clients.GetAll() {
		var n int
		if _, err := fmt.Sscanf(c.ID, "till-1-%d", &n); err == nil && n < 40-MaxSessionsPerUser {
			t.Errorf("session %s kept; want the %d newest", c.ID, MaxSessionsPerUser)
		}
	}
}

func sessions(b *Broker, user string) int {
	n := 0
	for _, c := range b.srv.Load().Clients.GetAll() {
		if string(c.Properties.Username) == user {
			n++
		}
	}
	return n
}

// flakyListener fails Accept with the given errors, then hands out conns.
type flakyListener struct {
	net.Listener
	mu    sync.Mutex
	fails []error
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.fails) > 0 {
		err := l.fails[0]
		l.fails = l.fails[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// TestAcceptSurvivesRunningOutOfFiles: Accept failing with EMFILE or ENFILE
// is retried, not passed to mochi (whose accept loop would end for good);
// the state says so while it lasts and is told when it works again.
func TestAcceptSurvivesRunningOutOfFiles(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: inner, fails: []error{
		&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EMFILE)},
		&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.ENFILE)},
		&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EMFILE)},
	}}
	var mu sync.Mutex
	var states []string
	g := newGuard(fl, 8, 8, time.Minute, slog.New(slog.DiscardHandler), func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			states = append(states, "ok")
			return
		}
		states = append(states, err.Error())
	})
	defer g.Close()
	go func() {
		if c, err := net.Dial("tcp", inner.Addr().String()); err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
	c, err := g.Accept()
	if err != nil {
		t.Fatalf("Accept returned %v; want it to retry until a connection comes", err)
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(states) != 2 || !strings.Contains(states[0], "too many open files") || states[1] != "ok" {
		t.Errorf("states %q; want one saying too many open files, then ok", states)
	}
	g.Close()
	if _, err := g.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v; want net.ErrClosed", err)
	}
}

// TestEnvelopeHeadersAreChecked: a header with a line break in an MQTT
// envelope (the one that made every delivery of a raw source fail) is
// answered 0x99 and not stored; so is an envelope that names a key twice.
func TestEnvelopeHeadersAreChecked(t *testing.T) {
	s := newSink()
	in := newIntake(s)
	addr, _, _ := runBroker(t, in, tills, BrokerOptions{Listen: "127.0.0.1:0"})
	v5, err := mqttwire.DialV5(addr, "till-1", "till-1", "pw-1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer v5.Close()
	body := `{"transactionRef":"E-1","amount":5}`
	sig := notification.Sign("till-secret", []byte(body))
	env := func(headers map[string]string) []byte {
		headers["Signature"] = sig
		b, _ := json.Marshal(map[string]any{"headers": headers, "body": body})
		return b
	}
	for name, payload := range map[string][]byte{
		"a line break in a value":  env(map[string]string{"X-Note": "a\r\nX-Evil: 1"}),
		"a NUL in a value":         env(map[string]string{"X-Note": "a\x00b"}),
		"a space in a name":        env(map[string]string{"X Note": "a"}),
		"a header named twice":     []byte(`{"headers":{"Signature":"` + sig + `","signature":"x"},"body":` + fmt.Sprintf("%q", body) + `}`),
		"the body given twice":     []byte(`{"headers":{"Signature":"` + sig + `"},"body":` + fmt.Sprintf("%q", body) + `,"body":"{}"}`),
		"a body that is an object": []byte(`{"headers":{"Signature":"` + sig + `"},"body":` + body + `}`),
	} {
		var refused *mqttwire.Refused
		if err := v5.Publish("fluxrelay/signed/T1", payload, 5*time.Second); !errors.As(err, &refused) || refused.Code != 0x99 {
			t.Errorf("%s: %v; want 0x99", name, err)
		}
	}
	if err := v5.Publish("fluxrelay/signed/T1", env(map[string]string{"X-Note": "fine\there"}), 5*time.Second); err != nil {
		t.Errorf("a good envelope: %v", err)
	}
	if s.Stats().Pending != 1 {
		t.Errorf("%d stored; want the good one only", s.Stats().Pending)
	}
}

// TestCountersAddUpOverMQTT: over MQTT too, received = queued + duplicates
// + ignored + held + rejected for each source.
func TestCountersAddUpOverMQTT(t *testing.T) {
	s := newSink()
	in := newIntake(s)
	in.SetLimits(ingest.Limits{MaxBody: 1 << 10, DedupWindow: time.Hour})
	addr, _, _ := runBroker(t, in, []User{{Username: "till-1", Password: "pw-1"}, {Username: "till-2", Password: "pw-2", Sources: []string{"signed"}}}, BrokerOptions{Listen: "127.0.0.1:0"})
	one, err := mqttwire.DialV5(addr, "till-1", "till-1", "pw-1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	two, err := mqttwire.DialV5(addr, "till-2", "till-2", "pw-2", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	for _, p := range []string{`{"transactionRef":"C-1","amount":1}`, `{"transactionRef":"C-1","amount":1}`, `{"transactionRef":"C-1","amount":2}`,
		`nope`, `{"headers":{"A":1},"body":"{}"}`, `{"transactionRef":"C-2","amount":1,"pad":"` + strings.Repeat("x", 2<<10) + `"}`} {
		one.Publish("fluxrelay/till/T1", []byte(p), 5*time.Second)
	}
	two.Publish("fluxrelay/till/T2", []byte(`{"transactionRef":"C-3","amount":1}`), 5*time.Second) // not this login's source
	one.Publish("fluxrelay/signed/T1", []byte(`{"transactionRef":"C-4","amount":1}`), 5*time.Second)
	for _, name := range []string{"till", "signed"} {
		c := in.Stats.Source(name)
		if sum := c.Queued.Load() + c.Duplicates.Load() + c.Ignored.Load() + c.Held.Load() + c.Rejected.Load(); c.Received.Load() != sum {
			t.Errorf("%s: received %d, outcomes %d", name, c.Received.Load(), sum)
		}
	}
	if c := in.Stats.Source("till"); c.Received.Load() != 7 || c.Queued.Load() != 1 || c.Duplicates.Load() != 1 || c.Rejected.Load() != 5 {
		t.Errorf("till: received %d, queued %d, duplicates %d, rejected %d; want 7, 1, 1, 5", c.Received.Load(), c.Queued.Load(), c.Duplicates.Load(), c.Rejected.Load())
	}
}

func FuzzEnvelope(f *testing.F) {
	f.Add([]byte(`{"headers":{"monnify-signature":"ab"},"body":"{\"a\":1}"}`))
	f.Add([]byte(`{"headers":{"A":"1","a":"2"},"body":"x"}`))
	f.Add([]byte(`{"body":"x","body":"y"}`))
	f.Add([]byte(`{"headers":null,"body":""}`))
	f.Add([]byte(`{"transactionRef":"R","amount":1}`))
	f.Add([]byte(`{"headers":{"X":"a\r\nb"},"body":"{}"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		body, header, err := Decode(payload)
		if err != nil {
			var le *ingest.LimitError
			if !errors.As(err, &le) && !strings.Contains(err.Error(), "envelope") {
				t.Fatalf("an envelope refused without saying so: %v", err)
			}
			return
		}
		if header == nil {
			t.Fatal("nil headers")
		}
		if string(body) != string(payload) {
			var env struct{ Body *string }
			if json.Unmarshal(payload, &env) != nil || env.Body == nil || *env.Body != string(body) {
				t.Fatalf("the body %q is neither the payload nor its envelope's body", body)
			}
		} else if len(header) != 0 {
			t.Fatal("headers without an envelope")
		}
		for name, vals := range header {
			if len(vals) != 1 || name != http.CanonicalHeaderKey(name) {
				t.Fatalf("header %q: %q", name, vals)
			}
		}
		if ingest.CheckHeaders(header) == nil {
			for name := range header {
				if strings.ContainsAny(header.Get(name), "\r\n") {
					t.Fatalf("a line break in %q passed the header check", name)
				}
			}
		}
	})
}
