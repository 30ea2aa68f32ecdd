package mqttingest

import (
	"crypto/subtle"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// logins checks terminals' passwords so that a failed login takes as long
// whether or not the username exists, and whatever kind of password the
// user has: every check costs one bcrypt comparison (against a dummy hash
// of the configured users' highest cost when there is no hash to compare
// with, so that a user with a hash cannot be told from an unknown one). At most bcryptSlots comparisons run at once, so that a flood of
// logins cannot take the processor from ingest; and an address with too
// many failed logins is refused for a while without any comparison.
type logins struct {
	slots chan struct{}
	// compare is bcrypt's comparison (a test counts the calls).
	compare func(hash, password []byte) error

	mu     sync.Mutex
	users  map[string]User
	dummy  []byte
	failed map[netip.Addr]*bucket
}

// The failed-login limit: failBurst failures from one address, then one
// more every failEvery.
const (
	failBurst = 5
	failEvery = 12 * time.Second
	// failKeep bounds the addresses remembered.
	failKeep    = 4096
	bcryptSlots = 2
)

type bucket struct {
	tokens float64
	at     time.Time
}

func newLogins() *logins {
	return &logins{slots: make(chan struct{}, bcryptSlots), compare: bcrypt.CompareHashAndPassword, users: map[string]User{}, failed: map[netip.Addr]*bucket{}}
}

// set replaces the users and makes the dummy hash at the highest cost any
// of their hashes has. When none has a hash, any cost equalises an unknown
// user with one whose password is in clear: the cheapest is taken.
func (l *logins) set(users []User) {
	m := make(map[string]User, len(users))
	cost := bcrypt.MinCost
	for _, u := range users {
		m[u.Username] = u
		if c, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil && c > cost {
			cost = c
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.users = m
	if c, err := bcrypt.Cost(l.dummy); err != nil || c != cost {
		l.dummy, _ = bcrypt.GenerateFromPassword([]byte("no user has this password"), cost)
	}
}

func (l *logins) user(name string) (User, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u, ok := l.users[name]
	return u, ok
}

// check says whether the password is the user's. It takes one bcrypt
// comparison's time whatever the answer.
func (l *logins) check(username string, password []byte) (User, bool) {
	l.mu.Lock()
	u, known := l.users[username]
	dummy := l.dummy
	l.mu.Unlock()
	l.slots <- struct{}{}
	defer func() { <-l.slots }()
	if known && u.PasswordHash != "" {
		return u, l.compare([]byte(u.PasswordHash), password) == nil
	}
	_ = l.compare(dummy, password)
	return u, known && subtle.ConstantTimeCompare([]byte(u.Password), password) == 1
}

// blocked says whether addr has used up its failed logins.
func (l *logins) blocked(addr netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.failed[addr]
	return b != nil && b.refill(now) < 1
}

// fail counts a failed login from addr.
func (l *logins) fail(addr netip.Addr, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.failed[addr]
	if b == nil {
		if len(l.failed) >= failKeep {
			l.forget(now)
		}
		b = &bucket{tokens: failBurst, at: now}
		l.failed[addr] = b
	}
	b.refill(now)
	b.tokens = max(b.tokens-1, 0)
}

// forget drops the addresses whose failures have all been forgiven, or,
// when none has, every address.
func (l *logins) forget(now time.Time) {
	for a, b := range l.failed {
		if b.refill(now) >= failBurst {
			delete(l.failed, a)
		}
	}
	if len(l.failed) >= failKeep {
		clear(l.failed)
	}
}

func (b *bucket) refill(now time.Time) float64 {
	b.tokens = min(failBurst, b.tokens+now.Sub(b.at).Seconds()/failEvery.Seconds())
	b.at = now
	return b.tokens
}

// boundID says whether a client id belongs to the username: the username
// itself or username-…, so that one terminal's login cannot take over
// another's session. An empty id is given a fresh one by the broker.
func boundID(username, clientID string) bool {
	return clientID == "" || clientID == username || (len(clientID) > len(username)+1 && clientID[:len(username)+1] == username+"-")
}
