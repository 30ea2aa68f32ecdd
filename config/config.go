// Package config is fluxrelay's configuration file: its schema, defaults,
// strict loading and validation. Every problem is reported at once, as
// FILE:LINE:COL: key.path: what is wrong (got …, want …), in the words of
// the file, and secrets are never shown.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
)

// Config mirrors the TOML file.
type Config struct {
	Version int    `toml:"version"`
	DataDir string `toml:"data_dir"`
	// Timezone is the shop's zone for the status page, report and find
	// ("Africa/Lagos"); empty means the system's. The binary carries the
	// zone database.
	Timezone string `toml:"timezone"`
	// Gateway is this gateway's name in alerts, pushed metrics, the page's
	// title and status ("Ikeja City Mall"); empty means the host name
	// (GatewayName).
	Gateway string  `toml:"gateway"`
	Core    Core    `toml:"core"`
	Store   Store   `toml:"store"`
	HTTP    HTTP    `toml:"http"`
	MQTT    MQTT    `toml:"mqtt"`
	Admin   Admin   `toml:"admin"`
	Log     Log     `toml:"log"`
	Alerts  []Alert `toml:"alert"`
	// RemoteWrite are the Prometheus remote-write endpoints the daemon
	// pushes its metrics to.
	RemoteWrite []RemoteWrite `toml:"remote_write"`
	Sources     []Source      `toml:"source"`

	// Path is the file the config was loaded from.
	Path string `toml:"-"`
	// Warnings are the non-fatal problems found while loading.
	Warnings Problems `toml:"-"`
}

// Core is the Fluxvend core webhook.
type Core struct {
	URL          string   `toml:"url"`
	TenantID     string   `toml:"tenant_id"`
	APIKey       Secret   `toml:"api_key"`
	APISecret    Secret   `toml:"api_secret"`
	SignatureKey string   `toml:"signature_key"`
	Timeout      Duration `toml:"timeout"`
	Concurrency  int      `toml:"concurrency"`
	RetryMaxWait Duration `toml:"retry_max_wait"`
	MaxAge       Duration `toml:"max_age"`
}

// Store is the durable queue.
type Store struct {
	MaxDisk     Size     `toml:"max_disk"`
	DedupWindow Duration `toml:"dedup_window"`
	Retention   Duration `toml:"retention"`
	// KeepDelivered is how long delivered and ignored records are safe
	// from eviction when the disk budget runs low.
	KeepDelivered     Duration `toml:"keep_delivered"`
	EncryptionKeyFile string   `toml:"encryption_key_file"`
}

// HTTP is the ingest listener.
type HTTP struct {
	Listen         string   `toml:"listen"`
	MaxBody        Size     `toml:"max_body"`
	TrustedProxies []string `toml:"trusted_proxies"`
	TLSCertFile    string   `toml:"tls_cert_file"`
	TLSKeyFile     string   `toml:"tls_key_file"`
}

// MQTT is the embedded broker or the external broker subscription.
type MQTT struct {
	Mode        string `toml:"mode"`
	Listen      string `toml:"listen"`
	Broker      string `toml:"broker"`
	TopicPrefix string `toml:"topic_prefix"`
	ClientID    string `toml:"client_id"`
	Username    string `toml:"username"`
	Password    Secret `toml:"password"`
	SharedGroup string `toml:"shared_group"`
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	CAFile      string `toml:"ca_file"`
	// PublishStatus (external mode) keeps a retained
	// {topic_prefix}/_gateway/{gateway}/status on the broker: "online",
	// and "offline" (the last will) once the gateway is gone.
	PublishStatus bool       `toml:"publish_status"`
	Users         []MQTTUser `toml:"user"`
}

// MQTTUser is one terminal's login on the embedded broker: a password, or
// its bcrypt hash (fluxrelay mqtt-passwd makes one), and the sources it
// may publish for (none listed: all of them).
type MQTTUser struct {
	Username     string   `toml:"username"`
	Password     Secret   `toml:"password"`
	PasswordHash string   `toml:"password_hash"`
	Sources      []string `toml:"sources"`
}

// Admin is the CLI back end, metrics and status page.
type Admin struct {
	Socket     string `toml:"socket"`
	Listen     string `toml:"listen"`
	Token      Secret `toml:"token"`
	PageListen string `toml:"page_listen"`
	// PagePIN (4–8 digits), when set, guards the recent payments, the
	// search and the totals on the status page, once per device.
	PagePIN Secret `toml:"page_pin"`
	// PageContact is shown on the page whenever a person is needed.
	PageContact string `toml:"page_contact"`
}

// Log sets the log output.
type Log struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// Alert is one [[alert]] table: somewhere to tell a person when something
// needs them.
type Alert struct {
	// URL receives the alert. It is a secret: a Telegram URL carries the
	// bot's token.
	URL Secret `toml:"url"`
	// Format is "json" (POST the event) or "telegram" (Bot API sendMessage).
	Format string `toml:"format"`
	// ChatID is the Telegram chat to write to.
	ChatID string `toml:"chat_id"`
	// MinInterval is the least time between two alerts of a kind; "back to
	// OK" is always sent.
	MinInterval Duration `toml:"min_interval"`
	// Heartbeat, when set, sends a "still alive" event this often (and at
	// start): its absence tells a team without Prometheus that the
	// gateway went silent.
	Heartbeat Duration `toml:"heartbeat"`
}

// RemoteWrite is one [[remote_write]] table: a Prometheus remote-write
// endpoint that receives the daemon's metrics every Interval.
type RemoteWrite struct {
	// URL is a secret: it may carry a token.
	URL         Secret   `toml:"url"`
	Interval    Duration `toml:"interval"`
	BearerToken Secret   `toml:"bearer_token"`
	Username    string   `toml:"username"`
	Password    Secret   `toml:"password"`
}

// Source is one [[source]] table: where notifications come from and how
// they are checked and forwarded.
type Source struct {
	Name       string   `toml:"name"`
	Provider   string   `toml:"provider"`
	Secret     Secret   `toml:"secret"`
	Allow      []string `toml:"allow"`
	Forward    string   `toml:"forward"`
	ForwardURL string   `toml:"forward_url"`

	// Provider-specific keys.
	MerchantID    string   `toml:"merchant_id"`    // opay-pos
	BusinessID    string   `toml:"business_id"`    // vesicash
	SignatureMode string   `toml:"signature_mode"` // vesicash
	MaxSkew       Duration `toml:"max_skew"`       // moniepoint-pos

	// A source of another Fluxvend tenant: all four together.
	CoreURL   string `toml:"core_url"`
	TenantID  string `toml:"tenant_id"`
	APIKey    Secret `toml:"api_key"`
	APISecret Secret `toml:"api_secret"`
}

// Providers are the accepted values of source.provider.
var Providers = []string{"core", "monnify", "opay", "opay-pos", "moniepoint-pos", "vesicash"}

// Default returns the configuration used for every key the file leaves out.
func Default() *Config {
	return &Config{
		Version: 1,
		DataDir: defaultDataDir(),
		Core: Core{
			SignatureKey: "secret",
			Timeout:      Duration(15e9),
			Concurrency:  4,
			RetryMaxWait: Duration(5 * 60e9),
			MaxAge:       Duration(7 * 24 * 3600e9),
		},
		Store: Store{MaxDisk: 1 << 30, DedupWindow: Duration(30 * 24 * 3600e9), Retention: Duration(30 * 24 * 3600e9),
			KeepDelivered: Duration(24 * 3600e9)},
		HTTP:  HTTP{Listen: "0.0.0.0:8088", MaxBody: 1 << 20},
		MQTT:  MQTT{Mode: "embedded", Listen: "0.0.0.0:1883", TopicPrefix: "fluxrelay"},
		Admin: Admin{Socket: defaultSocket(), Listen: "127.0.0.1:8089"},
		Log:   Log{Level: "info", Format: "text"},
	}
}

// GatewayName is this gateway's name: gateway, else the host name.
func (c *Config) GatewayName() string {
	if c.Gateway != "" {
		return c.Gateway
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "fluxrelay"
}

// DefaultPath is the config file used when neither -c nor $FLUXRELAY_CONFIG
// names one.
func DefaultPath() string {
	if runtime.GOOS == "windows" {
		return filepath.Join(programData(), "fluxrelay", "fluxrelay.toml")
	}
	return "/etc/fluxrelay/fluxrelay.toml"
}

func defaultDataDir() string {
	if runtime.GOOS == "windows" {
		return filepath.Join(programData(), "fluxrelay", "data")
	}
	return "/var/lib/fluxrelay"
}

func defaultSocket() string {
	if runtime.GOOS == "linux" {
		return "/run/fluxrelay/admin.sock"
	}
	return ""
}

// ErrNoConfig means the config file does not exist; ErrUnreadable that
// this user may not read it.
var (
	ErrNoConfig   = errors.New("config file not found")
	ErrUnreadable = errors.New("permission denied reading the config file")
)

// installedExample is where the packages put the annotated example.
const installedExample = "/usr/share/doc/fluxrelay/fluxrelay.example.toml"

// ExamplePath is where the annotated example config is on this machine:
// the installed copy (on Windows, beside fluxrelay.exe), else the one in a
// source tree.
func ExamplePath() string {
	installed := installedExample
	if exe, err := os.Executable(); err == nil && runtime.GOOS == "windows" {
		installed = filepath.Join(filepath.Dir(exe), "fluxrelay.example.toml")
	}
	if _, err := os.Stat(installed); err == nil {
		return installed
	}
	return "packaging/fluxrelay.example.toml in the source"
}

// Load reads, decodes and validates the file at path. An invalid file gives
// Problems holding every error; warnings are in Config.Warnings.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (give another with -c FILE or $FLUXRELAY_CONFIG, or copy the example from %s)", path, ErrNoConfig, ExamplePath())
	}
	if errors.Is(err, fs.ErrPermission) {
		hint := "run with sudo, or join the group fluxrelay: sudo adduser $USER fluxrelay, then log in again"
		if runtime.GOOS == "windows" { // readable by Administrators and the service only
			hint = "run it from an elevated prompt: right-click Command Prompt, Run as administrator"
		}
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrUnreadable, hint)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c, problems := Parse(path, data)
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 && runtime.GOOS != "windows" {
		problems = append(problems, Problem{File: path, Msg: fmt.Sprintf("the file is readable by every user (mode %04o) and may hold secrets; run chmod 640 %s", fi.Mode().Perm(), path), Warn: true})
	}
	for _, p := range problems {
		if !p.Warn {
			return nil, problems
		}
	}
	c.Warnings = problems
	return c, nil
}

// Parse decodes and validates a config document. Relative paths are taken
// from the file's folder. It returns every error and warning found.
func Parse(path string, data []byte) (*Config, Problems) {
	c := Default()
	c.Path = path
	data, bom := withoutBOM(path, data)
	var first Problems
	if bom != nil {
		first = Problems{*bom}
	}
	root, prob := parseTree(data)
	if prob != nil {
		prob.File = path
		return c, append(first, *prob)
	}
	d := &decoder{file: path, dir: filepath.Dir(path), pos: map[string]Pos{}, elems: map[string][]string{}, problems: first}
	d.decodeConfig(root, c)
	v := &validator{decoder: d, c: c}
	v.validate(root)
	slices.SortStableFunc(d.problems, func(a, b Problem) int {
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line - b.Pos.Line
		}
		return a.Pos.Col - b.Pos.Col
	})
	return c, d.problems
}
