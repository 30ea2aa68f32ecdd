package remotewrite

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	prompb "buf.build/gen/go/prometheus/prometheus/protocolbuffers/go"
	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/proto"
)

// receiver is a fake remote-write receiver that holds requests to
// Prometheus' rules: it decodes each request as remote write 1.0,
// checks its headers and labels, and refuses the whole request (400,
// nothing kept) when one sample is out of order for its series or older
// than Window before the receiver's clock (out of bounds).
type receiver struct {
	t      *testing.T
	now    func() time.Time
	window time.Duration // 0: no bound
	auth   string        // the Authorization every request must carry

	answer atomic.Int32 // when set, every request is answered this

	mu       sync.Mutex
	series   map[string][]point // by "name{label=value,...}"
	requests int
	refused  int
	probes   int
	agents   []string
}

type point struct {
	ts int64
	v  float64
}

func newReceiver(t *testing.T, now func() time.Time) *receiver {
	return &receiver{t: t, now: now, series: map[string][]point{}}
}

func (f *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", f.now().UTC().Format(http.TimeFormat))
	if r.Method != http.MethodPost || r.Header.Get("Content-Encoding") != "snappy" ||
		r.Header.Get("Content-Type") != "application/x-protobuf" || r.Header.Get("X-Prometheus-Remote-Write-Version") != "0.1.0" {
		f.t.Errorf("a push came as %s with headers %v", r.Method, r.Header)
	}
	if f.auth != "" && r.Header.Get("Authorization") != f.auth {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if code := f.answer.Load(); code != 0 {
		http.Error(w, "answered as told", int(code))
		return
	}
	req, err := decodeRequest(r.Body)
	if err != nil {
		f.t.Errorf("a push is not a snappy-compressed WriteRequest: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	f.agents = append(f.agents, r.Header.Get("User-Agent"))
	if len(req.GetTimeseries()) == 0 {
		f.probes++
	}
	if err := f.append(req); err != nil {
		f.refused++
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// append keeps every sample of req, or none when one is refused.
func (f *receiver) append(req *prompb.WriteRequest) error {
	minValid := int64(-1 << 63)
	if f.window > 0 {
		minValid = f.now().Add(-f.window).UnixMilli()
	}
	next := map[string][]point{}
	for _, ts := range req.GetTimeseries() {
		key, err := seriesKey(ts.GetLabels())
		if err != nil {
			f.t.Error(err)
			return err
		}
		pts := next[key]
		if pts == nil {
			pts = slices.Clone(f.series[key])
		}
		for _, s := range ts.GetSamples() {
			if s.GetTimestamp() < minValid {
				return errors.New("out of bounds")
			}
			if n := len(pts); n > 0 && s.GetTimestamp() <= pts[n-1].ts {
				if s.GetTimestamp() == pts[n-1].ts && s.GetValue() == pts[n-1].v {
					continue
				}
				return errors.New("out of order sample")
			}
			pts = append(pts, point{s.GetTimestamp(), s.GetValue()})
		}
		next[key] = pts
	}
	for k, v := range next {
		f.series[k] = v
	}
	return nil
}

func decodeRequest(body io.Reader) (*prompb.WriteRequest, error) {
	compressed, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	raw, err := snappy.Decode(nil, compressed)
	if err != nil {
		return nil, err
	}
	req := &prompb.WriteRequest{}
	return req, proto.Unmarshal(raw, req)
}

// seriesKey renders a series as name{label=value,...}, checking what the
// protocol demands of its labels: sorted by name, no name twice, a
// metric name.
func seriesKey(ls []*prompb.Label) (string, error) {
	name := ""
	var rest []string
	for i, l := range ls {
		if i > 0 && ls[i-1].GetName() >= l.GetName() {
			return "", fmt.Errorf("labels not sorted: %v", ls)
		}
		if l.GetName() == "__name__" {
			name = l.GetValue()
			continue
		}
		rest = append(rest, l.GetName()+"="+l.GetValue())
	}
	if name == "" {
		return "", fmt.Errorf("a series without a name: %v", ls)
	}
	return name + "{" + strings.Join(rest, ",") + "}", nil
}

// points returns the samples kept for one series.
func (f *receiver) points(key string) []point {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.series[key])
}

// keys lists the series kept.
func (f *receiver) keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.series {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (f *receiver) counts() (requests, refused, probes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, f.refused, f.probes
}

// inProcess serves requests with a handler in this process, so that a
// test in a synctest bubble runs the whole exchange on its fake clock.
// While down, every request fails as a refused connection would.
type inProcess struct {
	h    http.Handler
	down atomic.Bool
}

func (t *inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.down.Load() {
		return nil, errors.New("dial tcp 192.0.2.1:9090: connect: connection refused")
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}
