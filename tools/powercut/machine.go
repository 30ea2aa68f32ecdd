package main

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

const busybox = "/bin/busybox"

// The drivers the guest needs for its disk and filesystem; their
// dependencies come from modules.dep. crc32c_generic is loaded by hand
// because ext4 asks for it through the crypto API, which in a guest with
// no modprobe finds nothing.
var guestModules = []string{"virtio_pci", "virtio_blk", "crc32c_generic", "ext4"}

type kernel struct{ path, modules string }

// findKernel picks the kernel and the module directory of its version.
func findKernel(path string) (kernel, error) {
	if path == "" {
		found, _ := filepath.Glob("/boot/vmlinuz-*")
		if len(found) == 0 {
			return kernel{}, fmt.Errorf("no kernel in /boot: install one (apt-get install linux-image-amd64) or give -kernel")
		}
		slices.Sort(found)
		path = found[len(found)-1]
	}
	version := strings.TrimPrefix(filepath.Base(path), "vmlinuz-")
	k := kernel{path: path, modules: filepath.Join("/lib/modules", version)}
	if _, err := os.Stat(filepath.Join(k.modules, "modules.dep")); err != nil {
		return kernel{}, fmt.Errorf("the kernel %s has no modules in %s: install its package, or give -kernel another", path, k.modules)
	}
	if f, err := os.Open(path); err != nil {
		return kernel{}, fmt.Errorf("cannot read the kernel: %v (run as root)", err)
	} else {
		f.Close()
	}
	return k, nil
}

// buildInitramfs builds the daemon (with the build tags, if any) and the
// guest program, statically, and packs them with busybox, the drivers and
// /init into a newc cpio archive.
func buildInitramfs(out string, k kernel, tags []string) (string, error) {
	name := "initramfs"
	if len(tags) > 0 {
		name += "-" + strings.Join(tags, "-")
	}
	root := filepath.Join(out, name)
	_ = os.RemoveAll(root)
	for _, d := range []string{"bin", "lib/modules"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return "", err
		}
	}
	for pkg, bin := range map[string]string{"./cmd/fluxrelay": "fluxrelay", "./tools/powercut/guest": "guest"} {
		args := []string{"build", "-trimpath", "-o", filepath.Join(root, "bin", bin)}
		if bin == "fluxrelay" && len(tags) > 0 {
			args = append(args, "-tags", strings.Join(tags, ","))
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	if err := staticELF(busybox); err != nil {
		return "", err
	}
	if err := copyFile(busybox, filepath.Join(root, "bin/busybox"), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(root, "init"), initScript, 0o755); err != nil {
		return "", err
	}
	order, err := moduleOrder(k.modules, guestModules)
	if err != nil {
		return "", err
	}
	var names []string
	for _, m := range order {
		name := filepath.Base(m)
		if err := copyFile(filepath.Join(k.modules, m), filepath.Join(root, "lib/modules", name), 0o644); err != nil {
			return "", err
		}
		names = append(names, name)
	}
	if err := os.WriteFile(filepath.Join(root, "modules.order"), []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		return "", err
	}
	archive := filepath.Join(out, name+".cpio")
	cmd := exec.Command("sh", "-c", "find . | cpio -o -H newc --quiet > "+archive)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("cpio: %v: %s", err, b)
	}
	return archive, nil
}

// staticELF refuses a busybox that needs a dynamic loader the initramfs
// does not have.
func staticELF(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %v (install busybox-static)", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: install busybox-static, not busybox", path)
		}
	}
	return nil
}

// moduleOrder lists the module files to load, each after the ones it
// depends on, from the kernel's modules.dep.
func moduleOrder(dir string, want []string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	deps := map[string][]string{} // file → the files it needs
	byName := map[string]string{} // module name → file
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		file, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[file] = strings.Fields(rest)
		name := strings.TrimSuffix(filepath.Base(file), ".ko")
		byName[strings.ReplaceAll(name, "-", "_")] = file
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var order []string
	var visit func(string)
	visit = func(file string) {
		if slices.Contains(order, file) {
			return
		}
		for _, d := range slices.Backward(deps[file]) {
			visit(d)
		}
		order = append(order, file)
	}
	for _, name := range want {
		file, ok := byName[name]
		if !ok {
			if builtIn(dir, name) {
				continue
			}
			return nil, fmt.Errorf("the kernel in %s has no module %s", dir, name)
		}
		visit(file)
	}
	for _, file := range order {
		if strings.HasSuffix(file, ".ko.xz") || strings.HasSuffix(file, ".ko.zst") || strings.HasSuffix(file, ".ko.gz") {
			return nil, fmt.Errorf("%s is compressed; the guest's insmod needs plain .ko files (a Debian 12 kernel has them)", file)
		}
	}
	return order, nil
}

func builtIn(dir, name string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "modules.builtin"))
	return err == nil && strings.Contains(string(b), "/"+name+".ko\n")
}

func copyFile(from, to string, mode os.FileMode) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// disk is how the guest's disk reaches the image: qemu's own file access,
// or an nbdkit server in front of it that is killed with qemu.
type disk struct {
	drive  string
	server *exec.Cmd
}

// direct is qemu with no host cache: a guest flush becomes fdatasync, and
// a write qemu completed is in the host's page cache, which outlives qemu.
func direct(img string) string {
	return "file=" + img + ",format=raw,if=virtio,cache=none"
}

// attach prepares the disk model. writeback keeps every write in nbdkit's
// cache until the guest flushes, so a cut loses exactly what was not
// flushed, as a disk with a volatile cache does; control does the same but
// ignores flushes, a disk that lies.
func attach(model, img, dir string) (*disk, error) {
	if model == "direct" {
		return &disk{drive: direct(img)}, nil
	}
	mode := map[string]string{"writeback": "writeback", "control": "unsafe"}[model]
	sock := filepath.Join(dir, "nbd.sock")
	tmp := filepath.Join(dir, "nbdkit-cache")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.Command("nbdkit", "--foreground", "--unix", sock, "--filter=cache", "file", img, "cache="+mode)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	logf, err := os.Create(filepath.Join(dir, "nbdkit.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("nbdkit: %v", err)
	}
	logf.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("nbdkit did not open %s within 30s (see %s)", sock, filepath.Join(dir, "nbdkit.log"))
		}
	}
	return &disk{drive: "file=nbd+unix:///?socket=" + sock + ",format=raw,if=virtio", server: cmd}, nil
}

// kill pulls the disk's plug: what nbdkit held and had not written back
// is gone.
func (d *disk) kill() {
	if d.server != nil {
		_ = d.server.Process.Signal(syscall.SIGKILL)
		_ = d.server.Wait()
		d.server = nil
	}
}

// machine boots guests.
type machine struct {
	kernel, initrd, dir string
	accel               string
}

// with is the same machine booting another initramfs.
func (m *machine) with(initrd string) *machine {
	c := *m
	c.initrd = initrd
	return &c
}

func (m *machine) accelArgs() []string {
	if m.accel == "kvm" {
		return []string{"-accel", "kvm", "-cpu", "host"}
	}
	return []string{"-accel", "tcg,thread=multi", "-cpu", "max"}
}

// chooseAccel uses KVM when a guest boots under it: /dev/kvm may exist
// where a nested hypervisor refuses the kernel.
func (m *machine) chooseAccel(want string) error {
	switch want {
	case "kvm", "tcg":
		m.accel = want
		return nil
	case "auto":
	default:
		return fmt.Errorf("-accel must be kvm, tcg or auto, not %q", want)
	}
	m.accel = "tcg"
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
		return nil
	} else {
		f.Close()
	}
	dir := filepath.Join(m.dir, "probe")
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	m.accel = "kvm"
	g, err := m.boot(&disk{}, dir, "probe")
	if err == nil {
		_, ok := g.waitFor("PROBE ok", 20*time.Second) // a working KVM boots it in 2
		g.kill()
		if ok {
			return nil
		}
	}
	m.accel = "tcg"
	return nil
}

// guest is one boot of the machine.
type guest struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	console *tail
	errors  []string
	store   string // after "STORE …": opened, or failed
	status  *guestStatus
}

// guestStatus is what the guest reports from the daemon's status after
// it delivered everything.
type guestStatus struct {
	QueueDepth      int64  `json:"queue_depth"`
	DeadLetters     int64  `json:"dead_letters"`
	UncleanRestarts int    `json:"unclean_restarts"`
	StoreMovedAside string `json:"store_moved_aside"`
	State           string `json:"state"`
}

// boot starts qemu with no network: the serial ports are the only way
// out, each to a file named after the phase.
func (m *machine) boot(d *disk, dir, phase string, extra ...string) (*guest, error) {
	console := filepath.Join(dir, "console-"+phase+".log")
	args := append(m.accelArgs(),
		"-m", "1024", "-smp", "2", "-nic", "none", "-no-reboot",
		"-display", "none", "-monitor", "none",
		"-serial", "file:"+console,
		"-serial", "file:"+filepath.Join(dir, "acked-"+phase+".log"),
		"-serial", "file:"+filepath.Join(dir, "delivered-"+phase+".log"),
		"-kernel", m.kernel, "-initrd", m.initrd,
		"-append", strings.Join(append([]string{"console=ttyS0", "quiet", "loglevel=3", "panic=-1", "powercut.phase=" + phase}, extra...), " "))
	if d.drive != "" {
		args = append(args, "-drive", d.drive)
	}
	cmd := exec.Command("qemu-system-x86_64", args...)
	logf, err := os.Create(filepath.Join(dir, "qemu-"+phase+".log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu: %v", err)
	}
	g := &guest{cmd: cmd, exited: make(chan struct{}), console: &tail{path: console, start: time.Now()}}
	go func() { _ = cmd.Wait(); close(g.exited) }()
	return g, nil
}

// kill pulls the plug: SIGKILL, so qemu flushes nothing on its way out.
func (g *guest) kill() {
	_ = g.cmd.Process.Signal(syscall.SIGKILL)
	<-g.exited
	g.read() // what the console got before the end
}

// read takes the console's new lines and notes errors and results.
func (g *guest) read() []line {
	lines := g.console.lines()
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l.text, "ERROR "):
			g.errors = append(g.errors, strings.TrimPrefix(l.text, "ERROR "))
		case strings.HasPrefix(l.text, "STORE "):
			g.store = strings.Fields(l.text)[1]
		case strings.HasPrefix(l.text, "STATUS "):
			var st guestStatus
			if err := json.Unmarshal([]byte(strings.TrimPrefix(l.text, "STATUS ")), &st); err == nil {
				g.status = &st
			}
		}
	}
	return lines
}

// waitFor waits for a console line starting with prefix and returns when
// the host saw it.
func (g *guest) waitFor(prefix string, timeout time.Duration) (time.Time, bool) {
	_, at, ok := g.waitForAfter(prefix, time.Time{}, timeout)
	return at, ok
}

// waitForAfter waits for a console line starting with prefix seen after
// the moment since.
func (g *guest) waitForAfter(prefix string, since time.Time, timeout time.Duration) (string, time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for _, l := range g.console.seen {
		if strings.HasPrefix(l.text, prefix) && l.at.After(since) {
			return l.text, l.at, true
		}
	}
	for time.Now().Before(deadline) {
		for _, l := range g.read() {
			if strings.HasPrefix(l.text, prefix) && l.at.After(since) {
				return l.text, l.at, true
			}
		}
		select {
		case <-g.exited:
			g.read()
			return "", time.Time{}, false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return "", time.Time{}, false
}

// waitDone waits until the guest says it is done, or powers off.
func (g *guest) waitDone(timeout time.Duration) {
	if _, ok := g.waitFor("DONE", timeout); ok {
		select {
		case <-g.exited:
		case <-time.After(time.Minute): // it unmounts and powers off
		}
	}
}
