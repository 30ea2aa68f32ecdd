package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/syncbuf"
)

// TestJSONLogsHaveNoRepeatedKeys: every JSON log line of a daemon with all
// its parts (the store and Badger, the embedded broker and mochi, the relay)
// is an object whose keys appear once, as log shippers need.
func TestJSONLogsHaveNoRepeatedKeys(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "fluxrelay.toml")
	doc := "version = 1\ndata_dir = \"data\"\n[http]\nlisten = \"127.0.0.1:0\"\n[mqtt]\nmode = \"embedded\"\nlisten = \"127.0.0.1:0\"\n" +
		"[[mqtt.user]]\nusername = \"t\"\npassword = \"terminal-pw\"\n[admin]\nsocket = \"\"\nlisten = \"\"\n[log]\nlevel = \"debug\"\nformat = \"json\"\n" +
		"[[source]]\nname = \"till\"\nprovider = \"core\"\n"
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- runDaemon(ctx, cfg, daemonIO{stderr: &logs}) }()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(logs.String(), "fluxrelay started"); {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the daemon did not start:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	sawLibrary := false
	for _, line := range lines {
		if !strings.HasPrefix(line, "{") {
			continue // the config's own warnings, before the logger exists
		}
		keys, err := topKeys(line)
		if err != nil {
			t.Errorf("not a JSON object: %v: %s", err, line)
			continue
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				t.Errorf("key %q twice: %s", k, line)
			}
			seen[k] = true
		}
		sawLibrary = sawLibrary || seen["library"]
	}
	if !sawLibrary {
		t.Errorf("no line from Badger or mochi at debug; the test saw nothing of them:\n%s", logs.String())
	}
}

// topKeys lists an object's keys in order, repeats included.
func topKeys(line string) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	return keys, nil
}
