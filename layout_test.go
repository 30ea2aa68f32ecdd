// The module root holds only this test: it keeps the package layout honest
// (docs/design.md): every package is documented, and the flow
// ingest → store → relay shows in who may import whom.
package fluxrelay_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Doc        string
	Imports    []string
	Name       string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

const mod = "github.com/fluxrelay/fluxrelay/"

// forbidden lists, for each package, the project packages it must not
// import (docs/design.md). daemon, which wires them together, may import
// any of them.
var forbidden = map[string][]string{
	"config":            {"notification", "provider", "ingest", "store", "relay", "daemon", "admin"},
	"notification":      {"config", "provider", "ingest", "store", "relay", "daemon", "admin"},
	"health":            {"config", "notification", "provider", "ingest", "store", "relay", "daemon", "admin", "alert"},
	"provider":          {"store", "relay", "ingest", "daemon"},
	"ingest":            {"store", "relay", "config", "daemon"},
	"ingest/httpingest": {"store", "relay", "config", "daemon"},
	"ingest/mqttingest": {"store", "relay", "config", "daemon", "admin"},
	"admin":             {"store", "relay", "ingest", "config", "provider", "daemon"},
	"alert":             {"store", "relay", "ingest", "config", "provider", "daemon", "admin", "notification"},
	"remotewrite":       {"store", "relay", "ingest", "config", "provider", "daemon", "admin", "notification", "alert"},
	"store":             {"ingest", "relay", "config", "provider", "daemon"},
	"relay":             {"store", "ingest", "config", "provider", "daemon"},
	"relay/relaytest":   {"store", "ingest", "config", "daemon"},
	"cmd/fluxrelay":     {"store", "relay", "ingest", "ingest/httpingest"},
}

func TestLayout(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(p.ImportPath, mod)
		if p.Doc == "" && len(p.GoFiles) > 0 {
			t.Errorf("package %s has no doc comment", rel)
		}
		for _, imp := range p.Imports {
			for _, bad := range forbidden[rel] {
				if imp == mod+bad {
					t.Errorf("%s imports %s, against the flow in docs/design.md", rel, bad)
				}
			}
			if rel == "daemon" && (imp == "os/signal" || strings.HasPrefix(imp, "github.com/kardianos/service")) {
				t.Errorf("daemon imports %s; signals and the service manager belong in cmd/fluxrelay", imp)
			}
		}
	}
}
