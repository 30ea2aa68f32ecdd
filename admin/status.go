package admin

import (
	"fmt"
	"strings"
	"time"

	"github.com/fluxrelay/fluxrelay/health"
)

// States of the whole gateway, as the status page colours them.
const (
	StateOK           = health.OK
	StateDelayed      = health.Delayed
	StateActionNeeded = health.ActionNeeded
)

// SourceStatus counts one source's notifications since the start.
type SourceStatus struct {
	Received   int64 `json:"received"`
	Queued     int64 `json:"queued"`
	Duplicates int64 `json:"duplicates"`
	Ignored    int64 `json:"ignored"`
	Held       int64 `json:"held"`
	Rejected   int64 `json:"rejected"`
	Delivered  int64 `json:"delivered"`
	// ParserPanics counts notifications a provider's parser failed on
	// (each also counted as rejected): a fluxrelay bug to report.
	ParserPanics int64 `json:"parser_panics"`
}

// TargetStatus is the state of deliveries to one webhook.
type TargetStatus struct {
	URL       string    `json:"url"`
	Mode      string    `json:"mode"` // ok, outage, paused, not_configured
	Reason    string    `json:"reason,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	Reachable *bool     `json:"reachable"`
	// ClockSkewSeconds is this gateway's clock minus the webhook's, from
	// the Date header of its last answer.
	ClockSkewSeconds *float64 `json:"clock_skew_seconds,omitempty"`
	LastError        string   `json:"last_error,omitempty"`
}

// Rejection is a refused notification, kept in memory for status.
type Rejection struct {
	At       time.Time `json:"at"`
	Source   string    `json:"source"`
	Peer     string    `json:"peer,omitempty"`
	Terminal string    `json:"terminal,omitempty"`
	Outcome  string    `json:"outcome"` // not_genuine, bad_input, not_allowed, conflict, …
	Error    string    `json:"error"`
}

// ListenerStatus says whether a listener is up.
type ListenerStatus struct {
	Key   string `json:"key"`
	Addr  string `json:"addr,omitempty"`
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`
}

// ReloadResult is the outcome of the last config load or reload.
type ReloadResult struct {
	At            time.Time `json:"at,omitzero"`
	OK            bool      `json:"ok"`
	Error         string    `json:"error,omitempty"`
	RestartNeeded []string  `json:"restart_needed,omitempty"`
}

// Status is what `fluxrelay status --json` prints and /api/status serves.
type Status struct {
	// Gateway is this gateway's name: config gateway, else the host name.
	Gateway string   `json:"gateway"`
	State   string   `json:"state"`
	Reasons []string `json:"reasons"`
	// ReasonsDetail are the same reasons with their codes (health.Codes)
	// and the state each raises, for the doctor and for machines.
	ReasonsDetail []health.Reason `json:"reasons_detail"`
	// Staff says the state to the shop's staff: one plain sentence per
	// cause, with no config key, error text, URL or address.
	Staff []string `json:"staff"`
	// Location is the shop's time zone (config timezone), for the page.
	Location *time.Location `json:"-"`
	// Timezone names Location, in which the command line prints times
	// ("Local": the machine's own zone). The API's times are UTC.
	Timezone                string     `json:"timezone"`
	QueueDepth              int64      `json:"queue_depth"`
	OldestPendingAgeSeconds int64      `json:"oldest_pending_age_seconds"`
	DeadLetters             int64      `json:"dead_letters"`
	LastDeliveryAt          *time.Time `json:"last_delivery_at"`
	LastError               string     `json:"last_error"`
	CoreReachable           *bool      `json:"core_reachable"`
	DiskUsedBytes           int64      `json:"disk_used_bytes"`
	DiskFreeBytes           int64      `json:"disk_free_bytes"`
	// StoreCommits counts the store's synced transactions since start,
	// StoreWrites the writes they carried (their ratio is the batch size).
	StoreCommits int64 `json:"store_commits"`
	StoreWrites  int64 `json:"store_writes"`
	// StoreSyncFailures counts failed syncs of the store's files since
	// start; StoreWritesRefused says why every write is refused after one
	// (until the store has re-opened itself), or is empty.
	StoreSyncFailures  int64  `json:"store_sync_failures"`
	StoreWritesRefused string `json:"store_writes_refused,omitempty"`
	// StoreEvicted counts the delivered and ignored notifications evicted
	// for disk space since start; StoreLastEviction is when that last ran.
	StoreEvicted      int64      `json:"store_evicted"`
	StoreLastEviction *time.Time `json:"store_last_eviction,omitempty"`
	// StoreMigrating is set while a store written by an earlier release is
	// being brought up to date (its indexes back-filled).
	StoreMigrating   bool                      `json:"store_migrating,omitempty"`
	ClockOK          bool                      `json:"clock_ok"`
	ClockSkewSeconds *float64                  `json:"clock_skew_seconds"`
	Clock            time.Time                 `json:"clock"`
	ConfigReload     ReloadResult              `json:"config_reload"`
	Sources          map[string]SourceStatus   `json:"sources"`
	Targets          []TargetStatus            `json:"targets"`
	Listeners        map[string]ListenerStatus `json:"listeners"`
	StoreMovedAside  string                    `json:"store_moved_aside,omitempty"`
	// UncleanRestarts counts the starts after a stop that was not clean (a
	// power cut, a kill, a crash); LastUncleanRestart is the last one.
	UncleanRestarts    int         `json:"unclean_restarts"`
	LastUncleanRestart *time.Time  `json:"last_unclean_restart,omitempty"`
	Rejections         []Rejection `json:"recent_rejections"`
	Version            string      `json:"version"`
	StartedAt          time.Time   `json:"started_at"`

	// RemoteWrite is each [[remote_write]] endpoint's pushing, in the
	// order of the file.
	RemoteWrite []RemoteWriteStatus `json:"remote_write"`
}

// RemoteWriteStatus is one [[remote_write]] endpoint's pushing.
type RemoteWriteStatus struct {
	// Endpoint is the table's place in the file, from 1.
	Endpoint int `json:"endpoint"`
	// Host is the receiver's host (the URL is a secret; its host is not).
	Host string `json:"host"`
	// OK is true when the last push was accepted.
	OK          bool       `json:"ok"`
	LastSuccess *time.Time `json:"last_success"`
	// LastError says why a push last failed or what the receiver last
	// refused, and LastErrorAt when; they stay after a success.
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// Waiting is the snapshots not yet sent; Sent counts those accepted,
	// Refused those the receiver refused for good (4xx), Dropped those
	// lost to a full buffer or a clock that went back.
	Waiting int   `json:"waiting"`
	Sent    int64 `json:"sent"`
	Refused int64 `json:"refused"`
	Dropped int64 `json:"dropped"`
}

// Line is the state in one line, as systemctl status shows it: the state,
// the queue, and the first reason when there is one.
func (s Status) Line() string {
	line := fmt.Sprintf("%s; %d waiting, %d dead letters", strings.ToUpper(strings.ReplaceAll(s.State, "_", " ")), s.QueueDepth, s.DeadLetters)
	if len(s.Reasons) > 0 {
		line += "; " + s.Reasons[0]
		if len(s.Reasons) > 1 {
			line += fmt.Sprintf(" (and %d more)", len(s.Reasons)-1)
		}
	}
	return line
}
