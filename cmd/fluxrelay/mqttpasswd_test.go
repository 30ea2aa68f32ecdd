package main

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/fluxrelay/fluxrelay/config"
)

// TestMQTTPasswd: the table mqtt-passwd prints is a valid [[mqtt.user]]
// whose hash matches the password, and the password is never printed.
func TestMQTTPasswd(t *testing.T) {
	old := stdin
	t.Cleanup(func() { stdin = old })

	stdin = strings.NewReader("till-1-secret-pw\n")
	code, out, errOut := runCmd("mqtt-passwd", "--cost", "4", "till-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out+errOut, "till-1-secret-pw") {
		t.Error("the password was printed")
	}
	doc := "version = 1\ndata_dir = \"/tmp/x\"\n[mqtt]\nmode = \"embedded\"\nlisten = \"127.0.0.1:1883\"\n" + out + "[[source]]\nname = \"till\"\nprovider = \"core\"\nallow = [\"192.168.1.20/32\"]\n"
	doc = "gateway = \"Test shop\"\n" + doc + "[admin]\ntoken = \"mqtt-passwd-test\"\n" // Windows has no socket: without a token it warns
	cfg, problems := config.Parse("pasted.toml", []byte(doc))
	if problems != nil {
		t.Fatalf("the printed table does not make a valid config: %v\n%s", problems, out)
	}
	u := cfg.MQTT.Users[0]
	if u.Username != "till-1" || bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("till-1-secret-pw")) != nil {
		t.Errorf("the hash does not match the password: %+v", u)
	}

	stdin = strings.NewReader("short\n")
	if code, _, errOut := runCmd("mqtt-passwd", "till-1"); code != 2 || !strings.Contains(errOut, "shorter than 8") {
		t.Errorf("a short password: exit %d %q", code, errOut)
	}
	stdin = strings.NewReader("")
	if code, _, errOut := runCmd("mqtt-passwd", "till-1"); code != 1 || !strings.Contains(errOut, "no password") {
		t.Errorf("no password: exit %d %q", code, errOut)
	}
	if code, _, _ := runCmd("mqtt-passwd"); code != 2 {
		t.Errorf("no username: exit %d; want 2", code)
	}
}
