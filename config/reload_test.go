package config

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestEveryKeyHasAReloadRule walks Config: a key that reload neither
// applies nor reports would be changed in the file, reloaded "OK", and
// silently never take effect.
func TestEveryKeyHasAReloadRule(t *testing.T) {
	keys := Keys()
	if len(keys) < 35 {
		t.Fatalf("found only %d keys; the walk is broken", len(keys))
	}
	for _, k := range keys {
		r, ok := ReloadRules[k]
		switch {
		case !ok:
			t.Errorf("%s has no reload rule: add it to ReloadRules as Live (and apply it on reload) or Restart (with why)", k)
		case r.Apply == Restart && r.Why == "":
			t.Errorf("%s needs a restart but does not say why", k)
		}
	}
	for k := range ReloadRules {
		if !slices.Contains(keys, k) {
			t.Errorf("ReloadRules names %s, which is not a key", k)
		}
	}
}

func TestKeepRestartOnly(t *testing.T) {
	running := &Config{DataDir: "/a", Log: Log{Level: "info", Format: "text"}, Admin: Admin{Token: NewSecret("old")}}
	running.MQTT.CAFile = "/ca-a"
	next := &Config{DataDir: "/b", Log: Log{Level: "debug", Format: "json"}, Admin: Admin{Token: NewSecret("new")}}
	next.MQTT.CAFile = "/ca-b"
	if got, want := Changed(running, next), []string{"admin.token", "data_dir", "log.format", "log.level", "mqtt.ca_file"}; !slices.Equal(got, want) {
		t.Errorf("changed %v; want %v", got, want)
	}
	kept := KeepRestartOnly(running, next)
	if want := []string{"data_dir", "log.format", "mqtt.ca_file"}; !slices.Equal(kept, want) {
		t.Errorf("restart keys %v; want %v", kept, want)
	}
	if next.DataDir != "/a" || next.Log.Format != "text" || next.MQTT.CAFile != "/ca-a" {
		t.Errorf("restart keys not kept at their running values: %+v", next)
	}
	if next.Log.Level != "debug" || next.Admin.Token.Value() != "new" {
		t.Errorf("live keys were reverted: level %s", next.Log.Level)
	}
}

func TestTimezone(t *testing.T) {
	dir := t.TempDir()
	for zone, ok := range map[string]bool{"Africa/Lagos": true, "": true, "Lagos": false, "UTC+1": false} {
		path := dir + "/c.toml"
		os.WriteFile(path, []byte("version = 1\ndata_dir = \"d\"\ntimezone = \""+zone+"\"\n"), 0o600)
		_, err := Load(path)
		if (err == nil) != ok {
			t.Errorf("timezone %q: %v; want ok=%v", zone, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "Africa/Lagos") {
			t.Errorf("timezone %q: the error does not show a valid zone: %v", zone, err)
		}
	}
}
