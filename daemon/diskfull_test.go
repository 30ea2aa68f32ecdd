package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fluxrelay/fluxrelay/store"
)

// TestDiskFull puts data_dir on a small tmpfs: new input is refused with
// 503 before the disk fills, the daemon keeps running, nothing stored is
// lost, and ingest resumes once space is freed.
func TestDiskFull(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("skipped: the disk-full test mounts a Linux tmpfs; elsewhere store.FreeBytes is what the store's own tests check")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the disk-full test needs root to mount a tmpfs (CI runs as root)")
		}
		t.Skip("skipped: mounting a tmpfs needs root")
	}
	e := newEnv(t, nil)
	mnt := filepath.Join(e.dir, "data")
	os.MkdirAll(mnt, 0o700)
	// Room for the filler below, the store's reserve and 20 MiB more.
	size := fmt.Sprintf("size=%dm", (store.DefaultMinFree>>20)+60)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", size, "tmpfs", mnt).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Skipf("skipped: cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	// A filler leaves a little more than the store's reserve (store.DefaultMinFree) free.
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 40<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), `url = "`, `url = "" # `, 1))
	writeFile(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), `api_key = "`, `# `, 1))
	writeFile(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), `api_secret = "`, `# `, 1))
	writeFile(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), `max_body = "4KiB"`, `max_body = "16KiB"`, 1))
	r := e.start()

	var acked sync.Map
	var refused atomic.Int64
	var n atomic.Int64
	var wg sync.WaitGroup
	pad := strings.Repeat("p", 8000)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for refused.Load() < 20 && n.Load() < 100000 {
				i := n.Add(1)
				ref := fmt.Sprintf("FULL-%d-%d", w, i)
				a := post(t, r.url+"/notify/till", fmt.Sprintf(`{"transactionRef":%q,"amount":1,"pad":%q}`, ref, pad))
				switch a.Code {
				case 200:
					acked.Store(ref, a.ID)
				case 503:
					if !strings.Contains(a.Error, "free space") {
						t.Errorf("503 without the reason: %q", a.Error)
					}
					refused.Add(1)
				default:
					t.Errorf("answer %d %s", a.Code, a.Error)
					return
				}
			}
		}()
	}
	wg.Wait()
	count := 0
	acked.Range(func(any, any) bool { count++; return true })
	if refused.Load() == 0 || count == 0 {
		t.Fatalf("%d stored, %d refused: the reserve was never reached", count, refused.Load())
	}
	free, _ := store.FreeBytes(mnt)
	if free < 64<<20 {
		t.Errorf("only %d MiB left on the tmpfs: the guard let the disk fill", free>>20)
	}
	if st := r.status(t); st.State != StateActionNeeded || !strings.Contains(strings.Join(st.Reasons, " "), "free disk space") || st.QueueDepth != int64(count) {
		t.Errorf("status while full: %s, queue %d (stored %d), %v", st.State, st.QueueDepth, count, st.Reasons)
	}
	if code, _ := get(t, r.admin+"/healthz", ""); code != 200 {
		t.Fatal("the daemon stopped answering while the disk was full")
	}

	os.Remove(filler) // space freed
	if a := post(t, r.url+"/notify/till", `{"transactionRef":"AFTER-FREE","amount":1}`); a.Code != 200 {
		t.Fatalf("after freeing space: %d %s", a.Code, a.Error)
	}
	r.stop()
	r2 := e.start()
	if st := r2.status(t); st.QueueDepth != int64(count)+1 {
		t.Errorf("after a restart %d are queued; %d were acknowledged", st.QueueDepth, count+1)
	}
	t.Logf("tmpfs %s: %d notifications stored, then %d refused with 503 and %d MiB still free; ingest resumed when space was freed", size, count, refused.Load(), free>>20)
}
