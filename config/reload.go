package config

import (
	"reflect"
	"slices"
	"strings"
)

// Apply is how a running daemon takes a changed key on reload.
type Apply int

// How a key applies.
const (
	// Live keys are applied by the reload itself.
	Live Apply = iota + 1
	// Restart keys keep their running value until the daemon restarts;
	// a reload that changes one says so in status and the log.
	Restart
)

// KeyRule classifies one key path.
type KeyRule struct {
	Apply Apply
	// Why says, for a restart key, why a reload cannot apply it.
	Why string
}

// ReloadRules classifies every key of the file, by its path as written
// there ("core.url", "mqtt.user"); a table of tables ("source",
// "mqtt.user") is classified whole. It is the one place that decides: a
// test walks Config and fails on any key not listed, so a new key cannot
// silently be ignored by reload.
var ReloadRules = map[string]KeyRule{
	"version": {Live, ""},

	"data_dir": {Restart, "the store is opened at start"},
	"timezone": {Live, ""},
	"gateway":  {Live, ""},

	"core.url":            {Live, ""},
	"core.tenant_id":      {Live, ""},
	"core.api_key":        {Live, ""},
	"core.api_secret":     {Live, ""},
	"core.signature_key":  {Live, ""},
	"core.timeout":        {Live, ""},
	"core.concurrency":    {Live, ""},
	"core.retry_max_wait": {Live, ""},
	"core.max_age":        {Live, ""},

	"store.max_disk":            {Restart, "the store is opened at start"},
	"store.dedup_window":        {Restart, "the store is opened at start"},
	"store.retention":           {Restart, "the store is opened at start"},
	"store.keep_delivered":      {Restart, "the store is opened at start"},
	"store.encryption_key_file": {Restart, "the store is opened with its key at start"},

	"http.listen":          {Restart, "listeners are bound at start"},
	"http.max_body":        {Restart, "the ingest handler is built at start"},
	"http.trusted_proxies": {Live, ""},
	"http.tls_cert_file":   {Restart, "the ingest listener's TLS is set up at start"},
	"http.tls_key_file":    {Restart, "the ingest listener's TLS is set up at start"},

	"mqtt.mode":           {Restart, "the broker or subscription is started at start"},
	"mqtt.listen":         {Restart, "listeners are bound at start"},
	"mqtt.broker":         {Restart, "the subscription connects at start"},
	"mqtt.topic_prefix":   {Restart, "the broker's topics are set at start"},
	"mqtt.client_id":      {Restart, "the subscription connects at start"},
	"mqtt.username":       {Restart, "the subscription connects at start"},
	"mqtt.password":       {Restart, "the subscription connects at start"},
	"mqtt.shared_group":   {Restart, "the subscription connects at start"},
	"mqtt.tls_cert_file":  {Restart, "the broker's or subscription's TLS is set up at start"},
	"mqtt.tls_key_file":   {Restart, "the broker's or subscription's TLS is set up at start"},
	"mqtt.ca_file":        {Restart, "the broker's or subscription's TLS is set up at start"},
	"mqtt.publish_status": {Restart, "the subscription connects, with its last will, at start"},
	"mqtt.user":           {Live, ""},

	"admin.socket":       {Restart, "listeners are bound at start"},
	"admin.listen":       {Restart, "listeners are bound at start"},
	"admin.token":        {Live, ""},
	"admin.page_listen":  {Restart, "listeners are bound at start"},
	"admin.page_pin":     {Live, ""},
	"admin.page_contact": {Live, ""},

	"log.level":  {Live, ""},
	"log.format": {Restart, "the log output is set up at start"},

	"alert":        {Live, ""},
	"remote_write": {Live, ""},
	"source":       {Live, ""},
}

// Changed returns the key paths whose values differ between a and b,
// sorted.
func Changed(a, b *Config) []string {
	var out []string
	walkKeys(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem(), "", func(path string, x, y reflect.Value) {
		if !reflect.DeepEqual(x.Interface(), y.Interface()) {
			out = append(out, path)
		}
	})
	slices.Sort(out)
	return out
}

// KeepRestartOnly sets every restart key of next to its value in running,
// so that the config made live is the one running: status then shows
// what runs. It returns the restart keys whose values differed, sorted.
func KeepRestartOnly(running, next *Config) []string {
	var kept []string
	walkKeys(reflect.ValueOf(running).Elem(), reflect.ValueOf(next).Elem(), "", func(path string, x, y reflect.Value) {
		if ReloadRules[path].Apply != Restart || reflect.DeepEqual(x.Interface(), y.Interface()) {
			return
		}
		y.Set(x)
		kept = append(kept, path)
	})
	slices.Sort(kept)
	return kept
}

// Keys returns every key path ReloadRules must classify, sorted.
func Keys() []string {
	var out []string
	var c Config
	v := reflect.ValueOf(&c).Elem()
	walkKeys(v, v, "", func(path string, _, _ reflect.Value) { out = append(out, path) })
	slices.Sort(out)
	return out
}

// walkKeys calls fn with each key's path and its values in a and b (two
// values of one struct type), descending into tables but not into arrays
// of tables.
func walkKeys(a, b reflect.Value, prefix string, fn func(path string, x, y reflect.Value)) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		path := prefix + name
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Secret]() {
			walkKeys(a.Field(i), b.Field(i), path+".", fn)
			continue
		}
		fn(path, a.Field(i), b.Field(i))
	}
}
