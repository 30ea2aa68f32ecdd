package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestBrokenConfigs checks each broken config in testdata against its exact
// expected messages (FILE.err), every problem reported in one run.
func TestBrokenConfigs(t *testing.T) {
	t.Setenv("FLUXRELAY_TEST_UNSET_VAR", "")
	files, _ := filepath.Glob("testdata/bad_*.toml")
	if len(files) < 5 {
		t.Fatalf("found %d broken configs; the testdata folder is incomplete", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(f, ".toml") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			_, problems := Parse(filepath.Base(f), data)
			got := withoutGatewayWarning(problems).Error() + "\n"
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("messages differ (-want +got):\n%s", diff)
			}
		})
	}
}

// withoutGatewayWarning leaves out the warning every config without a
// gateway name gets, so that a test sees only what it is about (and on
// Windows the one every config without admin.token gets).
func withoutGatewayWarning(ps Problems) Problems {
	var out Problems
	for _, p := range ps {
		if !(p.Warn && p.Key == "gateway") && !tokenWarningOnWindows(p) {
			out = append(out, p)
		}
	}
	return out
}

// TestExampleConfig loads the shipped example exactly as shipped: it must
// be valid with no warning but the one that asks for the gateway's name,
// and it must mention every key of the schema.
func TestExampleConfig(t *testing.T) {
	const path = "../packaging/fluxrelay.example.toml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, problems := Parse(path, data)
	if len(withoutGatewayWarning(problems)) != 0 || problems[0].Key != "gateway" || !problems[0].Warn {
		t.Fatalf("the shipped example is not clean (want only the warning that gateway is empty):\n%v", problems)
	}
	if c.Core.URL != "" || len(c.Sources) != 0 || len(c.MQTT.Users) != 0 {
		t.Errorf("the example must ship unconfigured (core.url empty, sources and users commented out)")
	}
	if diff := cmp.Diff(Default(), c, cmp.FilterPath(func(p cmp.Path) bool {
		return p.String() == "Path" || p.String() == "Warnings"
	}, cmp.Ignore()), cmp.AllowUnexported(Secret{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the example's values differ from the defaults it documents (-default +example):\n%s", diff)
	}
	for _, key := range allKeys() {
		if !regexp.MustCompile(`(?m)^#?` + regexp.QuoteMeta(key) + ` = `).Match(data) {
			t.Errorf("the example does not show the key %q", key)
		}
	}

	// Uncommenting every table and filling in the secrets gives a valid
	// config: what a technician does on site.
	filled := regexp.MustCompile(`(?m)^#(\[\[|[a-z_]+ = )`).ReplaceAllString(string(data), "$1")
	filled = strings.NewReplacer(`"…"`, `"s3cret-value"`).Replace(filled)
	filled = strings.Replace(filled, `url = ""`, `url = "https://api.fluxvend.com/webhooks/api/v1/i/demo/core"`, 1)
	filled = strings.Replace(filled, `tenant_id = ""`, `tenant_id = "demo"`, 1)
	filled = strings.Replace(filled, `api_key = ""`, `api_key = "FXK_1"`, 1)
	filled = strings.Replace(filled, `api_secret = ""`, `api_secret = "FXS_1"`, 1)
	c, problems = Parse(path, []byte(filled))
	for _, p := range problems {
		if !p.Warn {
			t.Errorf("filled-in example: %v", p)
		}
	}
	if len(c.Sources) != 6 || len(c.MQTT.Users) != 1 {
		t.Errorf("filled-in example has %d sources and %d users; want 6 and 1", len(c.Sources), len(c.MQTT.Users))
	}
}

// allKeys lists every key of the schema as it is written in the file.
func allKeys() []string {
	return []string{"version", "data_dir",
		"url", "tenant_id", "api_key", "api_secret", "signature_key", "timeout", "concurrency", "retry_max_wait", "max_age",
		"max_disk", "dedup_window", "retention", "encryption_key_file",
		"listen", "max_body", "trusted_proxies", "tls_cert_file", "tls_key_file",
		"mode", "broker", "topic_prefix", "client_id", "username", "password", "shared_group", "ca_file",
		"socket", "token", "page_listen", "page_pin", "page_contact", "level", "format",
		"gateway", "keep_delivered", "interval", "bearer_token", "heartbeat", "publish_status",
		"name", "provider", "secret", "allow", "forward", "forward_url", "merchant_id", "business_id", "signature_mode", "max_skew"}
}

func TestSecretsFromFileAndEnv(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "core.secret"), []byte("  FXS_FROM_FILE\n"), 0o600)
	t.Setenv("FLUXRELAY_TEST_KEY", "FXK_FROM_ENV")
	doc := `version = 1
data_dir = "data"
[core]
url = "https://api.fluxvend.com/webhooks/api/v1/i/demo/core"
tenant_id = "demo"
api_key_env = "FLUXRELAY_TEST_KEY"
api_secret_file = "core.secret"
max_age = "2d12h"
`
	path := filepath.Join(dir, "fluxrelay.toml")
	c, problems := Parse(path, []byte(doc))
	if problems = withoutGatewayWarning(problems); len(problems) > 0 {
		t.Fatal(problems)
	}
	if c.Core.APISecret.Value() != "FXS_FROM_FILE" || c.Core.APIKey.Value() != "FXK_FROM_ENV" {
		t.Errorf("secrets not read from file and env")
	}
	if c.Core.MaxAge.D() != 60*time.Hour {
		t.Errorf("max_age = %v; want 60h", c.Core.MaxAge.D())
	}
	if c.DataDir != filepath.Join(dir, "data") {
		t.Errorf("data_dir = %q; want it resolved next to the config", c.DataDir)
	}
}

// TestSecretsNeverPrinted formats a loaded config and its problems every
// way a log line or error might, and looks for the secrets.
func TestSecretsNeverPrinted(t *testing.T) {
	doc := `version = 1
data_dir = "/tmp/x"
[core]
url = "https://api.fluxvend.com/webhooks/api/v1/i/demo/core"
tenant_id = "other"
api_key = "FXK_SECRET_KEY_1"
api_secret = "FXS_SECRET_VALUE_1"
timeout = "bad"
[[source]]
name = "monnify"
provider = "monnify"
secret = "MK_SECRET_VALUE_2"
allow = ["bad-cidr"]
[[mqtt.user]]
username = "till"
password = "TILL_PASSWORD_3"
`
	c, problems := Parse("f.toml", []byte(doc))
	out := problems.Error()
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		out += sprintf(f, c) + sprintf(f, *c) + sprintf(f, c.Core) + sprintf(f, c.Sources)
	}
	for _, secret := range []string{"FXK_SECRET_KEY_1", "FXS_SECRET_VALUE_1", "MK_SECRET_VALUE_2", "TILL_PASSWORD_3"} {
		if strings.Contains(out, secret) {
			t.Errorf("secret %q appears in formatted config or problems", secret)
		}
	}
	if c.Core.APISecret.Value() != "FXS_SECRET_VALUE_1" {
		t.Error("the secret value itself was lost")
	}
}

func TestParseDurationAndSize(t *testing.T) {
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour, "168h": 168 * time.Hour} {
		if got, err := ParseDuration(in); err != nil || got.D() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got.D(), err, want)
		}
	}
	for _, bad := range []string{"", "d", "7days", "-1d", "1w"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
	for in, want := range map[string]Size{"256KiB": 256 << 10, "1GiB": 1 << 30, "64MiB": 64 << 20, "100B": 100} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"1TB", "1 GB", "GiB", "-1MiB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

// FuzzLoad feeds the config parser arbitrary documents: it must never
// panic, and every problem must carry a message.
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"testdata/*.toml", "../packaging/*.toml", "../dev/*.toml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			b, _ := os.ReadFile(file)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, problems := Parse("fuzz.toml", doc)
		for _, p := range problems {
			if p.Msg == "" {
				t.Fatalf("a problem without a message: %+v", p)
			}
		}
	})
}

func TestReadEncryptionKey(t *testing.T) {
	dir := t.TempDir()
	raw := []byte("0123456789abcdef0123456789abcdef")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	if k, err := ReadEncryptionKey(write("raw", raw)); err != nil || string(k) != string(raw) {
		t.Errorf("raw 32 bytes: %q, %v", k, err)
	}
	hexKey := "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
	if k, err := ReadEncryptionKey(write("hex", []byte(hexKey))); err != nil || len(k) != 32 || k[1] != 0x11 || k[31] != 0xff {
		t.Errorf("hex key: %x, %v", k, err)
	}
	if _, err := ReadEncryptionKey(write("short", []byte("too short"))); err == nil || !strings.Contains(err.Error(), "want a 32-byte AES key") {
		t.Errorf("short key: %v", err)
	}
}

// A port past 65535 is refused by check-config, not found by run retrying
// "invalid port" forever.
func TestListenPortInRange(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:80888": false, "0.0.0.0:8088": true, "127.0.0.1:-1": false, "127.0.0.1:http": false} {
		doc := "version = 1\ndata_dir = \"/tmp/x\"\n[http]\nlisten = \"" + addr + "\"\n"
		_, problems := Parse("p.toml", []byte(doc))
		if got := problems == nil || !strings.Contains(problems.Error(), "http.listen"); got != ok {
			t.Errorf("%s: problems %v", addr, problems)
		}
	}
}

// A missing or unreadable config says what to do about it.
func TestUnreadableConfigSaysWhatToDo(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.toml"))
	if !errors.Is(err, ErrNoConfig) || !strings.Contains(err.Error(), "fluxrelay.example.toml") {
		t.Errorf("missing: %v", err)
	}
	if os.Geteuid() == 0 {
		t.Log("running as root, which reads any file: the permission case is not tried")
		return
	}
	if runtime.GOOS == "windows" {
		t.Skip("skipped on Windows: mode bits do not guard a file there (os.Chmod only sets read-only), its ACL does, and wine does not enforce ACLs")
	}
	path := filepath.Join(t.TempDir(), "locked.toml")
	os.WriteFile(path, []byte("version = 1\n"), 0o000)
	if _, err := Load(path); !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), "sudo") {
		t.Errorf("unreadable: %v", err)
	}
}

// TestGatewayAndPageWarnings: a config without a gateway name, or with a
// page reachable from the network and no PIN, is valid but warned about.
func TestGatewayAndPageWarnings(t *testing.T) {
	doc := "version = 1\ndata_dir = \"/tmp/x\"\n[admin]\npage_listen = \"0.0.0.0:8080\"\n"
	_, problems := Parse("f.toml", []byte(doc))
	var keys []string
	for _, p := range problems {
		if !p.Warn {
			t.Errorf("unexpected error: %v", p)
		}
		if !tokenWarningOnWindows(p) {
			keys = append(keys, p.Key)
		}
	}
	if diff := cmp.Diff([]string{"gateway", "admin.page_pin"}, keys); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	doc = "version = 1\ndata_dir = \"/tmp/x\"\ngateway = \"Ikeja City Mall\"\n[admin]\npage_listen = \"127.0.0.1:8080\"\n"
	if _, problems := Parse("f.toml", []byte(doc)); len(withoutGatewayWarning(problems)) > 0 {
		t.Errorf("a named gateway with a loopback page: %v", problems)
	}
	doc = "version = 1\ndata_dir = \"/tmp/x\"\ngateway = \"Ikeja City Mall\"\n[admin]\npage_listen = \"0.0.0.0:8080\"\npage_pin = \"2468\"\n"
	if _, problems := Parse("f.toml", []byte(doc)); len(withoutGatewayWarning(problems)) > 0 {
		t.Errorf("a page with a PIN: %v", problems)
	}
}

// tokenWarningOnWindows says whether p is the warning that admin.token is
// empty with no admin socket, which on Windows (no socket there) every
// config without a token gets.
func tokenWarningOnWindows(p Problem) bool {
	return runtime.GOOS == "windows" && p.Warn && p.Key == "admin.token"
}
