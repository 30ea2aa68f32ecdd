package packaging

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestPackageShipsLinkedDocs: every document README.md links (but the
// developer tools' own READMEs) is in the package, at the same path under
// /usr/share/doc/fluxrelay as beside the README, so that the installed
// README's links work; and the example config is shipped.
func TestPackageShipsLinkedDocs(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	recipe, err := os.ReadFile("nfpm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	shipped := map[string]string{} // src → dst
	for _, m := range regexp.MustCompile(`(?m)^  - src: (\S+)\n    dst: (\S+)`).FindAllStringSubmatch(string(recipe), -1) {
		shipped[m[1]] = m[2]
	}
	links := regexp.MustCompile(`\]\(([^)#:]+\.md)\)`).FindAllStringSubmatch(string(readme), -1)
	if len(links) < 5 {
		t.Fatalf("found %d links to documents in README.md; the pattern is wrong", len(links))
	}
	for _, l := range links {
		path := l[1]
		if strings.HasPrefix(path, "tools/") {
			continue // a developer's tool, for a checkout
		}
		if _, err := os.Stat("../" + path); err != nil {
			t.Errorf("README.md links %s, which does not exist", path)
		}
		if want := "/usr/share/doc/fluxrelay/" + path; shipped[path] != want {
			t.Errorf("README.md links %s; the package ships it at %q, want %s", path, shipped[path], want)
		}
	}
	if shipped["packaging/fluxrelay.example.toml"] == "" {
		t.Error("the package does not ship the example config")
	}
}
