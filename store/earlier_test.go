package store_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/store"
)

// earlierStore is the data directory of the release at the end of the
// first development round (commit e10d3dc), made by
// TestRegenerateEarlierStore: a clean stop after 40 notifications
// delivered, one dead-lettered by a 400, and ten plus one large one (a
// 100 KB note) waiting, some of them refused with 503 (then the core was
// taken for down).
const earlierStore = "testdata/data-e10d3dc.tar.gz"

// The earlier release's data.
const (
	earlierDelivered = 40
	earlierWaiting   = 11
)

// extractEarlierStore unpacks earlierStore and returns the data directory.
func extractEarlierStore(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(earlierStore)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o700)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o700)
		out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			t.Fatal(err)
		}
		out.Close()
	}
}

// TestMigrateEarlierStore opens a store the release at the end of the
// first development round wrote, and checks that it is brought up to
// date once: what it delivered and dead-lettered is found by reference
// and by receive time, its dead letter shows the attempt it recorded (not
// "held"), its large record moves to a blob and reads back whole, what
// waited still waits, value-log collection works on it, and the format is
// recorded so that the next open has nothing to do.
func TestMigrateEarlierStore(t *testing.T) {
	dir := filepath.Join(extractEarlierStore(t), "store")
	if store.Versioned(dir) {
		t.Fatal("the earlier store already records a format")
	}
	s, err := store.Open(store.Options{Dir: dir, MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	if format, indexed := s.OpenedAs(); format != 0 || indexed {
		t.Errorf("the earlier store opened as format %d with the receive-time index %v; want 0, without", format, indexed)
	}
	waitUntil(t, "the migration", func() bool { return !s.Stats().Migrating })
	if !store.Versioned(dir) {
		t.Error("the migrated store does not record its format")
	}
	st := s.Stats()
	if st.Pending != earlierWaiting || st.Dead != 1 {
		t.Errorf("%d pending, %d dead; want %d and 1", st.Pending, st.Dead, earlierWaiting)
	}
	found, err := s.FindRef("OLD-DLV-0007")
	if err != nil || len(found) != 1 || found[0].State != notification.Delivered {
		t.Fatalf("find of a delivered notification = %v, %v", found, err)
	}
	dead, err := s.FindRef("OLD-DEAD-1")
	if err != nil || len(dead) != 1 {
		t.Fatalf("find of the dead letter = %v, %v", dead, err)
	}
	if d := dead[0]; len(d.Trail) != 1 || !d.Trail[0].Reconstructed || d.Trail[0].Status != 400 || d.Trail[0].At.IsZero() {
		t.Errorf("the dead letter's trail = %+v; want one reconstructed attempt answered 400", d.Trail)
	}
	n := 0
	for r, err := range s.Received(time.Time{}, time.Now().Add(time.Hour)) {
		if err != nil {
			t.Fatal(err)
		}
		_ = r
		n++
	}
	if want := earlierDelivered + 1 + earlierWaiting; n != want {
		t.Errorf("the receive-time index holds %d notifications; want %d", n, want)
	}
	big, err := s.FindRef("OLD-BIG-1")
	if err != nil || len(big) != 1 || len(big[0].Raw) < 100<<10 || big[0].State != notification.Pending {
		t.Fatalf("the large record = %v, %v", big, err)
	}
	if blobs, _ := filepath.Glob(filepath.Join(dir, "blobs", "*")); len(blobs) != 1 {
		t.Errorf("blobs after the migration: %v; want the large record's", blobs)
	}
	// A resend of what the earlier release stored is a duplicate.
	again := *found[0]
	again.Delivery = notification.Delivery{State: notification.Pending}
	if got, err := s.Enqueue(context.Background(), &again); err != nil || got != notification.StatusDuplicate {
		t.Errorf("a resend of a delivered notification = %q, %v; want duplicate", got, err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(store.Options{Dir: dir, MinFree: 1})
	if err != nil {
		t.Fatal(err)
	}
	if s.Stats().Migrating {
		t.Error("the second open migrates again")
	}
	if r, err := s.Get(big[0].ID); err != nil || string(r.Raw) != string(big[0].Raw) {
		t.Errorf("the large record after a reopen: %v", err)
	}
}

// TestRegenerateEarlierStore makes earlierStore: it builds the release at
// commit e10d3dc from this repository's history, runs it against a fake
// Fluxvend core on loopback, sends it notifications, stops it cleanly and
// packs its data directory. It runs only when asked:
//
//	FLUXRELAY_REGENERATE_STORE=1 go test -run TestRegenerateEarlierStore ./store/
//
// (FLUXRELAY_E10D3DC_BIN names a binary built from that commit already.)
func TestRegenerateEarlierStore(t *testing.T) {
	if os.Getenv("FLUXRELAY_REGENERATE_STORE") == "" {
		t.Skip("set FLUXRELAY_REGENERATE_STORE=1 to rebuild " + earlierStore)
	}
	bin := os.Getenv("FLUXRELAY_E10D3DC_BIN") // a build made before, to save a build
	if bin == "" {
		src := t.TempDir()
		archive := exec.Command("sh", "-c", "git archive e10d3dc | tar -x -C "+src)
		archive.Dir = ".." // the whole tree, not this directory's
		if out, err := archive.CombinedOutput(); err != nil {
			t.Fatalf("git archive e10d3dc: %v %s", err, out)
		}
		bin = filepath.Join(src, "fluxrelay")
		build := exec.Command("go", "build", "-o", bin, "./cmd/fluxrelay")
		build.Dir = src
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build e10d3dc: %v %s", err, out)
		}
	}

	core := &fakeCore{seen: map[string]int{}}
	coreLn := listen(t)
	go http.Serve(coreLn, core)
	data := filepath.Join(t.TempDir(), "data")
	httpAddr, adminAddr := freeAddr(t), freeAddr(t)
	cfg := fmt.Sprintf(`version = 1
data_dir = %q
[core]
url = "http://%s/core"
tenant_id = "t1"
api_key = "FXK_fixture_key"
api_secret = "fixture-secret-not-a-placeholder"
signature_key = "secret"
retry_max_wait = "1s"
[http]
listen = %q
[mqtt]
mode = "off"
[admin]
socket = ""
listen = %q
[[source]]
name = "till"
provider = "core"
`, data, coreLn.Addr(), httpAddr, adminAddr)
	cfgPath := filepath.Join(t.TempDir(), "fluxrelay.toml")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	daemon := exec.Command(bin, "run", "-c", cfgPath)
	daemon.Stdout, daemon.Stderr = os.Stderr, os.Stderr
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer daemon.Process.Kill()
	waitUntil(t, "the earlier release to listen", func() bool {
		resp, err := http.Get("http://" + adminAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	send := func(ref, extra string) {
		body := fmt.Sprintf(`{"transactionRef":%q,"amount":"1500.00","paymentMethod":"CARD"%s}`, ref, extra)
		resp, err := http.Post("http://"+httpAddr+"/notify/till", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", ref, resp.StatusCode)
		}
	}
	for i := 1; i <= earlierDelivered; i++ {
		send(fmt.Sprintf("OLD-DLV-%04d", i), "")
	}
	send("OLD-DEAD-1", "")
	waitUntil(t, "the deliveries", func() bool { return core.count("OLD-") == earlierDelivered+1 })
	note := make([]byte, 75<<10)
	rand.Read(note)
	send("OLD-BIG-1", fmt.Sprintf(`,"note":%q`, base64.StdEncoding.EncodeToString(note)))
	for i := 1; i < earlierWaiting; i++ {
		send(fmt.Sprintf("OLD-PEND-%02d", i), "")
	}
	// Three refused in a row is an outage: the others wait unattempted.
	waitUntil(t, "attempts at the waiting ones", func() bool { return core.count("OLD-PEND-")+core.count("OLD-BIG-") >= 3 })
	daemon.Process.Signal(syscall.SIGTERM)
	if err := daemon.Wait(); err != nil {
		t.Fatalf("the earlier release did not stop cleanly: %v", err)
	}
	if err := packDir(data, earlierStore); err != nil {
		t.Fatal(err)
	}
}

// fakeCore answers 200, 400 for OLD-DEAD refs and 503 for the ones that
// should wait, and counts the notifications it saw.
type fakeCore struct {
	mu   sync.Mutex
	seen map[string]int
}

func (c *fakeCore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct{ TransactionRef string }
	json.NewDecoder(r.Body).Decode(&p)
	c.mu.Lock()
	c.seen[p.TransactionRef]++
	c.mu.Unlock()
	switch {
	case strings.HasPrefix(p.TransactionRef, "OLD-DEAD"):
		http.Error(w, `{"error":"unknown merchant"}`, http.StatusBadRequest)
	case strings.HasPrefix(p.TransactionRef, "OLD-PEND"), strings.HasPrefix(p.TransactionRef, "OLD-BIG"):
		http.Error(w, `{"error":"try later"}`, http.StatusServiceUnavailable)
	default:
		w.Write([]byte(`{"ok":true}`))
	}
}

func (c *fakeCore) count(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for ref := range c.seen {
		if strings.HasPrefix(ref, prefix) {
			n++
		}
	}
	return n
}

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// packDir writes dir's files into a gzipped tar at out (sparse files
// compress to little).
func packDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name, h.ModTime = filepath.ToSlash(rel), time.Unix(0, 0)
		if err := tw.WriteHeader(h); err != nil || fi.IsDir() {
			return err
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(tw, in)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}
