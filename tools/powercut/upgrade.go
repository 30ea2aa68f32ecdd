package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fluxrelay/fluxrelay/internal/oldbuild"
)

// upgrade is what the upgrade rounds share: the earlier release's store,
// and the guest whose daemon keeps the log sync with hole 1, for the
// control.
type upgrade struct {
	seed *seed
	// hole1Initrd is "" when the tree has no such log sync.
	hole1Initrd string
}

// hole1Tag builds the store's earlier log sync, which can lose track of
// the memtable it must sync (kept for this control).
const hole1Tag = "fluxrelay_hole1"

// prepareUpgrade makes the earlier release's store and the control's
// guest. Without the git history or the module proxy the upgrade rounds
// are skipped, with the reason; under CI=true that is an error.
func prepareUpgrade(out string, k kernel, commit string) (*upgrade, error) {
	if commit == "" {
		fmt.Println("powercut: no upgrade rounds (-upgrade-from \"\")")
		return nil, nil
	}
	sd, err := makeSeed(out, commit)
	if errors.Is(err, oldbuild.ErrUnavailable) && os.Getenv("CI") != "true" {
		fmt.Printf("powercut: SKIP the upgrade rounds: %v\n", err)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the upgrade rounds' store: %w", err)
	}
	up := &upgrade{seed: sd}
	if !treeHas(hole1Tag) {
		fmt.Printf("powercut: this tree has no log sync behind the build tag %s: the upgrade round's control is the disk that ignores flushes\n", hole1Tag)
		return up, nil
	}
	if up.hole1Initrd, err = buildInitramfs(out, k, []string{hole1Tag}); err != nil {
		return nil, err
	}
	return up, nil
}

// treeHas says whether a file of the store is built only with tag.
func treeHas(tag string) bool {
	files, _ := filepath.Glob("store/*.go")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.HasPrefix(string(b), "//go:build "+tag+"\n") {
			return true
		}
	}
	return false
}
