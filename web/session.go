package web

import (
	"container/list"
	"crypto/sha256"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sessions are server-side: the cookie names a random session ID (signed, so a forged
// value is told apart without a table lookup), and the table says who it is. Logout
// deletes the entry; a session whose user's password hash or role no longer matches the
// configuration is refused. The table is bounded (Config.MaxSessions): when full, the
// oldest session is evicted and counted. Since every session lives SessionTTL, the
// oldest is also the first to expire, so insertion order is expiry order and both
// expiry and eviction take from the front of one list.

type session struct {
	id         string
	name, role string
	fp         [32]byte // userPrint of the user when the session began
	exp        time.Time
	el         *list.Element
}

// userPrint fingerprints what a session depends on: a new password or role revokes.
func userPrint(u User) [32]byte {
	return sha256.Sum256([]byte(u.Name + "\x00" + u.Role + "\x00" + u.PasswordHash))
}

type sessionTable struct {
	mu      sync.Mutex
	max     int
	byID    map[string]*session
	order   *list.List // front: oldest
	evicted prometheus.Counter
}

func newSessionTable(max int, evicted prometheus.Counter) *sessionTable {
	return &sessionTable{max: max, byID: map[string]*session{}, order: list.New(), evicted: evicted}
}

func (t *sessionTable) add(s *session, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for f := t.order.Front(); f != nil && !f.Value.(*session).exp.After(now); f = t.order.Front() {
		t.removeLocked(f.Value.(*session))
	}
	for len(t.byID) >= t.max {
		t.removeLocked(t.order.Front().Value.(*session))
		t.evicted.Inc()
	}
	s.el = t.order.PushBack(s)
	t.byID[s.id] = s
}

// get returns a copy of the session with this ID; expired sessions are removed and
// reported as such.
func (t *sessionTable) get(id string, now time.Time) (s session, found, expired bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.byID[id]
	if !ok {
		return session{}, false, false
	}
	if !p.exp.After(now) {
		t.removeLocked(p)
		return session{}, false, true
	}
	return *p, true, false
}

func (t *sessionTable) remove(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.byID[id]; ok {
		t.removeLocked(p)
	}
}

func (t *sessionTable) removeLocked(p *session) {
	t.order.Remove(p.el)
	delete(t.byID, p.id)
}

// Login rate limiting. Each failed login counts against its source (the client's
// address; an IPv6 /64 is one source) and against the user name tried. Beyond a number
// of free failures every further one doubles a back-off (1 s, 2 s, 4 s, ... up to
// maxBackoff) during which attempts are answered 429 without a bcrypt; a quiet
// forgetAfter forgets the failures. Success clears the user's count, not the source's
// (one valid account must not reset a source guessing others). Both tables are LRU
// bounded (Config.LoginTableSize) and count evictions.
const (
	userFreeFailures   = 5
	sourceFreeFailures = 20
	maxBackoff         = 15 * time.Minute
	forgetAfter        = 15 * time.Minute
	maxUserName        = 256
)

type failEntry struct {
	key   string
	fails int
	last  time.Time
	until time.Time
}

type limiter struct {
	mu      sync.Mutex
	free    int
	max     int
	byKey   map[string]*list.Element
	lru     *list.List // front: least recently failed
	evicted prometheus.Counter
}

func newLimiter(free, max int, evicted prometheus.Counter) *limiter {
	return &limiter{free: free, max: max, byKey: map[string]*list.Element{}, lru: list.New(), evicted: evicted}
}

// wait is how long key must wait before its next attempt (0: go ahead).
func (l *limiter) wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.byKey[key]
	if !ok {
		return 0
	}
	e := el.Value.(*failEntry)
	if now.Sub(e.last) > forgetAfter {
		l.lru.Remove(el)
		delete(l.byKey, key)
		return 0
	}
	if d := e.until.Sub(now); d > 0 {
		return d
	}
	return 0
}

func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var e *failEntry
	if el, ok := l.byKey[key]; ok {
		e = el.Value.(*failEntry)
		l.lru.MoveToBack(el)
		if now.Sub(e.last) > forgetAfter {
			e.fails = 0
		}
	} else {
		for len(l.byKey) >= l.max {
			f := l.lru.Front()
			l.lru.Remove(f)
			delete(l.byKey, f.Value.(*failEntry).key)
			l.evicted.Inc()
		}
		e = &failEntry{key: key}
		l.byKey[key] = l.lru.PushBack(e)
	}
	e.fails++
	e.last = now
	if over := e.fails - l.free; over >= 0 {
		d := maxBackoff
		if over < 20 {
			d = min(time.Second<<over, maxBackoff)
		}
		e.until = now.Add(d)
	}
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.byKey[key]; ok {
		l.lru.Remove(el)
		delete(l.byKey, key)
	}
}

// sourceKey is the rate-limit key of a client address (RemoteAddr, never a forwarded
// header a client can write): the address, or its /64 for IPv6.
func sourceKey(remoteAddr string) string {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		if a, err := netip.ParseAddr(remoteAddr); err == nil {
			ap = netip.AddrPortFrom(a, 0)
		} else {
			return remoteAddr
		}
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
