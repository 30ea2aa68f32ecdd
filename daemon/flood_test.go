package daemon

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/mqttwire"
	"github.com/fluxrelay/fluxrelay/notification"
)

// TestBadInputFlood floods ingest with malformed, oversized and mis-signed
// requests over HTTP and MQTT: each is refused as it should be, the daemon
// keeps answering, and nothing is stored.
func TestBadInputFlood(t *testing.T) {
	e := newEnv(t, nil)
	e.embedBroker("till", "pw")
	r := e.start()
	mqttAddr := r.d.Addr("mqtt", 10*time.Second)
	signed := `{"transactionRef":"S","amount":1}`
	bad := []struct {
		path, body string
		header     []string
		code       int
	}{
		{"/notify/till", `{"transactionRef":`, nil, 400},
		{"/notify/till", `{"transactionRef":"X","amount":"1e9"}`, nil, 400},
		{"/notify/till", `{"transactionRef":"X","amount":1,"pad":"` + strings.Repeat("z", 5000) + `"}`, nil, 413},
		{"/notify/signed", signed, []string{"Signature", notification.Sign("wrong-key", []byte(signed))}, 401},
		{"/notify/nowhere", `{}`, nil, 404},
	}
	var wrong atomic.Int64
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 150; i++ {
				c := bad[(g+i)%len(bad)]
				req, _ := http.NewRequest(http.MethodPost, r.url+c.path, strings.NewReader(c.body))
				for k := 0; k+1 < len(c.header); k += 2 {
					req.Header.Set(c.header[k], c.header[k+1])
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					wrong.Add(1)
					continue
				}
				resp.Body.Close()
				sent.Add(1)
				if resp.StatusCode != c.code {
					wrong.Add(1)
				}
			}
		}()
	}
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := mqttwire.Dial(mqttAddr, fmt.Sprintf("till-flood-%d", g), "till", "pw", 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for i := 0; i < 200; i++ {
				payload := []string{"garbage", `{"amount":1}`, `{"transactionRef":"M","amount":0}`, ""}[i%4]
				if err := c.Publish("fluxrelay/till/T1", []byte(payload), 5*time.Second); err != nil {
					t.Errorf("a bad MQTT payload was not acknowledged: %v", err)
					return
				}
				sent.Add(1)
			}
		}()
	}
	// The daemon keeps answering throughout: every /healthz asked during
	// the flood is answered 200. (How fast is for the benchmarks; this
	// machine is shared.)
	var asked, unhealthy int
	var slowest time.Duration
	healthDone := make(chan struct{})
	go func() {
		defer close(healthDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			resp, err := http.Get(r.admin + "/healthz")
			asked++
			if err != nil || resp.StatusCode != http.StatusOK {
				unhealthy++
			}
			if err == nil {
				resp.Body.Close()
			}
			slowest = max(slowest, time.Since(start))
		}
	}()
	wg.Wait()
	close(stop)
	<-healthDone
	if wrong.Load() > 0 {
		t.Errorf("%d of the flood's requests got the wrong answer", wrong.Load())
	}
	if asked == 0 || unhealthy > 0 {
		t.Errorf("/healthz failed %d of %d times during the flood", unhealthy, asked)
	}
	st := r.status(t)
	if st.QueueDepth != 0 || st.DeadLetters != 0 || st.Sources["till"].Queued != 0 {
		t.Errorf("the flood stored something: %+v", st.Sources)
	}
	if a := post(t, r.url+"/notify/till", `{"transactionRef":"AFTER-FLOOD","amount":1}`); a.Status != "queued" {
		t.Errorf("after the flood: %+v", a)
	}
	t.Logf("%d bad requests and payloads refused; /healthz answered %d times, the slowest in %s", sent.Load(), asked, slowest.Round(time.Millisecond))
}
