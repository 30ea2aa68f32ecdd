// Package mqttwire is a minimal MQTT 3.1.1 publisher for tests: it speaks
// just CONNECT, PUBLISH at QoS 1 and PUBACK over a plain TCP connection,
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
}

// Dial connects and logs in (clean session).
func Dial(addr, clientID, user, pass string, timeout time.Duration) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	var vh []byte
	vh = appendString(vh, "MQTT")
	flags := byte(0x02) // clean session
	if user != "" {
		flags |= 0x80 | 0x40
	}
	vh = append(vh, 4, flags, 0, 60) // level 4 (3.1.1), flags, keep-alive 60 s
	vh = appendString(vh, clientID)
	if user != "" {
		vh = appendString(vh, user)
		vh = appendString(vh, pass)
	}
	conn := &Conn{c: c, r: bufio.NewReader(c)}
	c.SetDeadline(time.Now().Add(timeout))
	if err := conn.write(0x10, vh); err != nil {
		c.Close()
		return nil, err
	}
	typ, body, err := conn.read()
	if err != nil || typ != 0x20 || len(body) != 2 || body[1] != 0 {
		c.Close()
		return nil, fmt.Errorf("CONNACK refused (type %x, body %v, err %v)", typ, body, err)
	}
	c.SetDeadline(time.Time{})
	return conn, nil
}

// Publish sends payload at QoS 1 and waits for its PUBACK. A nil error
// means the broker acknowledged it.
func (c *Conn) Publish(topic string, payload []byte, timeout time.Duration) error {
	c.id++
	if c.id == 0 {
		c.id = 1
	}
	body := appendString(nil, topic)
	body = binary.BigEndian.AppendUint16(body, c.id)
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
	if typ != 0x40 || len(ack) != 2 || binary.BigEndian.Uint16(ack) != c.id {
		return fmt.Errorf("unexpected answer type %x %v", typ, ack)
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
	pkt := []byte{header}
	n := len(body)
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		pkt = append(pkt, d)
		if n == 0 {
			break
		}
	}
	_, err := c.c.Write(append(pkt, body...))
	return err
}

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
