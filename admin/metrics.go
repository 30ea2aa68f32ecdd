package admin

import (
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are fluxrelay's Prometheus metrics. Counters and gauges are read
// from the Backend's status at scrape time; delivery latency is observed
// as deliveries happen.
type Metrics struct {
	b        Backend
	latency  prometheus.Histogram
	outcomes *prometheus.CounterVec
	reg      *prometheus.Registry
}

var (
	descIngested  = prometheus.NewDesc("fluxrelay_ingested_total", "Notifications received, by source and result.", []string{"source", "result"}, nil)
	descDelivered = prometheus.NewDesc("fluxrelay_delivered_total", "Notifications delivered, by source.", []string{"source"}, nil)
	descUnclean   = prometheus.NewDesc("fluxrelay_unclean_restarts_total", "Starts after a stop that was not clean (power cuts, kills, crashes).", nil, nil)
	descBuild     = prometheus.NewDesc("fluxrelay_build_info", "1, with the version of fluxrelay and of Go as labels.", []string{"version", "goversion"}, nil)
	descPanics    = prometheus.NewDesc("fluxrelay_parser_panics_total", "Notifications a provider's parser failed on (a fluxrelay bug; each was refused), by source.", []string{"source"}, nil)
	descQueue     = prometheus.NewDesc("fluxrelay_queue_depth", "Notifications waiting to be delivered.", nil, nil)
	descOldest    = prometheus.NewDesc("fluxrelay_oldest_pending_age_seconds", "Age of the oldest notification waiting.", nil, nil)
	descDead      = prometheus.NewDesc("fluxrelay_dead_letters", "Notifications waiting for a person.", nil, nil)
	descDiskFree  = prometheus.NewDesc("fluxrelay_disk_free_bytes", "Free space on the data disk.", nil, nil)
	descDiskUsed  = prometheus.NewDesc("fluxrelay_store_disk_used_bytes", "Disk space the store uses.", nil, nil)
	descCommits   = prometheus.NewDesc("fluxrelay_store_commits_total", "Synced store transactions (each one flush of the disk).", nil, nil)
	descWrites    = prometheus.NewDesc("fluxrelay_store_writes_total", "Store writes carried by those transactions (writes ÷ commits is the batch size).", nil, nil)
	descSyncFail  = prometheus.NewDesc("fluxrelay_store_sync_failures_total", "Failed syncs of the store's files (each stops acknowledging until the store has re-opened).", nil, nil)
	descRefusing  = prometheus.NewDesc("fluxrelay_store_writes_refused", "1 while the store refuses every write after a failed sync.", nil, nil)
	descEvicted   = prometheus.NewDesc("fluxrelay_store_evicted_total", "Delivered and ignored notifications evicted for disk space.", nil, nil)
	descEvictedAt = prometheus.NewDesc("fluxrelay_store_last_eviction_timestamp_seconds", "When eviction for disk space last ran (absent before the first).", nil, nil)
	descReachable = prometheus.NewDesc("fluxrelay_core_reachable", "1 when the Fluxvend core answered the last attempt.", nil, nil)
	descReloadOK  = prometheus.NewDesc("fluxrelay_config_last_reload_successful", "1 when the last config (re)load succeeded.", nil, nil)
	descReloadAt  = prometheus.NewDesc("fluxrelay_config_last_reload_timestamp_seconds", "When the config was last (re)loaded.", nil, nil)
	descClockOK   = prometheus.NewDesc("fluxrelay_clock_ok", "1 when the clock reads a plausible date.", nil, nil)
	descSkew      = prometheus.NewDesc("fluxrelay_clock_skew_seconds", "This clock minus Fluxvend's, from the Date header of its last answer.", nil, nil)
	descState     = prometheus.NewDesc("fluxrelay_state", "1 for the gateway's current state.", []string{"state"}, nil)
	descPaused    = prometheus.NewDesc("fluxrelay_deliveries_paused", "1 while deliveries to a webhook are paused for a person (credentials, IP whitelist, URL), by webhook mode.", []string{"mode"}, nil)
	descLastDeliv = prometheus.NewDesc("fluxrelay_last_delivery_timestamp_seconds", "When a notification was last delivered (absent until the first).", nil, nil)
	descTime      = prometheus.NewDesc("fluxrelay_time_seconds", "This gateway's clock when the metrics were gathered: in pushed metrics, when the gateway was last heard from.", nil, nil)
)

// The [[remote_write]] endpoints, by their place in the file ("1", "2", …).
var (
	descRWOK       = prometheus.NewDesc("fluxrelay_remote_write_last_push_successful", "1 when the last push to the endpoint was accepted.", []string{"endpoint"}, nil)
	descRWSuccess  = prometheus.NewDesc("fluxrelay_remote_write_last_success_timestamp_seconds", "When a push to the endpoint was last accepted.", []string{"endpoint"}, nil)
	descRWWaiting  = prometheus.NewDesc("fluxrelay_remote_write_waiting_snapshots", "Snapshots not yet pushed to the endpoint.", []string{"endpoint"}, nil)
	descRWSnapshot = prometheus.NewDesc("fluxrelay_remote_write_snapshots_total", "Snapshots for the endpoint, by result: sent, refused (by the receiver, for good), dropped (buffer full, clock went back).", []string{"endpoint", "result"}, nil)
)

// NewMetrics registers fluxrelay's metrics (and the Go runtime's).
func NewMetrics(b Backend) *Metrics {
	m := &Metrics{
		b: b, reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fluxrelay_delivery_latency_seconds",
			Help:    "From receipt to delivery at the Fluxvend core.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600},
		}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fluxrelay_deliveries_total",
			Help: "Delivery attempts, by result: delivered, retry, unreachable, paused, dead_letter.",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m, m.latency, m.outcomes, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is what /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Delivery records one delivery attempt's result and, when delivered, its
// latency since receipt.
func (m *Metrics) Delivery(result string, sinceReceipt time.Duration) {
	m.outcomes.WithLabelValues(result).Inc()
	if result == "delivered" {
		m.latency.Observe(sinceReceipt.Seconds())
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIngested, descDelivered, descPanics, descQueue, descOldest, descDead, descDiskFree, descDiskUsed, descCommits, descWrites, descSyncFail, descRefusing, descEvicted, descEvictedAt, descReachable, descReloadOK, descReloadAt, descClockOK, descSkew, descState, descPaused, descBuild, descUnclean,
		descLastDeliv, descTime, descRWOK, descRWSuccess, descRWWaiting, descRWSnapshot} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	st := m.b.Status()
	for name, s := range st.Sources {
		for result, v := range map[string]int64{"queued": s.Queued, "duplicate": s.Duplicates, "ignored": s.Ignored, "held": s.Held, "rejected": s.Rejected} {
			ch <- prometheus.MustNewConstMetric(descIngested, prometheus.CounterValue, float64(v), name, result)
		}
		ch <- prometheus.MustNewConstMetric(descDelivered, prometheus.CounterValue, float64(s.Delivered), name)
		ch <- prometheus.MustNewConstMetric(descPanics, prometheus.CounterValue, float64(s.ParserPanics), name)
	}
	ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, st.Version, runtime.Version())
	ch <- prometheus.MustNewConstMetric(descUnclean, prometheus.CounterValue, float64(st.UncleanRestarts))
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	gauge(descQueue, float64(st.QueueDepth))
	gauge(descOldest, float64(st.OldestPendingAgeSeconds))
	gauge(descDead, float64(st.DeadLetters))
	gauge(descDiskFree, float64(st.DiskFreeBytes))
	gauge(descDiskUsed, float64(st.DiskUsedBytes))
	ch <- prometheus.MustNewConstMetric(descCommits, prometheus.CounterValue, float64(st.StoreCommits))
	ch <- prometheus.MustNewConstMetric(descWrites, prometheus.CounterValue, float64(st.StoreWrites))
	ch <- prometheus.MustNewConstMetric(descSyncFail, prometheus.CounterValue, float64(st.StoreSyncFailures))
	gauge(descRefusing, boolFloat(st.StoreWritesRefused != ""))
	ch <- prometheus.MustNewConstMetric(descEvicted, prometheus.CounterValue, float64(st.StoreEvicted))
	if st.StoreLastEviction != nil {
		gauge(descEvictedAt, float64(st.StoreLastEviction.Unix()))
	}
	gauge(descReachable, boolFloat(st.CoreReachable != nil && *st.CoreReachable))
	gauge(descReloadOK, boolFloat(st.ConfigReload.OK))
	gauge(descReloadAt, float64(st.ConfigReload.At.Unix()))
	gauge(descClockOK, boolFloat(st.ClockOK))
	if st.ClockSkewSeconds != nil {
		gauge(descSkew, *st.ClockSkewSeconds)
	}
	for _, s := range []string{StateOK, StateDelayed, StateActionNeeded} {
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, boolFloat(st.State == s), s)
	}
	for _, mode := range []string{"paused", "not_configured"} {
		n := 0.0
		for _, t := range st.Targets {
			if t.Mode == mode {
				n = 1
			}
		}
		ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, n, mode)
	}
	if st.LastDeliveryAt != nil {
		gauge(descLastDeliv, float64(st.LastDeliveryAt.UnixMilli())/1000)
	}
	gauge(descTime, float64(st.Clock.UnixMilli())/1000)
	collectRemoteWrite(ch, st.RemoteWrite)
}

func collectRemoteWrite(ch chan<- prometheus.Metric, rws []RemoteWriteStatus) {
	for _, rw := range rws {
		ep := strconv.Itoa(rw.Endpoint)
		ch <- prometheus.MustNewConstMetric(descRWOK, prometheus.GaugeValue, boolFloat(rw.OK), ep)
		if rw.LastSuccess != nil {
			ch <- prometheus.MustNewConstMetric(descRWSuccess, prometheus.GaugeValue, float64(rw.LastSuccess.UnixMilli())/1000, ep)
		}
		ch <- prometheus.MustNewConstMetric(descRWWaiting, prometheus.GaugeValue, float64(rw.Waiting), ep)
		for result, n := range map[string]int64{"sent": rw.Sent, "refused": rw.Refused, "dropped": rw.Dropped} {
			ch <- prometheus.MustNewConstMetric(descRWSnapshot, prometheus.CounterValue, float64(n), ep, result)
		}
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
