package config

import (
	"strings"
	"testing"
)

// TestOpenDoorsWarn: check-config warns, naming the line, about a core
// source anyone can post to, an unsigned source that allows every address,
// and an admin API whose changes nobody can make; it says nothing about a
// signed source or an allow list that names its senders.
func TestOpenDoorsWarn(t *testing.T) {
	doc := `version = 1
data_dir = "data"
[admin]
socket = ""
listen = "127.0.0.1:8089"
[[source]]
name = "till"
provider = "core"
[[source]]
name = "app"
provider = "core"
secret = "app-secret-1"
allow = ["0.0.0.0/0"]
[[source]]
name = "lan-till"
provider = "core"
allow = ["192.168.1.20/32"]
[[source]]
name = "opay-pos"
provider = "opay-pos"
merchant_id = "256612345678901"
allow = ["0.0.0.0/0"]
[[source]]
name = "opay"
provider = "opay"
secret = "OPAYPRV-demo-0001"
allow = ["0.0.0.0/0"]
`
	_, problems := Parse("shop.toml", []byte(doc))
	var warnings []string
	for _, p := range problems {
		if !p.Warn {
			t.Fatalf("an error: %v", p)
		}
		if p.Key != "gateway" { // every config without a name gets it
			warnings = append(warnings, p.String())
		}
	}
	got := strings.Join(warnings, "\n")
	for _, want := range []string{
		`shop.toml:6:1: warning: source[till].allow: source "till" has neither secret nor allow`,
		`shop.toml:22:1: warning: source[opay-pos].allow[1]: "0.0.0.0/0" lets every address in, and source "opay-pos" checks no signature`,
		`shop.toml:3:1: warning: admin.token: is empty and admin.socket is off`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no warning %q in:\n%s", want, got)
		}
	}
	if len(warnings) != 3 {
		t.Errorf("%d warnings; want 3:\n%s", len(warnings), got)
	}
}
