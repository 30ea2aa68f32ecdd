package mqttingest

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxrelay/fluxrelay/ingest"
)

// guard is the terminals' listener. It holds the broker to its connection
// limits before mochi sees a connection, and it never ends mochi's accept
// loop on a passing error (mochi returns for good on any error from
// Accept, and the broker would be gone while the daemon looks alive):
//
//   - Accept errors, such as running out of file descriptors (EMFILE),
//     are retried with a backoff of 5 ms doubling to 1 s, and reported
//     through state until a connection is accepted again.
//   - At most perAddr connections from one address and total in all; one
//     more is closed at once.
//   - A connection must send its CONNECT within connectWithin (the read
//     deadline set here, under TLS too; mochi replaces it by the
//     keepalive's once the CONNECT is read).
//
// Close also closes every connection it accepted that is still open.
type guard struct {
	net.Listener
	perAddr, total int
	connectWithin  time.Duration
	log            *slog.Logger
	// state is told when accepting fails (err) and when it works again.
	state func(err error)

	mu      sync.Mutex
	closed  bool
	conns   map[*guardConn]struct{}
	perIP   map[netip.Addr]int
	failing atomic.Bool
	refused *ingest.RateLog
}

func newGuard(inner net.Listener, perAddr, total int, connectWithin time.Duration, log *slog.Logger, state func(error)) *guard {
	return &guard{Listener: inner, perAddr: perAddr, total: total, connectWithin: connectWithin,
		log: log, state: state, conns: map[*guardConn]struct{}{}, perIP: map[netip.Addr]int{}, refused: ingest.NewRateLog(time.Minute, failKeep)}
}

// Accept returns the next connection within the limits. It returns an
// error only once the listener is closed.
func (l *guard) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.isClosed() {
				return nil, net.ErrClosed
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.failed(err, delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if l.failing.CompareAndSwap(true, false) {
			l.log.Info("the MQTT listener accepts connections again", "key", "mqtt.listen")
			l.state(nil)
		}
		if gc := l.admit(c); gc != nil {
			return gc, nil
		}
	}
}

// failed reports an accept error the first time it happens in a row.
func (l *guard) failed(err error, retry time.Duration) {
	if l.failing.CompareAndSwap(false, true) {
		l.log.Error("the MQTT listener cannot accept connections; retrying: raise the service's LimitNOFILE if this says too many open files",
			"key", "mqtt.listen", "err", err, "retry", retry)
		l.state(fmt.Errorf("accepting connections fails: %w", err))
	}
}

func (l *guard) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// admit tracks c, or closes it when it is over a limit.
func (l *guard) admit(c net.Conn) *guardConn {
	ip := remoteIP(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	var why string
	switch {
	case l.closed:
		why = "closing"
	case len(l.conns) >= l.total:
		why = fmt.Sprintf("the broker already holds %d connections, its limit", l.total)
	case l.perIP[ip] >= l.perAddr:
		why = fmt.Sprintf("this address already holds %d connections, the limit for one address", l.perAddr)
	}
	if why != "" {
		c.Close()
		if ok, skipped := l.refused.Allow(ip.String(), time.Now()); ok && why != "closing" {
			l.log.Warn("MQTT connection refused: over the broker's connection limits", "remote", ip.String(), "why", why, "more_refused_since_last_line", skipped)
		}
		return nil
	}
	gc := &guardConn{Conn: c, l: l, ip: ip}
	if l.connectWithin > 0 {
		_ = c.SetReadDeadline(time.Now().Add(l.connectWithin))
	}
	l.conns[gc] = struct{}{}
	l.perIP[ip]++
	return gc
}

func (l *guard) release(gc *guardConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.conns[gc]; !ok {
		return
	}
	delete(l.conns, gc)
	if l.perIP[gc.ip]--; l.perIP[gc.ip] <= 0 {
		delete(l.perIP, gc.ip)
	}
}

// Close stops accepting and closes every connection still open.
func (l *guard) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	conns := l.conns
	l.conns, l.perIP = map[*guardConn]struct{}{}, map[netip.Addr]int{}
	l.mu.Unlock()
	err := l.Listener.Close()
	for c := range conns {
		c.Conn.Close()
	}
	return err
}

// open reports how many connections the guard holds.
func (l *guard) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func remoteIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// guardConn is one accepted connection, counted until it is closed.
type guardConn struct {
	net.Conn
	l    *guard
	ip   netip.Addr
	once sync.Once
}

func (c *guardConn) Close() error {
	c.once.Do(func() { c.l.release(c) })
	return c.Conn.Close()
}

// connectLimit wraps the listener mochi reads (after TLS, when there is
// TLS): until a connection's first packet has been read it watches the
// bytes, which must start a CONNECT declaring at most max bytes. mochi
// allocates a packet's whole declared length before reading it, so
// without this anyone could make it hold MaximumPacketSize per connection
// before logging in.
type connectLimit struct {
	net.Listener
	max int
}

func (l connectLimit) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &connectConn{Conn: c, max: l.max}, nil
}

// connectConn is a connection whose first packet is being watched.
type connectConn struct {
	net.Conn
	max    int
	done   atomic.Bool // the first packet's header has been checked
	mu     sync.Mutex
	header []byte // the first packet's fixed header, while it is read
}

// errBadConnect closes a connection whose first packet is not a CONNECT
// of a sensible size.
var errBadConnect = errors.New("the first packet is not a CONNECT within the size limit")

func (c *connectConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.done.Load() {
		if cerr := c.watch(p[:n]); cerr != nil {
			c.Conn.Close()
			return 0, cerr
		}
	}
	return n, err
}

// watch reads the first packet's fixed header from the bytes as they
// come: the type byte, then a length of 1 to 4 bytes.
func (c *connectConn) watch(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range b {
		if c.done.Load() {
			return nil
		}
		c.header = append(c.header, x)
		switch {
		case len(c.header) == 1:
			if x>>4 != 1 { // CONNECT
				return errBadConnect
			}
			continue
		case x&0x80 != 0 && len(c.header) == 5:
			return errBadConnect
		case x&0x80 != 0:
			continue
		}
		length, mult := 0, 1
		for _, d := range c.header[1:] {
			length += int(d&0x7f) * mult
			mult *= 128
		}
		if length > c.max {
			return errBadConnect
		}
		c.header = nil
		c.done.Store(true)
	}
	return nil
}
