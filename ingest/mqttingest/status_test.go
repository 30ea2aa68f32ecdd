package mqttingest

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fluxrelay/fluxrelay/internal/mosquittotest"
)

// cutter is a TCP proxy to a broker whose connections a test can cut, as
// a lost 4G link or a power cut would: the broker sees the connection
// drop without a DISCONNECT.
type cutter struct {
	ln     net.Listener
	target string
	down   atomic.Bool // new connections are closed at once
	mu     sync.Mutex
	conns  []net.Conn
}

func newCutter(t *testing.T, target string) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target}
	go c.accept()
	t.Cleanup(func() { ln.Close(); c.cut() })
	return c
}

func (c *cutter) accept() {
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		if c.down.Load() {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", c.target)
		if err != nil {
			in.Close()
			continue
		}
		c.mu.Lock()
		c.conns = append(c.conns, in, out)
		c.mu.Unlock()
		go func() { io.Copy(out, in); out.Close() }()
		go func() { io.Copy(in, out); in.Close() }()
	}
}

// cut closes every connection through the proxy, and refuses new ones
// until restore.
func (c *cutter) cut() {
	c.down.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

func (c *cutter) restore() { c.down.Store(false) }

func (c *cutter) url() string { return "tcp://" + c.ln.Addr().String() }

// statusWatcher subscribes to every gateway's status, as a central
// dashboard would, and hands over each message as "payload" (or
// "payload retained").
func statusWatcher(t *testing.T, addr, id string) <-chan string {
	got := make(chan string, 16)
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("the watcher cannot connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe("fluxrelay/_gateway/+/status", 1, func(_ paho.Client, m paho.Message) {
		if m.Topic() != "fluxrelay/_gateway/Ikeja City Mall_2/status" {
			t.Errorf("a status on %q", m.Topic())
		}
		s := string(m.Payload())
		if m.Retained() {
			s += " retained"
		}
		got <- s
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("the watcher cannot subscribe: %v", tok.Error())
	}
	return got
}

func expect(t *testing.T, got <-chan string, want string) {
	t.Helper()
	select {
	case s := <-got:
		if s != want {
			t.Fatalf("the gateway's status is %q; want %q", s, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no status within 20s; want %q", want)
	}
}

// TestStatusTopic against a real mosquitto: a gateway that publishes its
// status is "online" (retained, so a dashboard that connects later sees
// it), "offline" through its last will when its connection is cut,
// "online" again once it reconnects, and "offline" after a clean stop.
// Its own subscription does not take the status for a notification.
func TestStatusTopic(t *testing.T) {
	m := mosquittotest.Start(t)
	proxy := newCutter(t, m.Addr)
	live := statusWatcher(t, m.Addr, "dashboard-1")
	s := newSink()
	in := newIntake(s)
	if topic := StatusTopic("fluxrelay", "Ikeja City Mall/2"); topic != "fluxrelay/_gateway/Ikeja City Mall_2/status" {
		t.Fatalf("status topic %q", topic)
	}
	sub := NewSubscriber(in, SubscriberOptions{Broker: proxy.url(), ClientID: "gw-status", TopicPrefix: "fluxrelay",
		StatusTopic: StatusTopic("fluxrelay", "Ikeja City Mall/2"), ReconnectMax: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	expect(t, live, "online")
	expect(t, statusWatcher(t, m.Addr, "dashboard-2"), "online retained")
	proxy.cut()
	expect(t, live, "offline") // the last will
	proxy.restore()
	expect(t, live, "online") // reconnected
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil // for the cleanup
	expect(t, live, "offline")
	expect(t, statusWatcher(t, m.Addr, "dashboard-3"), "offline retained")
	if st := s.Stats(); st.Pending != 0 {
		t.Errorf("the gateway stored its own status as %d notification(s)", st.Pending)
	}
	if r := in.Stats.Rejections(); len(r) != 0 {
		t.Errorf("the gateway's subscription saw its status: %v", r)
	}
}
