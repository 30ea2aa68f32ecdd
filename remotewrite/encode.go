package remotewrite

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	prompb "buf.build/gen/go/prometheus/prometheus/protocolbuffers/go"
	"github.com/klauspost/compress/snappy"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// label is one label of a series.
type label struct{ name, value string }

// series is one series' labels, sorted by name, and a key naming them.
type series struct {
	labels []label
	key    string
}

// seriesSet is the series of a snapshot. Snapshots with the same series
// share one set, so that a kept snapshot costs little more than its values.
type seriesSet struct{ series []series }

// snapshot is the value of every series at one time.
type snapshot struct {
	seq    uint64
	at     int64 // milliseconds since the epoch
	set    *seriesSet
	values []float64
}

// build turns gathered families into a snapshot at time at, every series
// labelled with gateway and job. prev's series set is reused when the
// series are the same.
func build(fams []*dto.MetricFamily, prefix, gateway, job string, at time.Time, prev *seriesSet) *snapshot {
	extra := []label{{"gateway", gateway}, {"job", job}}
	set := &seriesSet{}
	var values []float64
	add := func(name string, labels []label, v float64) {
		ls := make([]label, 0, len(labels)+3)
		ls = append(ls, label{"__name__", name})
		ls = append(ls, labels...)
		for _, e := range extra {
			if !slices.ContainsFunc(ls, func(l label) bool { return l.name == e.name }) {
				ls = append(ls, e)
			}
		}
		slices.SortFunc(ls, func(a, b label) int { return strings.Compare(a.name, b.name) })
		set.series = append(set.series, series{labels: ls, key: keyOf(ls)})
		values = append(values, v)
	}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), prefix) {
			continue
		}
		for _, m := range f.GetMetric() {
			flatten(f.GetName(), f.GetType(), m, add)
		}
	}
	if prev != nil && sameSeries(prev, set) {
		set = prev
	}
	return &snapshot{at: at.UnixMilli(), set: set, values: values}
}

// flatten calls add with each sample of m, the way the text format writes
// them: a histogram as its _bucket, _sum and _count series, a summary as
// its quantiles, _sum and _count.
func flatten(name string, typ dto.MetricType, m *dto.Metric, add func(string, []label, float64)) {
	var ls []label
	for _, lp := range m.GetLabel() {
		ls = append(ls, label{lp.GetName(), lp.GetValue()})
	}
	with := func(n, v string) []label { return append(slices.Clip(ls), label{n, v}) }
	switch typ {
	case dto.MetricType_COUNTER:
		add(name, ls, m.GetCounter().GetValue())
	case dto.MetricType_GAUGE:
		add(name, ls, m.GetGauge().GetValue())
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		h := m.GetHistogram()
		for _, b := range h.GetBucket() {
			add(name+"_bucket", with("le", formatFloat(b.GetUpperBound())), float64(b.GetCumulativeCount()))
		}
		add(name+"_bucket", with("le", "+Inf"), float64(h.GetSampleCount()))
		add(name+"_sum", ls, h.GetSampleSum())
		add(name+"_count", ls, float64(h.GetSampleCount()))
	case dto.MetricType_SUMMARY:
		s := m.GetSummary()
		for _, q := range s.GetQuantile() {
			add(name, with("quantile", formatFloat(q.GetQuantile())), q.GetValue())
		}
		add(name+"_sum", ls, s.GetSampleSum())
		add(name+"_count", ls, float64(s.GetSampleCount()))
	default:
		add(name, ls, m.GetUntyped().GetValue())
	}
}

func formatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func keyOf(ls []label) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.name)
		b.WriteByte(0xfe)
		b.WriteString(l.value)
		b.WriteByte(0xff)
	}
	return b.String()
}

func sameSeries(a, b *seriesSet) bool {
	if len(a.series) != len(b.series) {
		return false
	}
	for i := range a.series {
		if a.series[i].key != b.series[i].key {
			return false
		}
	}
	return true
}

// encode returns the body of one remote-write request carrying batch
// (oldest first): each series once, with its samples in time order, as a
// snappy-compressed WriteRequest.
func encode(batch []*snapshot) ([]byte, error) {
	bySeries := map[string]*prompb.TimeSeries{}
	var order []*prompb.TimeSeries
	for _, s := range batch {
		for i, sr := range s.set.series {
			ts := bySeries[sr.key]
			if ts == nil {
				ts = &prompb.TimeSeries{}
				for _, l := range sr.labels {
					ts.Labels = append(ts.Labels, &prompb.Label{Name: l.name, Value: l.value})
				}
				bySeries[sr.key] = ts
				order = append(order, ts)
			}
			ts.Samples = append(ts.Samples, &prompb.Sample{Value: s.values[i], Timestamp: s.at})
		}
	}
	raw, err := proto.Marshal(&prompb.WriteRequest{Timeseries: order})
	if err != nil {
		return nil, err
	}
	return snappy.Encode(nil, raw), nil
}
