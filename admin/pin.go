package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The PIN's rules: a device that gave it is remembered for CookieLife; an
// address that gets it wrong MaxTries times in a row waits LockFor.
const (
	CookieLife = 30 * 24 * time.Hour
	MaxTries   = 5
	LockFor    = time.Minute
	// CookieName is the cookie that remembers a device.
	CookieName = "fluxrelay_page"
	// triesForget is how long a wrong try counts against an address.
	triesForget = 15 * time.Minute
	// maxAddrs bounds the addresses the guard remembers: past it, every
	// new address waits as if locked, rather than memory growing.
	maxAddrs = 4096
)

// Errors Try returns.
var (
	ErrWrongPIN = errors.New("the PIN is not right")
	ErrLocked   = errors.New("too many wrong PINs from this address; it must wait a minute")
)

// Guard keeps the page's payments and totals behind admin.page_pin. A
// device that gives the PIN gets an HttpOnly cookie signed (HMAC-SHA256)
// with a key kept in the data folder; what is signed holds the expiry and
// a hash of the PIN, so that a new PIN ends every device's cookie. The PIN
// and the key are never logged.
type Guard struct {
	pin     func() string
	keyFile string
	now     func() time.Time
	log     *slog.Logger

	keyMu sync.Mutex
	key   []byte

	mu    sync.Mutex
	tries map[netip.Prefix]*tries
}

// tries is one address's record of wrong PINs.
type tries struct {
	n     int
	last  time.Time
	until time.Time // locked until
}

// NewGuard returns the guard for the PIN pin returns (read at each
// request, so that a reload applies at once; empty: no PIN). The cookie key
// is kept in keyFile, created 0600 on first use.
func NewGuard(pin func() string, keyFile string, now func() time.Time, log *slog.Logger) *Guard {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Guard{pin: pin, keyFile: keyFile, now: now, log: log, tries: map[netip.Prefix]*tries{}}
}

// Needed reports whether a PIN is set.
func (g *Guard) Needed() bool { return g != nil && g.pin() != "" }

// Allowed reports whether r may see the payments: no PIN is set, or r
// carries a cookie signed for the current PIN that has not expired.
func (g *Guard) Allowed(r *http.Request) bool {
	pin := ""
	if g != nil {
		pin = g.pin()
	}
	if pin == "" {
		return true
	}
	c, err := r.Cookie(CookieName)
	if err != nil {
		return false
	}
	ver, rest, _ := strings.Cut(c.Value, ".")
	exp, mac, _ := strings.Cut(rest, ".")
	expiry, err := strconv.ParseInt(exp, 10, 64)
	if ver != "1" || err != nil || g.now().Unix() >= expiry {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil {
		return false
	}
	want, err := g.sign(exp, pin)
	return err == nil && hmac.Equal(got, want)
}

// Try checks a PIN given from r's address. It returns the cookie that
// remembers the device, ErrWrongPIN, or ErrLocked while the address waits.
func (g *Guard) Try(r *http.Request, given string) (*http.Cookie, error) {
	pin := g.pin()
	addr := addrOf(r)
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.record(addr, now)
	if t == nil || now.Before(t.until) {
		return nil, ErrLocked
	}
	a, b := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(pin))
	if pin == "" || subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		t.n++
		t.last = now
		if t.n >= MaxTries {
			t.n, t.until = 0, now.Add(LockFor)
			g.log.Warn("5 wrong page PINs in a row; that address must wait a minute before trying again", "addr", addr.String())
		}
		return nil, ErrWrongPIN
	}
	delete(g.tries, addr)
	expiry := now.Add(CookieLife)
	exp := strconv.FormatInt(expiry.Unix(), 10)
	mac, err := g.sign(exp, pin)
	if err != nil {
		return nil, err
	}
	return &http.Cookie{Name: CookieName, Value: "1." + exp + "." + base64.RawURLEncoding.EncodeToString(mac), Path: "/",
		Expires: expiry, MaxAge: int(CookieLife / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil}, nil
}

// record returns addr's record, made when new; nil when the guard already
// remembers as many addresses as it may. The caller holds g.mu.
func (g *Guard) record(addr netip.Prefix, now time.Time) *tries {
	if t, ok := g.tries[addr]; ok {
		if now.Sub(t.last) > triesForget && !now.Before(t.until) {
			t.n = 0
		}
		return t
	}
	if len(g.tries) >= maxAddrs {
		for a, t := range g.tries {
			if now.Sub(t.last) > triesForget && !now.Before(t.until) {
				delete(g.tries, a)
			}
		}
		if len(g.tries) >= maxAddrs {
			return nil
		}
	}
	t := &tries{}
	g.tries[addr] = t
	return t
}

// addrOf is the address a PIN try counts against: the peer's IPv4
// address, or its IPv6 /64 (one host can use a whole /64).
func addrOf(r *http.Request) netip.Prefix {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p
	}
	return netip.PrefixFrom(ip, 32)
}

// sign is the cookie's MAC over its expiry and a hash of the PIN.
func (g *Guard) sign(expiry, pin string) ([]byte, error) {
	key, err := g.cookieKey()
	if err != nil {
		return nil, err
	}
	ph := sha256.Sum256([]byte("fluxrelay page pin\x00" + pin))
	m := hmac.New(sha256.New, key)
	m.Write([]byte("fluxrelay page cookie v1\x00" + expiry + "\x00"))
	m.Write(ph[:])
	return m.Sum(nil), nil
}

// keyLen is the cookie key's length in bytes.
const keyLen = 32

// cookieKey returns the key cookies are signed with: read from the key
// file, or made and written there (0600) on first use. When the file
// cannot be written, a key for this run only is used, and devices give
// the PIN again after a restart.
func (g *Guard) cookieKey() ([]byte, error) {
	g.keyMu.Lock()
	defer g.keyMu.Unlock()
	if g.key != nil {
		return g.key, nil
	}
	key, err := readOrMakeKey(g.keyFile)
	if err != nil {
		g.log.Warn("cannot keep the status page's cookie key in data_dir; phones will need the PIN again after each restart — check that fluxrelay may write there",
			"file", g.keyFile, "err", err)
		key = make([]byte, keyLen)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	g.key = key
	return key, nil
}

func readOrMakeKey(path string) ([]byte, error) {
	for range 2 {
		key, err := os.ReadFile(path)
		switch {
		case err == nil && len(key) == keyLen && strings.Trim(string(key), "\x00") != "":
			return key, nil
		case err == nil:
			// Cut short or zeroed (a power cut while it was written):
			// make another. Devices give the PIN again.
			if err := os.Remove(path); err != nil {
				return nil, err
			}
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
		key = make([]byte, keyLen)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue // made at the same moment by another: read that one
		}
		if err != nil {
			return nil, err
		}
		_, err = f.Write(key)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path)
			return nil, err
		}
		return key, nil
	}
	return nil, errors.New("the key file keeps changing")
}
