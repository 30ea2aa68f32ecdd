package config

import (
	"strings"
	"testing"
)

// TestByteOrderMark: a file saved with a byte-order mark (as Notepad does)
// is read, and check-config says to remove the mark, at its place.
func TestByteOrderMark(t *testing.T) {
	doc := "\uFEFFversion = 1\ngateway = \"Shop\"\ndata_dir = \"/var/lib/fluxrelay\"\ntimezone = \"Africa/Lagos\"\n"
	c, problems := Parse("fluxrelay.toml", []byte(doc))
	problems = withoutGatewayWarning(problems)
	if len(problems) != 1 {
		t.Fatalf("problems: %v; want only the byte-order mark's", problems)
	}
	want := "fluxrelay.toml:1:1: warning: remove the byte-order mark (BOM) at the start of the file"
	if p := problems[0]; !p.Warn || !strings.HasPrefix(p.String(), want) {
		t.Errorf("got %q; want it to start %q", p.String(), want)
	}
	if c.Version != 1 || c.Timezone != "Africa/Lagos" {
		t.Errorf("the file after the mark was not read: %+v", c)
	}
	// A mark before a broken document: both are said.
	_, problems = Parse("fluxrelay.toml", []byte("\uFEFFversion = = 1\n"))
	if len(problems) != 2 || !strings.Contains(problems[0].Msg, "byte-order mark") || problems[1].Warn {
		t.Errorf("a mark and a syntax error: %v", problems)
	}
}

// TestListenClashes: two listeners on one address (or one port on every
// address) is an error naming both keys; distinct ports, port 0 and a
// broker that is off are fine.
func TestListenClashes(t *testing.T) {
	for _, c := range []struct {
		name, http, mqttMode, mqtt, admin, page string
		wantKey                                 string
	}{
		{"mqtt on http's address", "0.0.0.0:8088", "embedded", "0.0.0.0:8088", "", "", "mqtt.listen"},
		{"mqtt on http's port, one on every address", "0.0.0.0:8088", "embedded", "127.0.0.1:8088", "", "", "mqtt.listen"},
		{"the page on the admin address", "0.0.0.0:8088", "off", "", "127.0.0.1:8089", "127.0.0.1:8089", "admin.page_listen"},
		{"mqtt off", "0.0.0.0:1883", "off", "0.0.0.0:1883", "", "", ""},
		{"distinct ports", "0.0.0.0:8088", "embedded", "0.0.0.0:1883", "127.0.0.1:8089", "0.0.0.0:8080", ""},
		{"distinct hosts", "192.168.1.5:8088", "embedded", "10.0.0.5:8088", "", "", ""},
		{"any free port", "127.0.0.1:0", "embedded", "127.0.0.1:0", "127.0.0.1:0", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := "version = 1\ngateway = \"Shop\"\ndata_dir = \"/var/lib/fluxrelay\"\n[http]\nlisten = \"" + c.http + "\"\n[mqtt]\nmode = \"" + c.mqttMode + "\"\n"
			if c.mqtt != "" {
				doc += "listen = \"" + c.mqtt + "\"\n"
			}
			doc += "[admin]\nlisten = \"" + c.admin + "\"\npage_listen = \"" + c.page + "\"\npage_pin = \"1234\"\ntoken = \"a-long-admin-token-0123456789\"\n"
			_, problems := Parse("fluxrelay.toml", []byte(doc))
			var errs []Problem
			for _, p := range problems {
				if !p.Warn {
					errs = append(errs, p)
				}
			}
			switch {
			case c.wantKey == "" && len(errs) > 0:
				t.Errorf("want no error, got %v", errs)
			case c.wantKey != "" && (len(errs) != 1 || errs[0].Key != c.wantKey || !strings.Contains(errs[0].Msg, "already listens on")):
				t.Errorf("want one error on %s, got %v", c.wantKey, errs)
			}
		})
	}
}
