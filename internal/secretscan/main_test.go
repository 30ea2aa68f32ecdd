package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValues(t *testing.T) {
	for line, want := range map[string]string{
		`const apiKey, apiSecret = "FXK_test", "FXS_test_secret"`: "apisecret=FXS_test_secret",
		`	testSecret = "FXS_e2e_SECRET_value_42"`:                 "testsecret=FXS_e2e_SECRET_value_42",
		`api_secret = "FXS_SECRET_VALUE_1"`:                       "api_secret=FXS_SECRET_VALUE_1",
		`	Password: "terminal-pass-1",`:                           "password=terminal-pass-1",
		`api_key = "FXK_not_a_secret"`:                            "",
	} {
		var got []string
		for k, v := range values(line) {
			got = append(got, k+"="+v)
		}
		if strings.Join(got, ",") != want {
			t.Errorf("values(%q) = %v; want %q", line, got, want)
		}
	}
}

func TestScanFindsAPlantedSecret(t *testing.T) {
	repo, out := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(repo, "x_test.go"), []byte("const tokenValue = \"TOKEN_abc_123\"\nconst short = \"pw\"\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "c.toml"), []byte("api_secret_file = \"/etc/x.secret\"\n"), 0o644)
	secrets, err := collect(repo)
	if err != nil || len(secrets) != 1 {
		t.Fatalf("collect = %v, %v; want the one token", secrets, err)
	}
	os.WriteFile(filepath.Join(out, "clean.log"), []byte("nothing here\n"), 0o644)
	os.WriteFile(filepath.Join(out, "leak.log"), []byte("ok\nAuthorization: TOKEN_abc_123\n"), 0o644)
	files, found, err := scan(out, secrets)
	if err != nil || files != 2 || len(found) != 1 || !strings.Contains(found[0], "leak.log:2:") {
		t.Errorf("scan = %d files, %v, %v; want leak.log:2 only", files, found, err)
	}
	if strings.Contains(strings.Join(found, ""), "TOKEN_abc_123") {
		t.Error("the report printed the secret it found")
	}
}
