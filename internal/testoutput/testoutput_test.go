package testoutput

import (
	"os"
	"path/filepath"
	"testing"
)

func TestKeepWritesWhenTheTestEnds(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(Dir, dir)
	text := "first"
	t.Run("sub/one", func(t *testing.T) {
		Keep(t, "daemon", func() string { return text })
		text = "at the end"
	})
	got, err := os.ReadFile(filepath.Join(dir, "TestKeepWritesWhenTheTestEnds_sub_one.daemon.log"))
	if err != nil || string(got) != "at the end" {
		t.Errorf("kept %q, %v; want what the test had at its end", got, err)
	}
	t.Setenv(Dir, "")
	t.Run("off", func(t *testing.T) { Keep(t, "x", func() string { return "no" }) })
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files; with %s unset nothing more is written", len(entries), Dir)
	}
}
