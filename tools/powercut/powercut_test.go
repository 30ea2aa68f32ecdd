package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

func TestModuleOrderLoadsDependenciesFirst(t *testing.T) {
	dir := t.TempDir()
	dep := `kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio.ko:
kernel/crypto/crc32c_generic.ko:
`
	if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/drivers/virtio/virtio_pci.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := moduleOrder(dir, []string{"virtio_pci", "virtio_blk", "crc32c_generic", "ext4"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/block/virtio_blk.ko",
		"kernel/crypto/crc32c_generic.ko",
		"kernel/fs/jbd2/jbd2.ko", "kernel/fs/mbcache.ko", "kernel/lib/crc16.ko", "kernel/fs/ext4/ext4.ko",
	}
	if !slices.Equal(got, want) {
		t.Errorf("order:\n got %q\nwant %q", got, want)
	}
	if _, err := moduleOrder(dir, []string{"nvme"}); err == nil {
		t.Error("a module the kernel does not have was not refused")
	}
}

func TestCountComparesAcknowledgementsWithDeliveries(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// serial output has \r\n line ends; the last line of a port cut
	// mid-write has no end and does not count
	write("acked-load.log", "A a1\r\nA a2\r\nA a3\r\nA a4\r\nA a")
	write("delivered-load.log", "D a1\r\nD x9\r\n")
	write("delivered-verify.log", "D a1\r\nD a2\r\nD a4\r\n")
	var r result
	r.count(dir)
	if r.Acked != 4 || r.Present != 3 || r.Lost != 1 || r.Extra != 1 || r.Redelivered != 1 {
		t.Errorf("got acked %d present %d lost %d extra %d redelivered %d, want 4 3 1 1 1",
			r.Acked, r.Present, r.Lost, r.Extra, r.Redelivered)
	}
}

func TestVerdicts(t *testing.T) {
	good := result{Disk: "direct", Acked: 10, Present: 10, Store: "opened", Fsck: "clean", Unclean: 1}
	if !good.passed() {
		t.Errorf("a round that lost nothing failed: %s", good.verdict())
	}
	for name, r := range map[string]result{
		"lost":            {Disk: "direct", Acked: 10, Present: 9, Lost: 1, Store: "opened", Fsck: "clean", Unclean: 1},
		"nothing acked":   {Disk: "writeback", Store: "opened", Fsck: "clean", Unclean: 1},
		"moved aside":     {Disk: "direct", Acked: 10, Present: 10, Store: "moved aside", Fsck: "clean", Unclean: 1},
		"fsck":            {Disk: "direct", Acked: 10, Present: 10, Store: "opened", Fsck: "exit 4", Unclean: 1},
		"no unclean":      {Disk: "direct", Acked: 10, Present: 10, Store: "opened", Fsck: "clean"},
		"problem":         {Disk: "direct", Acked: 10, Present: 10, Store: "opened", Fsck: "clean", Unclean: 1, Problems: []string{"x"}},
		"control no loss": {Disk: "control", Control: true, Acked: 10, Present: 10, Store: "opened", Fsck: "clean"},
	} {
		if r.passed() {
			t.Errorf("%s: passed", name)
		}
	}
	control := result{Disk: "control", Control: true, Acked: 10, Present: 2, Lost: 8}
	if !control.passed() {
		t.Error("a control that lost passed not")
	}
	up := result{Disk: "writeback", Upgrade: "e10d3dc", Collected: true, WantDead: 3, DeadLetters: 3, Acked: 10, Present: 10, Store: "opened", Fsck: "clean", Unclean: 1}
	if !up.passed() {
		t.Errorf("an upgrade round that lost nothing failed: %s", up.verdict())
	}
	for name, change := range map[string]func(*result){
		"no collection":        func(r *result) { r.Collected = false },
		"resent":               func(r *result) { r.Resent = 1 },
		"dead letters missing": func(r *result) { r.DeadLetters = 2 },
		"lost":                 func(r *result) { r.Lost, r.Present = 1, 9 },
	} {
		r := up
		change(&r)
		if r.passed() {
			t.Errorf("upgrade round, %s: passed", name)
		}
	}
	hole1 := result{Disk: "writeback", Control: true, Hole1: true, Upgrade: "e10d3dc", Acked: 10, Present: 9, Lost: 1}
	if hole1.passed() {
		t.Error("an upgrade control with no collection before the cut passed")
	}
	hole1.Collected = true
	if !hole1.passed() {
		t.Errorf("an upgrade control that lost after a collection failed: %s", hole1.verdict())
	}
}

func TestPlanEndsWithTheControlAndAimsSomeCuts(t *testing.T) {
	p := plan(4, nil)
	want := []roundPlan{{disk: "direct"}, {disk: "writeback"}, {disk: "direct", aimed: true}, {disk: "control"}}
	if !slices.Equal(p, want) {
		t.Errorf("plan(4, nil) = %v, want %v", p, want)
	}
	up := &upgrade{seed: &seed{commit: "e10d3dc"}, hole1Initrd: "initramfs-hole1.cpio"}
	want = append(want[:3:3], roundPlan{disk: "writeback", upgrade: up}, roundPlan{disk: "writeback", upgrade: up, hole1: true}, roundPlan{disk: "control"})
	if p := plan(4, up); !slices.Equal(p, want) {
		t.Errorf("plan(4, upgrade) = %v, want %v", p, want)
	}
	// without the log sync with hole 1, the upgrade's control is the lying disk
	up.hole1Initrd = ""
	if p := plan(4, up); p[4] != (roundPlan{disk: "control", upgrade: up}) || p[5] != (roundPlan{disk: "control"}) {
		t.Errorf("plan(4, upgrade without hole 1) = %v", p)
	}
}

func TestCountKeepsTheEarlierReleasesPromises(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// w1, w2 were left waiting by the earlier release, d1, d2 delivered by it
	write("acked-before.log", "A w1\nA w2\n")
	write("delivered-before.log", "D d1\nD d2\n")
	write("acked-load.log", "A a1\r\n")
	write("delivered-load.log", "D a1\r\nD w1\r\n")
	write("delivered-verify.log", "D d2\r\n")
	var r result
	r.count(dir)
	if r.Acked != 3 || r.Present != 2 || r.Lost != 1 || r.Extra != 0 || r.Resent != 1 {
		t.Errorf("got acked %d present %d lost %d extra %d resent %d, want 3 2 1 0 1", r.Acked, r.Present, r.Lost, r.Extra, r.Resent)
	}
}

// The planted bugs the README tells a reader to apply must still apply.
func TestPlantedBugsApply(t *testing.T) {
	patches, _ := filepath.Glob("testdata/*.patch")
	if len(patches) == 0 {
		t.Fatal("no planted bugs in testdata")
	}
	for _, p := range patches {
		abs, _ := filepath.Abs(p)
		cmd := exec.Command("git", "apply", "--check", abs)
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s no longer applies: %v\n%s", p, err, out)
		}
	}
}
