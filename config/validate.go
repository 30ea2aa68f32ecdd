package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

var lookupEnv = os.Getenv

// SourceName is the pattern every source name must match: it becomes part
// of a URL and an MQTT topic.
var SourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

type validator struct {
	*decoder
	c *Config
}

func (v *validator) errf(key, format string, args ...any) { v.add(v.at(key), key, format, args...) }

func (v *validator) warnf(key, format string, args ...any) { v.warn(v.at(key), key, format, args...) }

func (v *validator) validate(root *table) {
	c := v.c
	if _, ok := root.values["version"]; !ok {
		v.add(Pos{1, 1}, "version", "missing (want version = 1 at the top of the file)")
	} else if c.Version != 1 {
		v.errf("version", "got %d, want 1 (this fluxrelay reads version 1 files)", c.Version)
	}
	if c.DataDir == "" {
		v.errf("data_dir", `is empty (want a folder for the queue, e.g. "/var/lib/fluxrelay")`)
	} else {
		c.DataDir = resolve(v.dir, c.DataDir)
	}
	if c.Timezone != "" {
		if _, err := time.LoadLocation(c.Timezone); err != nil {
			v.errf("timezone", `got %q, which is not a time zone (want a zone name such as "Africa/Lagos", or "" for the system's)`, c.Timezone)
		}
	}
	v.gateway()
	v.core()
	v.store()
	v.http()
	v.mqtt()
	v.admin()
	v.listenClashes()
	v.log()
	v.alerts()
	v.remoteWrites()
	v.sources()
	v.openDoors()
}

func (v *validator) gateway() {
	g := v.c.Gateway
	switch {
	case g == "":
		v.warnf("gateway", "is empty: alerts, pushed metrics and the status page will call this gateway by its host name %q; set gateway = \"Shop name, branch\" so that people know which shop it is", v.c.GatewayName())
	case len(g) > 64:
		v.errf("gateway", "got %d characters, want at most 64 (a short name such as \"Ikeja City Mall\")", len(g))
	case hasControl(g):
		v.errf("gateway", "holds a control character; want a plain name such as \"Ikeja City Mall\"")
	}
}

func (v *validator) remoteWrites() {
	for i := range v.c.RemoteWrite {
		rw := &v.c.RemoteWrite[i]
		key := v.elems["remote_write"][i]
		v.needSecret(key+".url", rw.URL, "the receiver's remote-write address, e.g. https://prometheus.example/api/v1/write")
		if u, err := url.Parse(rw.URL.Value()); rw.URL.IsSet() && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
			v.errf(key+".url", "is not an http(s) URL (want e.g. https://prometheus.example/api/v1/write)")
		}
		if rw.Interval == 0 {
			rw.Interval = Duration(time.Minute)
		}
		v.between(key+".interval", rw.Interval.D(), time.Second, time.Hour)
		_, tokenFile := v.pos[key+".bearer_token_file"]
		_, tokenEnv := v.pos[key+".bearer_token_env"]
		token := rw.BearerToken.IsSet() || tokenFile || tokenEnv
		v.placeholder(key+".bearer_token", rw.BearerToken)
		switch {
		case token && rw.Username != "":
			v.errf(key+".username", "give either bearer_token or username and password, not both")
		case rw.Username != "":
			v.needSecret(key+".password", rw.Password, "the password for username on the receiver")
		case rw.Password.IsSet():
			v.errf(key+".password", "is only used with username")
		}
	}
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func (v *validator) alerts() {
	for i := range v.c.Alerts {
		a := &v.c.Alerts[i]
		key := v.elems["alert"][i]
		v.needSecret(key+".url", a.URL, "the address that receives the alert (for Telegram: https://api.telegram.org/bot<token>/sendMessage)")
		if u, err := url.Parse(a.URL.Value()); a.URL.IsSet() && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
			v.errf(key+".url", "is not an http(s) URL (want e.g. https://api.telegram.org/bot<token>/sendMessage)")
		}
		switch a.Format {
		case "":
			a.Format = "json"
		case "json":
		case "telegram":
			if a.ChatID == "" {
				v.errf(key+".chat_id", "missing: a telegram alert needs the chat to write to (the technician's chat id, e.g. \"123456789\")")
			}
		default:
			v.errf(key+".format", `got %q, want "json" or "telegram"`, a.Format)
		}
		if a.ChatID != "" && a.Format != "telegram" {
			v.errf(key+".chat_id", `is only for format = "telegram"`)
		}
		if a.MinInterval == 0 {
			a.MinInterval = Duration(15 * time.Minute)
		}
		v.between(key+".min_interval", a.MinInterval.D(), time.Minute, 7*24*time.Hour)
		if a.Heartbeat != 0 {
			v.between(key+".heartbeat", a.Heartbeat.D(), time.Hour, 30*24*time.Hour)
		}
	}
}

func (v *validator) core() {
	c := &v.c.Core
	if c.URL != "" {
		v.webhookURL("core.url", c.URL)
		v.needSecret("core.api_key", c.APIKey, "the API key from the Fluxvend portal (Developer → Integrations)")
		v.needSecret("core.api_secret", c.APISecret, "the API secret from the Fluxvend portal (Developer → Integrations)")
		if c.TenantID == "" {
			v.errf("core.tenant_id", "missing (want your Fluxvend tenant id; it is in the webhook URL after /i/)")
		} else if t := tenantInURL(c.URL); t != "" && t != c.TenantID {
			v.warnf("core.tenant_id", "%q differs from the tenant %q in core.url; check both in the Fluxvend portal", c.TenantID, t)
		}
	} else {
		v.placeholder("core.api_key", c.APIKey)
		v.placeholder("core.api_secret", c.APISecret)
	}
	if c.SignatureKey != "secret" && c.SignatureKey != "key:secret" {
		v.errf("core.signature_key", `got %q, want "secret" (HMAC key = api_secret) or "key:secret" (HMAC key = api_key:api_secret)`, c.SignatureKey)
	}
	v.between("core.timeout", c.Timeout.D(), time.Second, 5*time.Minute)
	if c.Concurrency < 1 || c.Concurrency > 64 {
		v.errf("core.concurrency", "got %d, want a number from 1 to 64", c.Concurrency)
	}
	v.between("core.retry_max_wait", c.RetryMaxWait.D(), time.Second, 24*time.Hour)
	v.between("core.max_age", c.MaxAge.D(), time.Hour, 365*24*time.Hour)
}

func (v *validator) store() {
	s := &v.c.Store
	if s.MaxDisk < 16<<20 {
		v.errf("store.max_disk", "got %s, want at least 16MiB", s.MaxDisk)
	}
	v.between("store.dedup_window", s.DedupWindow.D(), time.Hour, 3650*24*time.Hour)
	v.between("store.retention", s.Retention.D(), time.Hour, 3650*24*time.Hour)
	if s.KeepDelivered < 0 || s.KeepDelivered > s.Retention {
		v.errf("store.keep_delivered", "got %s, want from 0s to store.retention (%s)", s.KeepDelivered, s.Retention)
	}
	if s.EncryptionKeyFile != "" {
		s.EncryptionKeyFile = resolve(v.dir, s.EncryptionKeyFile)
		if _, err := ReadEncryptionKey(s.EncryptionKeyFile); err != nil {
			v.errf("store.encryption_key_file", "%v", err)
		}
	}
}

func (v *validator) http() {
	h := &v.c.HTTP
	v.listenAddr("http.listen", h.Listen)
	if h.MaxBody < 1<<10 || h.MaxBody > 16<<20 {
		v.errf("http.max_body", "got %s, want from 1KiB to 16MiB", h.MaxBody)
	}
	for i, p := range h.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			v.errf(fmt.Sprintf("http.trusted_proxies[%d]", i+1), `got %q, want an address or CIDR such as "127.0.0.1/32" or "10.0.0.0/8"`, p)
		}
	}
	v.tlsPair("http", &h.TLSCertFile, &h.TLSKeyFile)
}

func (v *validator) mqtt() {
	m := &v.c.MQTT
	switch m.Mode {
	case "embedded":
		v.listenAddr("mqtt.listen", m.Listen)
		v.tlsPair("mqtt", &m.TLSCertFile, &m.TLSKeyFile)
	case "external":
		if m.Broker == "" {
			v.errf("mqtt.broker", `missing (mqtt.mode is "external"; want e.g. "tcp://broker:1883" or "ssl://broker:8883")`)
		} else if u, err := url.Parse(m.Broker); err != nil || u.Host == "" || !slices.Contains([]string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"}, u.Scheme) {
			v.errf("mqtt.broker", `got %q, want "tcp://host:1883" or "ssl://host:8883"`, m.Broker)
		}
		if len(m.ClientID) > 23 {
			v.errf("mqtt.client_id", "got %d characters, want at most 23 (older brokers refuse longer ids)", len(m.ClientID))
		}
		if m.Username != "" {
			v.needSecret("mqtt.password", m.Password, "the password for mqtt.username on the broker")
		}
		if (m.TLSCertFile == "") != (m.TLSKeyFile == "") {
			v.errf("mqtt.tls_key_file", "give both mqtt.tls_cert_file and mqtt.tls_key_file, or neither")
		}
	case "off":
	default:
		v.errf("mqtt.mode", `got %q, want "embedded", "external" or "off"`, m.Mode)
	}
	if m.PublishStatus && m.Mode != "external" {
		v.errf("mqtt.publish_status", `is only used with mqtt.mode = "external" (it tells a central broker whether this gateway is up)`)
	}
	if m.TopicPrefix == "" || strings.ContainsAny(m.TopicPrefix, "+#") || strings.HasPrefix(m.TopicPrefix, "/") || strings.HasSuffix(m.TopicPrefix, "/") {
		v.errf("mqtt.topic_prefix", `got %q, want a topic prefix without wildcards or leading/trailing "/", e.g. "fluxrelay"`, m.TopicPrefix)
	}
	for _, f := range []*string{&m.CAFile, &m.TLSCertFile, &m.TLSKeyFile} {
		if *f != "" {
			*f = resolve(v.dir, *f)
		}
	}
	seen := map[string]bool{}
	for i, u := range m.Users {
		key := v.elems["mqtt.user"][i]
		if u.Username == "" {
			v.errf(key+".username", "missing (want the terminal's login name)")
		} else if seen[u.Username] {
			v.errf(key+".username", "%q is listed twice", u.Username)
		}
		seen[u.Username] = true
		_, viaFile := v.pos[key+".password_file"]
		_, viaEnv := v.pos[key+".password_env"]
		switch {
		case u.PasswordHash == "":
			v.needSecret(key+".password", u.Password, "the terminal's password")
		case u.Password.IsSet() || viaFile || viaEnv:
			v.errf(key+".password_hash", "give either password or password_hash, not both")
		default:
			if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
				v.errf(key+".password_hash", "is not a bcrypt hash (want what `fluxrelay mqtt-passwd` prints, starting $2a$ or $2b$)")
			}
		}
		for _, name := range u.Sources {
			if !slices.ContainsFunc(v.c.Sources, func(s Source) bool { return s.Name == name }) {
				v.errf(key+".sources", "names %q, which is not a [[source]]; want the names of the sources this terminal publishes for", name)
			}
		}
	}
}

func (v *validator) admin() {
	a := &v.c.Admin
	if a.Listen != "" {
		v.listenAddr("admin.listen", a.Listen)
		if !isLoopback(a.Listen) && !a.Token.IsSet() {
			v.errf("admin.token", "missing: admin.listen %q is reachable from the network, so the admin API needs a token (or use 127.0.0.1)", a.Listen)
		}
	}
	v.placeholder("admin.token", a.Token)
	if a.PageListen != "" {
		v.listenAddr("admin.page_listen", a.PageListen)
	}
	_, pinFile := v.pos["admin.page_pin_file"]
	_, pinEnv := v.pos["admin.page_pin_env"]
	v.placeholder("admin.page_pin", a.PagePIN)
	if pin := a.PagePIN.Value(); a.PagePIN.IsSet() && !placeholders[pin] && !pagePIN.MatchString(pin) {
		v.errf("admin.page_pin", "want 4 to 8 digits (the PIN shop staff type once on each phone)")
	}
	if a.PageListen != "" && !isLoopback(a.PageListen) && !a.PagePIN.IsSet() && !pinFile && !pinEnv {
		v.warnf("admin.page_pin", "is empty while admin.page_listen %q is reachable from the network: anyone on the shop's Wi-Fi can read today's payments and totals; set page_pin = \"4 to 8 digits\"", a.PageListen)
	}
	switch {
	case len(a.PageContact) > 80:
		v.errf("admin.page_contact", "got %d characters, want at most 80 (e.g. \"Call Emeka: 0803 000 0000\")", len(a.PageContact))
	case hasControl(a.PageContact):
		v.errf("admin.page_contact", "holds a control character; want one line such as \"Call Emeka: 0803 000 0000\"")
	}
}

// pagePIN is what admin.page_pin must look like.
var pagePIN = regexp.MustCompile(`^[0-9]{4,8}$`)

func (v *validator) log() {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, v.c.Log.Level) {
		v.errf("log.level", `got %q, want "debug", "info", "warn" or "error"`, v.c.Log.Level)
	}
	if v.c.Log.Format != "text" && v.c.Log.Format != "json" {
		v.errf("log.format", `got %q, want "text" or "json"`, v.c.Log.Format)
	}
}

// onlyFor says which provider each provider-specific key belongs to.
var onlyFor = map[string]string{"merchant_id": "opay-pos", "business_id": "vesicash", "signature_mode": "vesicash", "max_skew": "moniepoint-pos"}

func (v *validator) sources() {
	seen := map[string]bool{}
	for i := range v.c.Sources {
		s := &v.c.Sources[i]
		key := v.elems["source"][i]
		switch {
		case s.Name == "":
			v.errf(key+".name", "missing (want a short name such as \"monnify\"; it becomes the URL /notify/NAME)")
		case !SourceName.MatchString(s.Name):
			v.errf(key+".name", "got %q, want lower-case letters, digits, - and _ (at most 32, starting with a letter or digit)", s.Name)
		case seen[s.Name]:
			v.errf(key+".name", "%q is used by another [[source]]; names must be unique", s.Name)
		}
		seen[s.Name] = true
		if !slices.Contains(Providers, s.Provider) {
			v.errf(key+".provider", "got %q, want one of %s", s.Provider, strings.Join(Providers, ", "))
			continue
		}
		for k, p := range onlyFor {
			if _, given := v.pos[key+"."+k]; given && p != s.Provider {
				v.errf(key+"."+k, "is only for provider %q (this source is %q)", p, s.Provider)
			}
		}
		v.sourceSecurity(key, s)
		v.sourceForward(key, s)
	}
}

func (v *validator) sourceSecurity(key string, s *Source) {
	switch s.Provider {
	case "core":
		v.placeholder(key+".secret", s.Secret)
	case "opay-pos":
		if s.MerchantID == "" {
			v.errf(key+".merchant_id", "missing (want the merchantId OPay sends with each notification)")
		}
	case "vesicash":
		if s.SignatureMode == "" {
			s.SignatureMode = "A"
		}
		if !slices.Contains([]string{"A", "B", "none"}, s.SignatureMode) {
			v.errf(key+".signature_mode", `got %q, want "A", "B" or "none"`, s.SignatureMode)
		}
		if s.SignatureMode != "none" {
			v.needSecret(key+".secret", s.Secret, "the Vesicash private key")
		}
		if s.BusinessID == "" && s.SignatureMode != "none" {
			v.errf(key+".business_id", "missing (want your Vesicash business id)")
		}
	case "moniepoint-pos":
		v.needSecret(key+".secret", s.Secret, "the subscription secret shown once in the Moniepoint console")
		if s.MaxSkew == 0 {
			s.MaxSkew = Duration(5 * time.Minute)
		}
		v.between(key+".max_skew", s.MaxSkew.D(), 10*time.Second, 24*time.Hour)
	default:
		v.needSecret(key+".secret", s.Secret, "the provider's secret key")
	}
	if s.Provider != "core" && len(s.Allow) == 0 {
		hint := "the provider's source addresses"
		if h, ok := allowHint[s.Provider]; ok {
			hint = "the addresses " + s.Provider + " sends from; " + h
		}
		v.errf(key+".allow", "missing (want %s)", hint)
	}
	for i, a := range s.Allow {
		p, err := ParsePrefix(a)
		if err != nil {
			v.errf(fmt.Sprintf("%s.allow[%d]", key, i+1), `got %q, want an address or CIDR such as "35.242.133.146/32"`, a)
			continue
		}
		if p.Addr().IsLoopback() && len(v.c.HTTP.TrustedProxies) == 0 && s.Provider != "core" {
			v.warnf(fmt.Sprintf("%s.allow[%d]", key, i+1), "allows loopback while http.trusted_proxies is empty: behind a local tunnel every request would look local; list the tunnel in http.trusted_proxies instead")
		}
	}
}

func (v *validator) sourceForward(key string, s *Source) {
	switch s.Forward {
	case "", "core":
		s.Forward = "core"
		if s.ForwardURL != "" {
			v.errf(key+".forward_url", `is only used with forward = "raw"`)
		}
	case "raw":
		if s.ForwardURL == "" {
			v.errf(key+".forward_url", `missing (forward = "raw" sends the provider's request unchanged to this URL, e.g. Fluxvend's own Monnify webhook)`)
		} else {
			v.webhookURL(key+".forward_url", s.ForwardURL)
		}
	default:
		v.errf(key+".forward", `got %q, want "core" or "raw"`, s.Forward)
	}
	n := 0
	for _, set := range []bool{s.CoreURL != "", s.TenantID != "", s.APIKey.IsSet(), s.APISecret.IsSet()} {
		if set {
			n++
		}
	}
	if n > 0 && n < 4 {
		v.errf(key+".core_url", "a source for another Fluxvend tenant needs core_url, tenant_id, api_key and api_secret together (%d of 4 given)", n)
	}
	if s.CoreURL != "" {
		v.webhookURL(key+".core_url", s.CoreURL)
		v.placeholder(key+".api_key", s.APIKey)
		v.placeholder(key+".api_secret", s.APISecret)
	}
}

func (v *validator) needSecret(key string, s Secret, what string) {
	_, viaFile := v.pos[key+"_file"]
	_, viaEnv := v.pos[key+"_env"]
	if !s.IsSet() && !viaFile && !viaEnv {
		v.errf(key, "missing (want %s, given as %s, %s_file or %s_env)", what, lastPart(key), lastPart(key), lastPart(key))
		return
	}
	v.placeholder(key, s)
}

func (v *validator) placeholder(key string, s Secret) {
	if placeholders[strings.TrimSpace(s.value)] {
		v.errf(key, "is still the example placeholder (want the real value)")
	}
}

func (v *validator) between(key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.errf(key, "got %s, want from %s to %s", Duration(d), Duration(lo), Duration(hi))
	}
}

func (v *validator) webhookURL(key, raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		v.errf(key, `got %q, want a full URL starting with https:// (copy it from the Fluxvend portal)`, raw)
		return
	}
	if u.Scheme == "http" && !isLoopback(u.Host) {
		v.errf(key, `got %q, want https:// (plain http is only allowed to this machine, for mock-core)`, raw)
	}
	if u.User != nil {
		v.errf(key, "holds a user name or password; remove it (credentials go in api_key and api_secret)")
	}
}

func (v *validator) listenAddr(key, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		v.errf(key, `got %q, want host:port such as "0.0.0.0:8088" or "127.0.0.1:8089"`, addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.errf(key, "got %q: the port must be a number from 1 to 65535", addr)
		return
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		v.errf(key, "got %q, want an IP address (or empty for all) before the port", addr)
	}
}

func (v *validator) tlsPair(section string, cert, key *string) {
	if (*cert == "") != (*key == "") {
		v.errf(section+".tls_key_file", "give both %s.tls_cert_file and %s.tls_key_file, or neither", section, section)
		return
	}
	for _, f := range []struct {
		key  string
		path *string
	}{{section + ".tls_cert_file", cert}, {section + ".tls_key_file", key}} {
		if *f.path == "" {
			continue
		}
		*f.path = resolve(v.dir, *f.path)
		if _, err := os.Stat(*f.path); err != nil {
			v.errf(f.key, "cannot read %q: %v", *f.path, unwrapPathErr(err))
		}
	}
}

// ParsePrefix parses a CIDR or a single address (as a /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// ReadEncryptionKey reads a store encryption key: 16, 24 or 32 raw bytes,
// or a 32-byte key written as 64 hex digits. (Shorter hex is not taken:
// 32 raw bytes that happen to be hex digits would be read as a 16-byte key.)
func ReadEncryptionKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %v", path, unwrapPathErr(err))
	}
	if t := strings.TrimSpace(string(b)); len(t) == 64 { // a 32-byte key written as hex; shorter hex would be taken for raw bytes
		if k, err := hex.DecodeString(t); err == nil {
			return k, nil
		}
	}
	if n := len(b); n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("%q holds %d bytes, want a 32-byte AES key (e.g. made with: head -c 32 /dev/urandom > %s)", path, n, path)
	}
	return b, nil
}

func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tenantInURL returns the tenant in a Fluxvend webhook URL
// (…/webhooks/api/v1/i/{tenant}/{webhook}), or "".
func tenantInURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "i" && i > 0 && parts[i-1] == "v1" {
			return parts[i+1]
		}
	}
	return ""
}

func lastPart(key string) string { return key[strings.LastIndex(key, ".")+1:] }

func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// allowHint says, per provider, what to put in a missing allow list.
var allowHint = map[string]string{
	"monnify":        `allow = ["35.242.133.146/32"]`,
	"moniepoint-pos": `one seen sender is 141.147.77.31; Moniepoint publishes no list`,
	"opay":           `ask OPay, who publish no list; allow = ["0.0.0.0/0"] accepts any and relies on the signature`,
	"opay-pos":       `ask OPay, who publish no list; allow = ["0.0.0.0/0"] accepts any`,
	"vesicash":       `allow = ["52.204.32.79/32", "3.85.176.242/32"]`,
}

// openDoors warns about what lets anyone on the shop's network in: a
// source that takes unsigned notifications from any address, and an admin
// API whose changes nobody can make.
func (v *validator) openDoors() {
	for i := range v.c.Sources {
		v.openSource(v.elems["source"][i], &v.c.Sources[i])
	}
	a := v.c.Admin
	if a.Listen != "" && a.Socket == "" && !a.Token.IsSet() {
		v.warnf("admin.token", "is empty and admin.socket is off: fluxrelay dlq replay, dlq drop, replay and reload will be refused (a change through admin.listen needs the token); set token = \"a long random string\"")
	}
}

// openSource warns about one source whose notifications carry no
// signature (or one that does not cover the body) and whose allow list
// lets every address in.
func (v *validator) openSource(key string, s *Source) {
	_, secretFile := v.pos[key+".secret_file"]
	_, secretEnv := v.pos[key+".secret_env"]
	signed := s.Secret.IsSet() || secretFile || secretEnv
	unsigned := (s.Provider == "core" && !signed) || s.Provider == "opay-pos" ||
		(s.Provider == "vesicash" && (s.SignatureMode == "A" || s.SignatureMode == "none"))
	if !unsigned {
		return
	}
	if s.Provider == "core" && len(s.Allow) == 0 {
		v.warnf(key+".allow", "source %q has neither secret nor allow: anyone who can reach http.listen (a phone on the shop's Wi-Fi) can post a sale that never happened, and it is sent to Fluxvend; set secret (the app then signs each request) or allow = [\"the tills' addresses\"]", s.Name)
		return
	}
	for i, a := range s.Allow {
		if p, err := ParsePrefix(a); err == nil && p.Bits() == 0 {
			v.warnf(fmt.Sprintf("%s.allow[%d]", key, i+1), "%q lets every address in, and source %q checks no signature over the body: anyone who can reach this gateway can post a payment; list the sender's own addresses (a refused one shows in fluxrelay status)", a, s.Name)
		}
	}
}
