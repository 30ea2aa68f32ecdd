// Package mqttwire is a minimal MQTT 3.1.1 and 5 publisher for tests: it
// speaks just CONNECT, PUBLISH at QoS 1 and PUBACK over a plain TCP connection,
// so that a test knows exactly which publishes the broker acknowledged
// (a full client such as paho finishes a publish on a lost connection).
package mqttwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Conn is one connection to a broker.
type Conn struct {
	c  net.Conn
	r  *bufio.Reader
	id uint16
	v5 bool
}

// Refused is a PUBACK with an MQTT v5 reason code of 0x80 or more.
type Refused struct{ Code byte }

func (r *Refused) Error() string { return fmt.Sprintf("PUBACK reason code %#x", r.Code) }

// Dial connects and logs in with MQTT 3.1.1 (clean session).
func Dial(addr, clientID, user, pass string, timeout time.Duration) (*Conn, error) {
	return DialWith(addr, Options{ClientID: clientID, User: user, Pass: pass}, timeout)
}

// DialV5 connects and logs in with MQTT 5 (clean start).
func DialV5(addr, clientID, user, pass string, timeout time.Duration) (*Conn, error) {
	return DialWith(addr, Options{ClientID: clientID, User: user, Pass: pass, V5: true}, timeout)
}

// Options say how DialWith logs in.
type Options struct {
	ClientID, User, Pass string
	V5                   bool
	// Persistent asks for a session that outlives the connection: clean
	// session off (3.1.1), or clean start off with SessionExpiry (5).
	Persistent    bool
	SessionExpiry uint32
}

// ConnectRefused is a CONNACK with a failure code: the 3.1.1 return code
// or the MQTT 5 reason code.
type ConnectRefused struct{ Code byte }

func (r *ConnectRefused) Error() string { return fmt.Sprintf("CONNACK refused with code %#x", r.Code) }

// DialWith connects and logs in as o says. A CONNACK that refuses is a
// *ConnectRefused.
func DialWith(addr string, o Options, timeout time.Duration) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	conn := &Conn{c: c, r: bufio.NewReader(c), v5: o.V5}
	c.SetDeadline(time.Now().Add(timeout))
	if err := conn.write(0x10, connect(o)); err != nil {
		c.Close()
		return nil, err
	}
	typ, body, err := conn.read()
	switch {
	case err == nil && typ == 0x20 && len(body) >= 2 && body[1] != 0:
		c.Close()
		return nil, &ConnectRefused{Code: body[1]}
	case err != nil || typ != 0x20 || len(body) < 2 || !o.V5 && len(body) != 2:
		c.Close()
		return nil, fmt.Errorf("CONNACK refused (type %x, body %v, err %v)", typ, body, err)
	}
	c.SetDeadline(time.Time{})
	return conn, nil
}

// connect is the body of a CONNECT packet.
func connect(o Options) []byte {
	var vh []byte
	vh = appendString(vh, "MQTT")
	flags := byte(0x02) // clean session
	if o.Persistent {
		flags = 0
	}
	if o.User != "" {
		flags |= 0x80 | 0x40
	}
	level := byte(4) // 3.1.1
	if o.V5 {
		level = 5
	}
	vh = append(vh, level, flags, 0, 60) // level, flags, keep-alive 60 s
	if o.V5 && o.SessionExpiry > 0 {
		vh = append(vh, 5, 0x11) // properties: session expiry interval
		vh = binary.BigEndian.AppendUint32(vh, o.SessionExpiry)
	} else if o.V5 {
		vh = append(vh, 0) // no properties
	}
	vh = appendString(vh, o.ClientID)
	if o.User != "" {
		vh = appendString(vh, o.User)
		vh = appendString(vh, o.Pass)
	}
	return vh
}

// Connect returns a whole CONNECT packet, for tests that write the wire
// themselves.
func Connect(o Options) []byte { return packet(0x10, connect(o)) }

// Publish sends payload at QoS 1 and waits for its PUBACK. A nil error
// means the broker acknowledged it; under MQTT 5 a *Refused error means it
// answered with a failure reason code.
func (c *Conn) Publish(topic string, payload []byte, timeout time.Duration) error {
	c.id++
	if c.id == 0 {
		c.id = 1
	}
	body := appendString(nil, topic)
	body = binary.BigEndian.AppendUint16(body, c.id)
	if c.v5 {
		body = append(body, 0) // no properties
	}
	body = append(body, payload...)
	c.c.SetDeadline(time.Now().Add(timeout))
	defer c.c.SetDeadline(time.Time{})
	if err := c.write(0x32, body); err != nil { // PUBLISH, QoS 1
		return err
	}
	typ, ack, err := c.read()
	if err != nil {
		return err
	}
	if typ != 0x40 || len(ack) < 2 || binary.BigEndian.Uint16(ack) != c.id || !c.v5 && len(ack) != 2 {
		return fmt.Errorf("unexpected answer type %x %v", typ, ack)
	}
	if len(ack) > 2 && ack[2] >= 0x80 { // MQTT 5: a reason code follows the id
		return &Refused{Code: ack[2]}
	}
	return nil
}

// Close ends the connection without a DISCONNECT.
func (c *Conn) Close() error { return c.c.Close() }

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func (c *Conn) write(header byte, body []byte) error {
	_, err := c.c.Write(packet(header, body))
	return err
}

// Header is a packet's fixed header declaring n bytes to follow.
func Header(header byte, n int) []byte {
	pkt := []byte{header}
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		pkt = append(pkt, d)
		if n == 0 {
			return pkt
		}
	}
}

func packet(header byte, body []byte) []byte { return append(Header(header, len(body)), body...) }

// Raw is the connection itself, for tests that write the wire themselves.
func (c *Conn) Raw() net.Conn { return c.c }

func (c *Conn) read() (byte, []byte, error) {
	h, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		d, err := c.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(d&0x7f) * mult
		mult *= 128
		if d&0x80 == 0 {
			break
		}
		if i > 3 {
			return 0, nil, errors.New("bad remaining length")
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	return h & 0xf0, body, nil
}
