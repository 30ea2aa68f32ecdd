package admin

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a test's time, moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
func from(addr string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.RemoteAddr = addr
	return r
}
func with(c *http.Cookie) *http.Request { r := from("192.0.2.9:4000"); r.AddCookie(c); return r }
func pinOf(s *string) func() string     { return func() string { return *s } }
func newTestGuard(t *testing.T, pin *string, c *clock, log *bytes.Buffer) (*Guard, string) {
	file := filepath.Join(t.TempDir(), "page.key")
	return NewGuard(pinOf(pin), file, c.Now, slog.New(slog.NewTextHandler(log, nil))), file
}

func TestGuardCookie(t *testing.T) {
	pin := "4821"
	c := &clock{now: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)}
	var log bytes.Buffer
	g, file := newTestGuard(t, &pin, c, &log)
	if !g.Needed() || g.Allowed(from("192.0.2.9:4000")) {
		t.Fatal("a device without the cookie is let in")
	}
	cookie, err := g.Try(from("192.0.2.9:4000"), "4821")
	if err != nil {
		t.Fatal(err)
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" || cookie.MaxAge != 30*24*3600 {
		t.Errorf("cookie %+v: want HttpOnly, SameSite, for 30 days", cookie)
	}
	if !g.Allowed(with(cookie)) {
		t.Fatal("the cookie does not let the device in")
	}
	// The key is kept: a guard after a restart takes the same cookie.
	if fi, err := os.Stat(file); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("key file: %v %v", fi, err)
	}
	again := NewGuard(pinOf(&pin), file, c.Now, nil)
	if !again.Allowed(with(cookie)) {
		t.Error("after a restart the cookie is refused")
	}
	// Tampered with, it is refused.
	for _, v := range []string{strings.Replace(cookie.Value, "1.", "2.", 1), cookie.Value[:len(cookie.Value)-2] + "AA", "1.99999999999.x", ""} {
		if g.Allowed(with(&http.Cookie{Name: CookieName, Value: v})) {
			t.Errorf("the cookie %q lets the device in", v)
		}
	}
	// Expired, it is refused.
	c.add(CookieLife - time.Second)
	if !g.Allowed(with(cookie)) {
		t.Error("the cookie ends before 30 days")
	}
	c.add(time.Second)
	if g.Allowed(with(cookie)) {
		t.Error("the cookie lasts past 30 days")
	}
	// A new PIN ends every cookie; no PIN needs none.
	c.add(-time.Hour)
	pin = "4822"
	if g.Allowed(with(cookie)) {
		t.Error("a new PIN leaves the old cookie valid")
	}
	pin = ""
	if g.Needed() || !g.Allowed(from("192.0.2.9:4000")) {
		t.Error("without a PIN a device is kept out")
	}
	key, _ := os.ReadFile(file)
	if strings.Contains(log.String(), "4821") || bytes.Contains(log.Bytes(), key) {
		t.Errorf("the log holds the PIN or the key:\n%s", log.String())
	}
}

func TestGuardLocksOut(t *testing.T) {
	pin := "4821"
	c := &clock{now: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)}
	var log bytes.Buffer
	g, _ := newTestGuard(t, &pin, c, &log)
	for i := range MaxTries {
		if _, err := g.Try(from("192.0.2.7:1000"), "0000"); !errors.Is(err, ErrWrongPIN) {
			t.Fatalf("wrong try %d: %v", i+1, err)
		}
	}
	if _, err := g.Try(from("192.0.2.7:1001"), "4821"); !errors.Is(err, ErrLocked) {
		t.Errorf("the right PIN after 5 wrong ones: %v; want locked", err)
	}
	if _, err := g.Try(from("192.0.2.8:1000"), "4821"); err != nil {
		t.Errorf("another address: %v", err)
	}
	// An IPv6 host cannot escape by changing its address in its /64.
	for range MaxTries {
		g.Try(from("[2001:db8::1]:1000"), "0000")
	}
	if _, err := g.Try(from("[2001:db8::2]:1000"), "4821"); !errors.Is(err, ErrLocked) {
		t.Errorf("another address in the same /64: %v; want locked", err)
	}
	c.add(LockFor - time.Second)
	if _, err := g.Try(from("192.0.2.7:1002"), "4821"); !errors.Is(err, ErrLocked) {
		t.Errorf("before the minute is up: %v", err)
	}
	c.add(time.Second)
	if _, err := g.Try(from("192.0.2.7:1002"), "4821"); err != nil {
		t.Errorf("after a minute: %v", err)
	}
	if !strings.Contains(log.String(), "5 wrong page PINs") || strings.Contains(log.String(), "4821") {
		t.Errorf("the lock-out log:\n%s", log.String())
	}
	// A good PIN clears the count: 4 wrong, 1 right, 4 wrong is not locked.
	for range 2 {
		for range MaxTries - 1 {
			g.Try(from("192.0.2.5:1"), "0")
		}
		if _, err := g.Try(from("192.0.2.5:1"), "4821"); err != nil {
			t.Errorf("after 4 wrong tries: %v", err)
		}
	}
}

// TestGuardBounded checks that many addresses cannot grow the guard's
// memory: past the bound, new addresses wait as if locked, until old
// records are forgotten.
func TestGuardBounded(t *testing.T) {
	pin := "4821"
	c := &clock{now: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)}
	g, _ := newTestGuard(t, &pin, c, &bytes.Buffer{})
	for i := range maxAddrs {
		g.Try(from(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()+":1"), "0")
	}
	if _, err := g.Try(from("192.0.2.1:1"), "4821"); !errors.Is(err, ErrLocked) {
		t.Errorf("past the bound: %v", err)
	}
	c.add(triesForget + time.Second)
	if _, err := g.Try(from("192.0.2.1:1"), "4821"); err != nil || len(g.tries) > 1 {
		t.Errorf("after the records are forgotten: %v, %d kept", err, len(g.tries))
	}
}

// TestGuardKeyFile checks the key file: made on first use, a damaged one
// replaced, and a folder that cannot be written still lets the PIN work
// (for this run).
func TestGuardKeyFile(t *testing.T) {
	pin := "4821"
	c := &clock{now: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	file := filepath.Join(dir, "page.key")
	if err := os.WriteFile(file, make([]byte, 32), 0o600); err != nil { // zeroed by a power cut
		t.Fatal(err)
	}
	g := NewGuard(pinOf(&pin), file, c.Now, nil)
	if _, err := g.Try(from("192.0.2.1:1"), "4821"); err != nil {
		t.Fatal(err)
	}
	if key, _ := os.ReadFile(file); len(key) != 32 || bytes.Equal(key, make([]byte, 32)) {
		t.Errorf("a zeroed key file is kept: %x", key)
	}
	var log bytes.Buffer
	g = NewGuard(pinOf(&pin), filepath.Join(dir, "missing", "page.key"), c.Now, slog.New(slog.NewTextHandler(&log, nil)))
	cookie, err := g.Try(from("192.0.2.1:1"), "4821")
	if err != nil || !g.Allowed(with(cookie)) {
		t.Fatalf("without a key file: %v", err)
	}
	if !strings.Contains(log.String(), "cannot keep the status page's cookie key") {
		t.Errorf("the missing key file is not logged:\n%s", log.String())
	}
}
