// Command powercut pulls the plug on fluxrelay inside a virtual machine and
// checks that nothing it acknowledged was lost. Each round boots a small
// Linux guest (a Debian kernel, a busybox initramfs) whose data disk is a
// fresh ext4 image, runs the daemon under load with a fake core inside it,
// kills qemu with SIGKILL at a random moment (or just after Badger creates a
// file), boots again on the same image and lets the daemon deliver what it
// kept. An upgrade round starts from a store an earlier release wrote,
// forces value-log collection in the running daemon and cuts 2–20 s after
// one. See README.md beside this file.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

//go:embed init.sh
var initScript []byte

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 20, "rounds to run; the last is the control, whose disk ignores flushes")
	flag.StringVar(&o.out, "out", "build/powercut", "directory for the guest's files, each round's logs and the results")
	flag.StringVar(&o.kernel, "kernel", "", "the guest kernel (default: the newest /boot/vmlinuz-*)")
	flag.StringVar(&o.accel, "accel", "auto", "kvm, tcg, or auto: KVM if a guest boots under it, else TCG")
	flag.Uint64Var(&o.seed, "seed", 0, "seed for the cut moments (default: from the clock; printed)")
	flag.BoolVar(&o.keep, "keep", false, "keep each round's disk image")
	flag.StringVar(&o.upgradeFrom, "upgrade-from", "e10d3dc", "the earlier release whose store the upgrade rounds start from; \"\" skips them")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "powercut:", err)
		os.Exit(1)
	}
}

type options struct {
	rounds      int
	out, kernel string
	accel       string
	seed        uint64
	keep        bool
	upgradeFrom string
}

func run(o options) error {
	if o.rounds < 2 {
		return errors.New("-rounds must be at least 2: one real round and the control")
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	if err := needTools(); err != nil {
		return err
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	kernel, err := findKernel(o.kernel)
	if err != nil {
		return err
	}
	fmt.Printf("powercut: kernel %s, seed %d, output in %s\n", kernel.path, o.seed, out)
	initrd, err := buildInitramfs(out, kernel, nil)
	if err != nil {
		return err
	}
	vm := &machine{kernel: kernel.path, initrd: initrd, dir: out}
	if err := vm.chooseAccel(o.accel); err != nil {
		return err
	}
	fmt.Printf("powercut: accelerator %s\n", vm.accel)
	up, err := prepareUpgrade(out, kernel, o.upgradeFrom)
	if err != nil {
		return err
	}

	rng := rand.New(rand.NewPCG(o.seed, 0x5eed))
	var results []result
	failed := 0
	for i, p := range plan(o.rounds, up) {
		r := runRound(vm, i+1, p, rng, o.keep)
		fmt.Println(r.line())
		if !r.passed() {
			failed++
		}
		results = append(results, r)
	}
	table := render(results, vm.accel, o.seed)
	fmt.Print("\n" + table)
	if err := os.WriteFile(filepath.Join(out, "results.txt"), []byte(table), 0o644); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(results, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "results.json"), js, 0o644); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d rounds failed (details in %s/round-*)", failed, len(results), out)
	}
	return nil
}

// needTools names every missing program at once, with the Debian package
// that has it.
func needTools() error {
	var missing []string
	for _, t := range []struct{ cmd, pkg string }{
		{"qemu-system-x86_64", "qemu-system-x86"},
		{"nbdkit", "nbdkit"},
		{"cpio", "cpio"},
		{"mkfs.ext4", "e2fsprogs"},
		{"e2fsck", "e2fsprogs"},
	} {
		if _, err := exec.LookPath(t.cmd); err != nil {
			missing = append(missing, fmt.Sprintf("%s (package %s)", t.cmd, t.pkg))
		}
	}
	if _, err := os.Stat(busybox); err != nil {
		missing = append(missing, busybox+" (package busybox-static)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing: %s; on Debian: apt-get install qemu-system-x86 nbdkit cpio e2fsprogs busybox-static linux-image-amd64", strings.Join(missing, ", "))
	}
	return nil
}

// roundPlan is what one round does.
type roundPlan struct {
	disk  string // direct, writeback or control
	aimed bool   // cut just after Badger creates a file, not at a random moment
	// upgrade, when set, starts the round from a store an earlier release
	// wrote, forces value-log collection and cuts 2–20 s after one.
	upgrade *upgrade
	// hole1 runs the daemon with the log sync that loses track of the
	// memtable (the upgrade scenario's control): it must lose.
	hole1 bool
}

// plan alternates the two honest disks and random and aimed cuts; then,
// when an earlier release's store could be made, the upgrade round on the
// disk with a volatile cache and its control (the log sync with hole 1 on
// the same disk, or where the tree no longer has it, the disk that ignores
// flushes); and ends with the control: a disk that ignores flushes must
// lose acknowledged notifications, or the harness is not seeing anything.
func plan(rounds int, up *upgrade) []roundPlan {
	var p []roundPlan
	for i := range rounds - 1 {
		p = append(p, roundPlan{disk: []string{"direct", "writeback"}[i%2], aimed: (i/2)%2 == 1})
	}
	if up != nil {
		p = append(p, roundPlan{disk: "writeback", upgrade: up})
		if up.hole1Initrd != "" {
			p = append(p, roundPlan{disk: "writeback", upgrade: up, hole1: true})
		} else {
			p = append(p, roundPlan{disk: "control", upgrade: up})
		}
	}
	return append(p, roundPlan{disk: "control"})
}

// runRound loads, cuts, reboots, verifies and counts.
func runRound(vm *machine, n int, p roundPlan, rng *rand.Rand, keep bool) result {
	r := result{Round: n, Disk: p.disk, Aimed: p.aimed, Control: p.disk == "control" || p.hole1}
	dir := filepath.Join(vm.dir, fmt.Sprintf("round-%02d", n))
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.problem("%v", err)
		return r
	}
	img := filepath.Join(dir, "disk.img")
	seedDir, args := "", []string{fmt.Sprintf("powercut.round=%d", n)}
	if p.upgrade != nil {
		r.Upgrade, r.WantDead = p.upgrade.seed.commit, p.upgrade.seed.dead
		seedDir, args = p.upgrade.seed.dir, append(args, "powercut.scenario=upgrade")
		if err := p.upgrade.seed.write(dir); err != nil {
			r.problem("%v", err)
			return r
		}
		if p.hole1 {
			r.Hole1, vm = true, vm.with(p.upgrade.hole1Initrd)
		}
	}
	if err := makeImage(img, seedDir); err != nil {
		r.problem("%v", err)
		return r
	}
	if !keep {
		defer os.Remove(img)
	}

	// Power on, load, pull the plug.
	d, err := attach(p.disk, img, dir)
	if err != nil {
		r.problem("%v", err)
		return r
	}
	g, err := vm.boot(d, dir, "load", args...)
	if err != nil {
		d.kill()
		r.problem("%v", err)
		return r
	}
	r.Cut, r.Collected = cutWhenDue(g, p, rng, filepath.Join(dir, "acked-load.log"))
	g.kill()
	d.kill()
	if g.errors != nil {
		r.problem("load: %s", strings.Join(g.errors, "; "))
	}

	// Power on again on the same disk and let the daemon deliver.
	v, err := vm.boot(&disk{drive: direct(img)}, dir, "verify")
	if err != nil {
		r.problem("%v", err)
		return r
	}
	v.waitDone(15 * time.Minute)
	v.kill()
	r.Store = v.store
	if v.status != nil {
		r.Unclean = v.status.UncleanRestarts
		r.DeadLetters = v.status.DeadLetters
		if v.status.StoreMovedAside != "" {
			r.Store = "moved aside"
		}
	} else {
		r.problem("the daemon did not finish delivering")
	}
	for _, e := range v.errors {
		r.problem("after the cut: %s", e)
	}
	r.Fsck = fsck(img)
	r.count(dir)
	return r
}

// cutWhenDue waits for the load to start and then for the moment to cut,
// and says which moment it was, and whether a value-log collection had
// deleted a file before it. A random cut comes 1–10 s after the first
// acknowledgement reached the host (acked names its file): a cut before
// any leaves a round, the control's above all, with nothing to check.
func cutWhenDue(g *guest, p roundPlan, rng *rand.Rand, acked string) (string, bool) {
	started, ok := g.waitFor("LOAD started", 5*time.Minute)
	if !ok {
		return "before the load (it did not start)", false
	}
	if p.upgrade != nil {
		// the daemon brings the store up to date first, then collects:
		// about ten seconds under TCG
		window := 3 * time.Minute
		if line, at, ok := g.waitForAfter("GONE ", started, window); ok {
			delay := 2*time.Second + time.Duration(rng.Int64N(int64(18*time.Second)))
			time.Sleep(time.Until(at.Add(delay)))
			return fmt.Sprintf("%.1fs after collection deleted %s", delay.Seconds(), strings.TrimPrefix(line, "GONE ")), true
		}
		return fmt.Sprintf("no value-log collection in %s", window), false
	}
	if p.aimed {
		window := 2 * time.Minute
		if line, at, ok := g.waitForAfter("FILE ", started, window); ok {
			delay := time.Duration(rng.Int64N(int64(500 * time.Millisecond)))
			time.Sleep(time.Until(at.Add(delay)))
			return fmt.Sprintf("%.2fs after %s was created", delay.Seconds(), strings.TrimPrefix(line, "FILE ")), false
		}
		return fmt.Sprintf("aimed, but no file was created in %s: at %s", window, window), false
	}
	first := firstAck(acked, 2*time.Minute)
	delay := time.Second + time.Duration(rng.Int64N(int64(9*time.Second)))
	time.Sleep(time.Until(first.Add(delay)))
	return fmt.Sprintf("%.1fs into the load", first.Add(delay).Sub(started).Seconds()), false
}

// firstAck waits until the file holds a whole line, and returns when it
// did (or now, after timeout).
func firstAck(path string, timeout time.Duration) time.Time {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if len(refs(path, "A ")) > 0 {
			break
		}
	}
	return time.Now()
}

// makeImage makes a fresh 512 MiB ext4 image with default options, holding
// a copy of the folder from when it is not empty.
func makeImage(path, from string) error {
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		return err
	}
	if err := os.Truncate(path, 512<<20); err != nil {
		return err
	}
	args := []string{"-q", "-F", path}
	if from != "" {
		args = append([]string{"-d", from}, args...)
	}
	if out, err := exec.Command("mkfs.ext4", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4: %v: %s", err, out)
	}
	return nil
}

// fsck checks the image after the guest's second boot replayed the
// journal and unmounted it.
func fsck(img string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "e2fsck", "-fn", img).CombinedOutput()
	if err == nil {
		return "clean"
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		_ = os.WriteFile(img+".fsck", out, 0o644)
		return fmt.Sprintf("exit %d", exit.ExitCode())
	}
	return err.Error()
}
