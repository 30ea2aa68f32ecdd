package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	prompb "buf.build/gen/go/prometheus/prometheus/protocolbuffers/go"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/proto"

	"github.com/fluxrelay/fluxrelay/internal/mosquittotest"
)

// named gives the daemon of e the gateway name name.
func (e *env) named(name string) {
	e.t.Helper()
	writeFile(e.t, e.cfgPath, strings.Replace(readFile(e.t, e.cfgPath), "version = 1\n", fmt.Sprintf("version = 1\ngateway = %q\n", name), 1))
}

// waitLong is waitFor with a deadline for what a real Prometheus does.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 2 minutes waiting for %s", what)
		}
	}
}

// pushed is the metrics the fleet must see from every gateway.
var pushed = []string{"fluxrelay_build_info", "fluxrelay_state", "fluxrelay_queue_depth", "fluxrelay_oldest_pending_age_seconds",
	"fluxrelay_dead_letters", "fluxrelay_ingested_total", "fluxrelay_delivered_total", "fluxrelay_deliveries_paused",
	"fluxrelay_disk_free_bytes", "fluxrelay_clock_ok", "fluxrelay_unclean_restarts_total"}

// TestFleetInPrometheus: two gateways push to a real Prometheus, which
// shows each by its name with its own values; while Prometheus is stopped
// the snapshots wait, and once it is back the gap is filled, oldest first.
func TestFleetInPrometheus(t *testing.T) {
	prom := startPrometheus(t)
	gateway := func(name string, answer *answerSwitch) (*env, *running) {
		e := newEnv(t, answer.answer)
		e.writeConfig(testSecret, fmt.Sprintf("[[remote_write]]\nurl = %q\ninterval = \"1s\"\n", prom.WriteURL()))
		e.named(name)
		return e, e.start()
	}
	const ikeja, lekki = "Ikeja City Mall", "Lekki Phase 1"
	_, a := gateway(ikeja, switchable(http.StatusOK))
	_, b := gateway(lekki, switchable(http.StatusUnprocessableEntity)) // Fluxvend refuses its payments
	for i := range 3 {
		post(t, a.url+"/notify/till", fmt.Sprintf(`{"transactionRef":"IKJ-%d","amount":1500}`, i))
	}
	for i := range 2 {
		post(t, b.url+"/notify/till", fmt.Sprintf(`{"transactionRef":"LKI-%d","amount":700}`, i))
	}
	delivered := func(gw string) string { return fmt.Sprintf(`fluxrelay_delivered_total{gateway=%q,source="till"}`, gw) }
	waitLong(t, "both gateways' values in Prometheus", func() bool {
		d, _ := prom.Value(delivered(ikeja))
		dead, _ := prom.Value(fmt.Sprintf(`fluxrelay_dead_letters{gateway=%q}`, lekki))
		return d == 3 && dead == 2
	})

	for gw, want := range map[string]map[string]float64{
		ikeja: {delivered(ikeja): 3, `fluxrelay_dead_letters{gateway="Ikeja City Mall"}`: 0, `fluxrelay_state{gateway="Ikeja City Mall",state="ok"}`: 1},
		lekki: {delivered(lekki): 0, `fluxrelay_dead_letters{gateway="Lekki Phase 1"}`: 2, `fluxrelay_state{gateway="Lekki Phase 1",state="action_needed"}`: 1},
	} {
		for q, v := range want {
			if got, ok := prom.Value(q); !ok || got != v {
				t.Errorf("%s: got %v (found: %v), want %v", q, got, ok, v)
			}
		}
		var names []string
		for _, s := range prom.Query(fmt.Sprintf(`group by (__name__) ({gateway=%q})`, gw)) {
			names = append(names, s.Labels["__name__"])
		}
		for _, n := range pushed {
			if !slices.Contains(names, n) {
				t.Errorf("%s pushed no %s (it pushed %v)", gw, n, names)
			}
		}
		info := prom.Query(fmt.Sprintf(`fluxrelay_build_info{gateway=%q}`, gw))
		if len(info) != 1 || info[0].Labels["version"] != "e2e" || info[0].Labels["job"] != "fluxrelay" {
			t.Errorf("%s's build info: %v", gw, info)
		}
	}
	checkFleetDashboard(t, prom, map[string]float64{ikeja: 0, lekki: 2})
	st := a.status(t)
	if st.Gateway != ikeja || len(st.RemoteWrite) != 1 || !st.RemoteWrite[0].OK || st.RemoteWrite[0].Sent == 0 || st.RemoteWrite[0].LastSuccess == nil {
		t.Errorf("status: gateway %q, remote write %+v", st.Gateway, st.RemoteWrite)
	}

	// Prometheus goes away; the gateways go on, and their snapshots wait.
	prom.Stop()
	stopped := time.Now()
	for i := range 2 {
		post(t, a.url+"/notify/till", fmt.Sprintf(`{"transactionRef":"IKJ-GAP-%d","amount":1500}`, i))
	}
	waitLong(t, "snapshots waiting", func() bool {
		rw := a.status(t).RemoteWrite[0]
		return rw.Waiting >= 5 && !rw.OK && strings.Contains(rw.LastError, "cannot reach the receiver")
	})
	prom.Start()
	restarted := time.Now()
	for _, r := range []*running{a, b} {
		waitLong(t, "the waiting snapshots sent", func() bool {
			rw := r.status(t).RemoteWrite[0]
			return rw.OK && rw.Waiting == 0
		})
	}
	samples := prom.Samples(delivered(ikeja), time.Since(stopped)+time.Minute)
	var inGap []sample
	for i, s := range samples {
		if i > 0 && s.At.Sub(samples[i-1].At) > 2500*time.Millisecond {
			t.Errorf("a gap in what Prometheus holds: from %s to %s", samples[i-1].At.Format(time.StampMilli), s.At.Format(time.StampMilli))
		}
		if s.At.After(stopped) && s.At.Before(restarted) {
			inGap = append(inGap, s)
		}
	}
	if want := int(restarted.Sub(stopped)/time.Second) - 2; len(inGap) < want || inGap[len(inGap)-1].Value != 5 {
		t.Errorf("%d samples taken while Prometheus was stopped reached it, the last %v; want at least %d, up to 5 delivered", len(inGap), inGap, want)
	}
	t.Logf("Prometheus was stopped for %s; %d samples taken meanwhile reached it after its restart", restarted.Sub(stopped).Round(time.Millisecond), len(inGap))
	if rw := a.status(t).RemoteWrite[0]; rw.Refused != 0 || rw.Dropped != 0 {
		t.Errorf("snapshots lost: %+v", rw)
	}
}

// TestGatewayNameEverywhere: the configured name is in status, in every
// alert and in pushed metrics; a heartbeat reaches the receiver that asked
// for one; a reload that adds a [[remote_write]] starts pushing to it.
func TestGatewayNameEverywhere(t *testing.T) {
	var mu sync.Mutex
	var events []map[string]any
	alerts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e map[string]any
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
			t.Errorf("an alert is not JSON: %v", err)
		}
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}))
	t.Cleanup(alerts.Close)
	kinds := func() (out []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			if e["gateway"] != "Ikeja City Mall" {
				t.Errorf("an alert names the gateway %v", e["gateway"])
			}
			out = append(out, fmt.Sprint(e["kind"]))
		}
		return out
	}
	gateways := make(chan string, 100)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		compressed, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, compressed)
		req := &prompb.WriteRequest{}
		if err == nil {
			err = proto.Unmarshal(raw, req)
		}
		if err != nil {
			t.Errorf("a push is not a snappy-compressed WriteRequest: %v", err)
		}
		for _, ts := range req.GetTimeseries() {
			for _, l := range ts.GetLabels() {
				if l.GetName() == "gateway" {
					select {
					case gateways <- l.GetValue():
					default:
					}
				}
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	core := switchable(http.StatusUnprocessableEntity)
	e := newEnv(t, core.answer)
	alert := fmt.Sprintf("[[alert]]\nurl = %q\nheartbeat = \"1h\"\n", alerts.URL)
	e.writeConfig(testSecret, alert)
	e.named("Ikeja City Mall")
	r := e.startWith(watchOften)
	waitFor(t, "a heartbeat", func() bool { return slices.Contains(kinds(), "heartbeat") })
	post(t, r.url+"/notify/till", `{"transactionRef":"NAME-1","amount":100}`)
	waitFor(t, "the dead letter's alert", func() bool { return slices.Contains(kinds(), "dead_letter") })
	if n := strings.Count(strings.Join(kinds(), " "), "heartbeat"); n != 1 {
		t.Errorf("%d heartbeats within the hour; want 1", n)
	}
	if st := r.status(t); st.Gateway != "Ikeja City Mall" || len(st.RemoteWrite) != 0 {
		t.Errorf("status: gateway %q, remote write %v", st.Gateway, st.RemoteWrite)
	}

	e.writeConfig(testSecret, alert+fmt.Sprintf("[[remote_write]]\nurl = %q\ninterval = \"1s\"\n", receiver.URL+"/api/v1/write"))
	e.named("Ikeja City Mall")
	r.reload <- struct{}{}
	select {
	case gw := <-gateways:
		if gw != "Ikeja City Mall" {
			t.Errorf("pushed metrics name the gateway %q", gw)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a reload that added a [[remote_write]] pushed nothing within 15s")
	}
	waitFor(t, "the push in status", func() bool {
		rw := r.status(t).RemoteWrite
		return len(rw) == 1 && rw[0].OK && rw[0].Host == strings.TrimPrefix(receiver.URL, "http://")
	})
}

// TestPublishStatus: with mqtt.publish_status, a gateway subscribed to a
// real mosquitto keeps "online" retained under its configured name while
// it runs, and "offline" once it stops.
func TestPublishStatus(t *testing.T) {
	m := mosquittotest.Start(t)
	e := newEnv(t, nil)
	writeFile(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), "[mqtt]\nmode = \"off\"",
		fmt.Sprintf("[mqtt]\nmode = \"external\"\nbroker = %q\nclient_id = \"gw-status\"\npublish_status = true", m.URL()), 1))
	e.named("Ikeja City Mall")
	r := e.start()
	retained := func() string {
		got := make(chan string, 1)
		c := paho.NewClient(paho.NewClientOptions().AddBroker(m.URL()).SetClientID("dashboard"))
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("connect: %v", tok.Error())
		}
		defer c.Disconnect(100)
		c.Subscribe("fluxrelay/_gateway/Ikeja City Mall/status", 1, func(_ paho.Client, msg paho.Message) {
			if msg.Retained() {
				select {
				case got <- string(msg.Payload()):
				default:
				}
			}
		}).WaitTimeout(10 * time.Second)
		select {
		case s := <-got:
			return s
		case <-time.After(2 * time.Second):
			return ""
		}
	}
	waitFor(t, "the gateway online", func() bool { return retained() == "online" })
	r.stop()
	if s := retained(); s != "offline" {
		t.Errorf("after a clean stop the retained status is %q; want offline", s)
	}
}

// checkFleetDashboard runs every query of the shipped fleet dashboard on
// a real Prometheus, for all gateways: each is valid, the fleet table has
// one row per gateway, its state column says each gateway's state (0 OK,
// 1 DELAYED, 2 ACTION NEEDED) and no gateway is counted silent.
func checkFleetDashboard(t *testing.T, prom *prometheus, states map[string]float64) {
	t.Helper()
	raw := readFile(t, "../packaging/monitoring/fluxrelay-fleet.grafana.json")
	var dash struct {
		Panels []struct {
			Title, Type string
			Targets     []struct{ RefID, Expr string }
		}
	}
	if err := json.Unmarshal([]byte(raw), &dash); err != nil {
		t.Fatal(err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			res := prom.Query(strings.ReplaceAll(tg.Expr, "$gateway", ".+"))
			switch {
			case p.Type == "table" && tg.RefID == "A":
				for _, s := range res {
					if want, ok := states[s.Labels["gateway"]]; !ok || s.Value != want {
						t.Errorf("the fleet table says %s is in state %v; want %v", s.Labels["gateway"], s.Value, want)
					}
				}
				fallthrough
			case p.Type == "table" && tg.RefID != "E": // E: the last delivery, for those that delivered
				if len(res) != len(states) {
					t.Errorf("%q, query %s: %d rows for %d gateways: %v", p.Title, tg.RefID, len(res), len(states), res)
				}
			case p.Title == "Gateways silent for 15 minutes":
				if len(res) != 1 || res[0].Value != 0 {
					t.Errorf("%q: %v", p.Title, res)
				}
			}
		}
	}
}
