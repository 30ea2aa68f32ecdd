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
		"control no loss": {Disk: "control", Acked: 10, Present: 10, Store: "opened", Fsck: "clean"},
	} {
		if r.passed() {
			t.Errorf("%s: passed", name)
		}
	}
	control := result{Disk: "control", Acked: 10, Present: 2, Lost: 8}
	if !control.passed() {
		t.Error("a control that lost passed not")
	}
}

func TestPlanEndsWithTheControlAndAimsSomeCuts(t *testing.T) {
	p := plan(4)
	want := []roundPlan{{"direct", false}, {"writeback", false}, {"direct", true}, {"control", false}}
	if !slices.Equal(p, want) {
		t.Errorf("plan(4) = %v, want %v", p, want)
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
