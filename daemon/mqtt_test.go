package daemon

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestEmbeddedBrokerThousand publishes 1,000 notifications at QoS 1 from a
// real MQTT client to the embedded broker: each is stored and delivered to
// the core exactly once.
func TestEmbeddedBrokerThousand(t *testing.T) {
	e := newEnv(t, nil)
	const password = "till-1-password" // a secret the suite's output scan looks for
	e.embedBroker("till-1", password)
	r := e.start()
	addr := r.d.Addr("mqtt", 10*time.Second)
	if addr == "" {
		t.Fatal("the embedded broker did not come up")
	}
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("till-1").SetCleanSession(false).
		SetUsername("till-1").SetPassword(password).SetAutoReconnect(true)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	const n = 1000
	toks := make([]paho.Token, n)
	for i := range n {
		toks[i] = c.Publish("fluxrelay/till/T1", 1, false, fmt.Sprintf(`{"transactionRef":"MQ-%d","amount":"%d.50"}`, i, i+1))
	}
	for i, tok := range toks {
		select {
		case <-tok.Done():
			if tok.Error() != nil {
				t.Fatalf("publish %d: %v", i, tok.Error())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("publish %d was never acknowledged", i)
		}
	}
	waitFor(t, "1000 deliveries", func() bool { return len(e.core.Accepted()) >= n })
	r.settled(t) // nothing more can be sent
	seen := map[string]int{}
	for _, d := range e.core.Received() {
		var p struct{ TransactionRef string }
		json.Unmarshal(d.Body, &p)
		seen[p.TransactionRef]++
	}
	for i := range n {
		if c := seen[fmt.Sprintf("MQ-%d", i)]; c != 1 {
			t.Errorf("MQ-%d delivered %d times; want once", i, c)
		}
	}
	if s := r.status(t); s.Sources["till"].Queued != n || !s.Listeners["mqtt"].Up {
		t.Errorf("status: queued %d, mqtt listener %+v", s.Sources["till"].Queued, s.Listeners["mqtt"])
	}
}
