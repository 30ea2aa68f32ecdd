package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fluxrelay/fluxrelay/internal/loopback"
	"github.com/fluxrelay/fluxrelay/internal/mosquittotest"
)

// publishAll publishes n QoS 1 messages as fast as the broker acknowledges
// them, from one terminal.
func publishAll(b *testing.B, addr, id string, n int, tag string) {
	b.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	toks := make([]paho.Token, n)
	for i := range n {
		toks[i] = c.Publish("fluxrelay/till/T1", 1, false, body(fmt.Sprintf("%s-%d", tag, i)))
	}
	for _, t := range toks {
		<-t.Done()
	}
}

// BenchmarkMQTTIngest measures QoS 1 notifications through mosquitto into
// fluxrelay's durable store, against mosquitto_sub receiving the same
// messages from the same broker in the same run.
func BenchmarkMQTTIngest(b *testing.B) {
	sub := mosquittotest.NeedTool(b, "mosquitto_sub")
	m := mosquittotest.Start(b)
	host, port := "127.0.0.1", m.Addr[len("127.0.0.1:"):]
	n := b.N

	// Baseline: mosquitto_sub alone, QoS 1, counting n messages.
	cmd := exec.Command(sub, "-h", host, "-p", port, "-q", "1", "-i", "bench-sub", "-t", "fluxrelay/+/+", "-C", strconv.Itoa(n))
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // let it subscribe
	start := time.Now()
	publishAll(b, m.Addr, "bench-pub-1", n, "A")
	if err := cmd.Wait(); err != nil {
		b.Fatalf("mosquitto_sub: %v", err)
	}
	baseline := float64(n) / time.Since(start).Seconds()

	// fluxrelay subscribed to the same broker, storing each before its ack.
	dir := b.TempDir()
	bin := buildDaemon(b, dir)
	admin := loopback.FreeAddr(b)
	cmd, _ = startDaemon(b, bin, dir, fmt.Sprintf("[mqtt]\nmode = \"external\"\nbroker = %q\nclient_id = \"bench-relay\"\n[admin]\nsocket = \"\"\nlisten = %q\n", m.URL(), admin))
	status := func() (depth int64, up bool) {
		resp, err := http.Get("http://" + admin + "/api/status")
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		var s struct {
			QueueDepth int64 `json:"queue_depth"`
			Listeners  map[string]struct{ Up bool }
		}
		json.NewDecoder(resp.Body).Decode(&s)
		return s.QueueDepth, s.Listeners["mqtt-broker"].Up
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, up := status(); up {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("fluxrelay did not subscribe")
		}
	}
	cpuBefore := cpuSeconds(cmd.Process.Pid)
	b.ResetTimer()
	start = time.Now()
	publishAll(b, m.Addr, "bench-pub-2", n, "B")
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if d, _ := status(); d >= int64(n) {
			break
		}
		if time.Now().After(deadline) {
			d, _ := status()
			b.Fatalf("only %d of %d stored", d, n)
		}
	}
	elapsed := time.Since(start)
	rate := float64(n) / elapsed.Seconds()
	b.StopTimer()
	b.ReportMetric((cpuSeconds(cmd.Process.Pid)-cpuBefore)/elapsed.Seconds(), "daemon_cores")
	b.ReportMetric(rate, "stored/s")
	b.ReportMetric(baseline, "mosquitto_sub/s")
	b.ReportMetric(rate/baseline, "x_mosquitto_sub")
}
