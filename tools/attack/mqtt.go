package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fluxrelay/fluxrelay/internal/mqttwire"
)

// connack is what a broker answered a CONNECT.
type connack struct {
	code           byte
	sessionPresent bool
	// expiry is the session expiry the broker set in its answer (MQTT 5),
	// or -1 when it set none (it took the client's).
	expiry int64
}

// login connects from the local address from (empty: any) and returns the
// CONNACK and the connection, open when the login was taken.
func login(addr, from string, o mqttwire.Options) (connack, net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return connack{}, nil, err
	}
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := c.Write(mqttwire.Connect(o)); err != nil {
		c.Close()
		return connack{}, nil, err
	}
	typ, body, err := readPacket(bufio.NewReader(c))
	if err != nil || typ != 0x20 || len(body) < 2 {
		c.Close()
		return connack{}, nil, fmt.Errorf("no CONNACK (%v)", err)
	}
	a := connack{code: body[1], sessionPresent: body[0]&1 == 1, expiry: -1}
	if o.V5 && len(body) > 2 {
		a.expiry = sessionExpiry(body[2:])
	}
	if a.code != 0 {
		c.Close()
		return a, nil, nil
	}
	c.SetDeadline(time.Time{})
	return a, c, nil
}

// sessionExpiry finds the session expiry property (0x11) in a CONNACK's
// properties, or -1.
func sessionExpiry(props []byte) int64 {
	n, k := binary.Uvarint(props)
	if k <= 0 || int(n) > len(props)-k {
		return -1
	}
	p := props[k : k+int(n)]
	fixed := map[byte]int{0x11: 4, 0x13: 2, 0x21: 2, 0x22: 2, 0x24: 1, 0x25: 1, 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1}
	for len(p) > 0 {
		id := p[0]
		p = p[1:]
		switch size, ok := fixed[id]; {
		case ok && len(p) >= size:
			if id == 0x11 {
				return int64(binary.BigEndian.Uint32(p))
			}
			p = p[size:]
		case id == 0x12 || id == 0x1F || id == 0x1A || id == 0x1C:
			if len(p) < 2 || len(p) < 2+int(binary.BigEndian.Uint16(p)) {
				return -1
			}
			p = p[2+int(binary.BigEndian.Uint16(p)):]
		default:
			return -1
		}
	}
	return -1
}

func readPacket(r *bufio.Reader) (byte, []byte, error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > 1<<20 {
		return 0, nil, errors.New("bad remaining length")
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r, body)
	return h & 0xf0, body, err
}

// closedWithin says whether the daemon closes c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

func pubCode(err error) string {
	var r *mqttwire.Refused
	switch {
	case err == nil:
		return "PUBACK 0x00"
	case errors.As(err, &r):
		return fmt.Sprintf("PUBACK %#x", r.Code)
	}
	return "no PUBACK (" + shortErr(err) + ")"
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s) > 60 {
		s = s[i+2:]
	}
	return s
}

// mqttRows are the attacks on the embedded broker (item 1, 2 and 5).
func mqttRows() []row {
	return []row{
		{"1", "declare 200 MB PUBLISHes on 2 logged-in connections and send 100 MB into each", "connection closed at the header; RssAnon stays under 150 MB", hugePackets},
		{"1", "open 20 connections that never send CONNECT", "all closed within 12 s", idleConnections},
		{"1", "till-2 logs in with till-1's client id while till-1 is connected", "till-2 refused (0x85); till-1 keeps its connection", takeOver},
		{"1", "one login opens 12 persistent sessions asking never to expire, then resumes the first", "expiry capped (1 h); at most 8 sessions kept: the first is gone", sessions},
		{"1", "failed logins: a username that exists vs one that does not (bcrypt user)", "the same time (within 2x)", loginTiming},
		{"1", "30 wrong passwords from one address, then the right one", "refused for a while after 5 failures", loginFlood},
		{"1", "20 connections from one address", "8 kept, the rest closed at once", connectionCap},
		{"4", "publish 40 MB as one notification", "not acknowledged as stored (packet too large)", fortyMegabytes},
		{"5", "an envelope header with CR/LF on a raw-forward source", "PUBACK 0x99, nothing stored", crlfHeader},
	}
}

func hugePackets(e *env) (string, bool) {
	var conns []*mqttwire.Conn
	for i := range 2 {
		c, err := mqttwire.DialV5(e.mqttAddr, fmt.Sprintf("till-2-huge%d", i), "till-2", till2Pass, 10*time.Second)
		if err != nil {
			return "login: " + err.Error(), false
		}
		defer c.Close()
		conns = append(conns, c)
	}
	chunk := make([]byte, 1<<20)
	sent := 0
	for _, c := range conns {
		raw := c.Raw()
		raw.SetWriteDeadline(time.Now().Add(10 * time.Second))
		raw.Write(mqttwire.Header(0x32, 200<<20))
		for range 100 {
			if _, err := raw.Write(chunk); err != nil {
				break
			}
			sent++
		}
	}
	time.Sleep(500 * time.Millisecond)
	rss := e.rss()
	return fmt.Sprintf("%d MB sent before the daemon closed; RssAnon %d MB", sent, rss>>10), sent < 200 && rss < 150<<10
}

func idleConnections(e *env) (string, bool) {
	var conns []net.Conn
	for range 20 {
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.30")}}).Dial("tcp", e.mqttAddr)
		if err != nil {
			return err.Error(), false
		}
		defer c.Close()
		conns = append(conns, c)
	}
	deadline := time.Now().Add(12 * time.Second)
	open := 0
	for _, c := range conns {
		if !closedWithin(c, time.Until(deadline)) {
			open++
		}
	}
	return fmt.Sprintf("%d of 20 still open after 12 s", open), open == 0
}

func takeOver(e *env) (string, bool) {
	one, err := mqttwire.DialV5(e.mqttAddr, "till-1", "till-1", till1Pass, 10*time.Second)
	if err != nil {
		return "till-1: " + err.Error(), false
	}
	defer one.Close()
	a, c, err := login(e.mqttAddr, "", mqttwire.Options{ClientID: "till-1", User: "till-2", Pass: till2Pass, V5: true})
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		return err.Error(), false
	}
	perr := one.Publish("fluxrelay/till/T1", []byte(`{"transactionRef":"TAKEOVER-1","amount":"10.00"}`), 10*time.Second)
	return fmt.Sprintf("till-2 got CONNACK %#x; till-1 then: %s", a.code, pubCode(perr)), a.code == 0x85 && perr == nil
}

func sessions(e *env) (string, bool) {
	o := mqttwire.Options{User: "till-2", Pass: till2Pass, V5: true, Persistent: true, SessionExpiry: 0xFFFFFFFF}
	var first connack
	for i := range 12 {
		o.ClientID = fmt.Sprintf("till-2-s%d", i)
		a, c, err := login(e.mqttAddr, "", o)
		if err != nil || c == nil {
			return fmt.Sprintf("session %d: %v (code %#x)", i, err, a.code), false
		}
		c.Write([]byte{0xe0, 0}) // DISCONNECT
		closedWithin(c, 5*time.Second)
		c.Close()
		if i == 0 {
			first = a
		}
	}
	o.ClientID = "till-2-s0"
	a, c, err := login(e.mqttAddr, "", o)
	if err != nil || c == nil {
		return fmt.Sprintf("resuming: %v", err), false
	}
	c.Close()
	expiry := "none (the client's: never)"
	if first.expiry >= 0 {
		expiry = (time.Duration(first.expiry) * time.Second).String()
	}
	return fmt.Sprintf("expiry granted %s; the first session present again: %v", expiry, a.sessionPresent),
		first.expiry >= 0 && first.expiry <= 3600 && !a.sessionPresent
}

func loginTiming(e *env) (string, bool) {
	measure := func(user string, from int) time.Duration {
		var ds []time.Duration
		for i := range 6 {
			t0 := time.Now()
			login(e.mqttAddr, fmt.Sprintf("127.0.%d.%d", from, i+1), mqttwire.Options{ClientID: user, User: user, Pass: "wrong-password"})
			ds = append(ds, time.Since(t0))
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	known, unknown := measure("till-1", 40), measure("nobody", 41)
	ratio := float64(max(known, unknown)) / float64(max(min(known, unknown), time.Microsecond))
	return fmt.Sprintf("median %s for till-1, %s for an unknown name (%.1fx)", known.Round(100*time.Microsecond), unknown.Round(100*time.Microsecond), ratio), ratio < 2
}

func loginFlood(e *env) (string, bool) {
	for range 30 {
		if _, c, _ := login(e.mqttAddr, "127.0.0.50", mqttwire.Options{ClientID: "till-1", User: "till-1", Pass: "wrong"}); c != nil {
			c.Close()
		}
	}
	a, c, err := login(e.mqttAddr, "127.0.0.50", mqttwire.Options{ClientID: "till-1", User: "till-1", Pass: till1Pass})
	if c != nil {
		c.Close()
	}
	if err != nil {
		return err.Error(), false
	}
	return fmt.Sprintf("the right password next: CONNACK %#x", a.code), a.code != 0
}

func connectionCap(e *env) (string, bool) {
	var conns []net.Conn
	for range 20 {
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.60")}}).Dial("tcp", e.mqttAddr)
		if err != nil {
			return err.Error(), false
		}
		defer c.Close()
		conns = append(conns, c)
	}
	open := 0
	for _, c := range conns {
		if !closedWithin(c, time.Second) {
			open++
		}
	}
	return fmt.Sprintf("%d of 20 kept", open), open <= 8
}

func fortyMegabytes(e *env) (string, bool) {
	c, err := mqttwire.DialV5(e.mqttAddr, "till-2-big", "till-2", till2Pass, 10*time.Second)
	if err != nil {
		return err.Error(), false
	}
	defer c.Close()
	body := `{"transactionRef":"BIG-40MB","amount":"1.00","pad":"` + strings.Repeat("p", 40<<20) + `"}`
	err = c.Publish("fluxrelay/till/T1", []byte(body), 30*time.Second)
	return pubCode(err), err != nil
}

func crlfHeader(e *env) (string, bool) {
	c, err := mqttwire.DialV5(e.mqttAddr, "till-2-raw", "till-2", till2Pass, 10*time.Second)
	if err != nil {
		return err.Error(), false
	}
	defer c.Close()
	body := `{"eventType":"SUCCESSFUL_TRANSACTION","eventData":{"transactionReference":"MNFY|CRLF|1","paymentReference":"P-CRLF","amountPaid":"500.00","paymentMethod":"CARD"}}`
	env, _ := json.Marshal(map[string]any{"body": body, "headers": map[string]string{
		"monnify-signature": macHex512(monnifySecret, body), "X-Note": "a\r\nX-Injected: 1"}})
	before, _ := e.status()
	err = c.Publish("fluxrelay/monnify-raw/POS1", env, 10*time.Second)
	after, _ := e.status()
	stored := after.Sources["monnify-raw"].Queued - before.Sources["monnify-raw"].Queued
	return fmt.Sprintf("%s; %d stored", pubCode(err), stored), pubCode(err) == "PUBACK 0x99" && stored == 0
}

// descriptorRows exhaust the daemon's file descriptors (item 2).
func descriptorRows(e *env) []result {
	pid := e.cmd.Process.Pid
	e.status() // the admin connection is open before the descriptors run out
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		return []result{{row: descRows[0], happened: "prlimit: " + err.Error()}, {row: descRows[1], happened: "not run"}}
	}
	low := unix.Rlimit{Cur: uint64(len(fds) + 30), Max: old.Max}
	unix.Prlimit(pid, unix.RLIMIT_NOFILE, &low, nil)
	var conns []net.Conn
	for a := range 8 {
		for range 7 {
			c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.0.%d", 70+a))}, Timeout: 2 * time.Second}).Dial("tcp", e.mqttAddr)
			if err == nil {
				conns = append(conns, c)
			}
		}
	}
	time.Sleep(time.Second)
	st, err := e.status()
	mq := st.Listeners["mqtt"]
	truth := result{row: descRows[0], happened: fmt.Sprintf("state %s; mqtt up %v (%s)", st.State, mq.Up, mq.Error)}
	if err != nil {
		truth.happened = "status: " + err.Error()
	}
	truth.ok = err == nil && !mq.Up && strings.Contains(mq.Error, "too many open files") && st.State == "action_needed"
	for _, c := range conns {
		c.Close()
	}
	unix.Prlimit(pid, unix.RLIMIT_NOFILE, &old, nil)

	t0 := time.Now()
	ref := fmt.Sprintf("AFTER-EMFILE-%d", t0.Unix())
	after := result{row: descRows[1]}
	c, err := mqttwire.Dial(e.mqttAddr, "till-2", "till-2", till2Pass, 15*time.Second)
	if err != nil {
		after.happened = "the terminal could not log in: " + shortErr(err)
		return []result{truth, after}
	}
	defer c.Close()
	if err := c.Publish("fluxrelay/till/T2", []byte(`{"transactionRef":"`+ref+`","amount":"2500.00"}`), 15*time.Second); err != nil {
		after.happened = "publish: " + shortErr(err)
		return []result{truth, after}
	}
	for time.Since(t0) < 15*time.Second && len(e.core.deliveries(ref)) == 0 {
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(t0).Round(10 * time.Millisecond)
	after.ok = len(e.core.deliveries(ref)) == 1
	after.happened = fmt.Sprintf("delivered after %s: %v", took, after.ok)
	return []result{truth, after}
}

var descRows = []row{
	{"2", "lower the daemon's descriptor limit and hold 56 connections to the broker", "status: MQTT down, too many open files, ACTION NEEDED", nil},
	{"2", "then release them: a normal terminal connects and publishes", "delivered to Fluxvend within 15 s", nil},
}

func macHex512(key, body string) string {
	m := hmac.New(sha512.New, []byte(key))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}
