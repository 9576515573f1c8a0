package security

import (
	"encoding/binary"
	"net/netip"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
)

// srcState is what the source rules know of one IP in its current window. Fixed size:
// updating it never allocates.
type srcState struct {
	addr     netip.Addr
	winStart int64
	active   uint32 // bit per rule with an event in progress for this source

	scan, inv, reg, opt      uint32 // scanning requests; requests by method
	fail                     uint32 // failed authentications
	mf, malformed, oversized uint32
	uaHits                   uint32
	uaBad, uaSeen            bool
	uaHash                   uint64
	users, hosts             distinctSet

	cred  [8]uint64 // recent requests that carried credentials (Call-ID hash ^ CSeq)
	credN uint8

	short      uint32 // short answered calls (wangiri) to distinct to_users, windowed by call start
	shortStart int64
	shortTo    distinctSet
}

// roll starts a new window at ts. Events in progress keep counting (active bits stay).
func (s *srcState) roll(ts int64) {
	s.winStart = ts
	s.scan, s.inv, s.reg, s.opt, s.fail = 0, 0, 0, 0, 0
	s.mf, s.malformed, s.oversized, s.uaHits = 0, 0, 0, 0
	s.users.reset()
	s.hosts.reset()
}

// distinctSet holds up to MaxDistinct distinct hashes. The first few live inline; only a
// source that reaches more (a scanner, an enumeration) gets the full array. Three full
// arrays in every source made a source 900 bytes, most of the detector's memory on
// ordinary traffic, where a source calls a handful of users and hosts.
type distinctSet struct {
	n     uint8
	small [distinctInline]uint32
	big   *[MaxDistinct]uint32 // nil until more than distinctInline; kept across resets
}

const distinctInline = 4

// add records h unless present or full; it reports whether h is new.
func (s *distinctSet) add(h uint32) bool {
	vals := s.values()
	for _, v := range vals {
		if v == h {
			return false
		}
	}
	switch n := int(s.n); {
	case n < distinctInline && s.big == nil:
		s.small[n] = h
	case n < MaxDistinct:
		if s.big == nil {
			s.big = new([MaxDistinct]uint32)
			copy(s.big[:], s.small[:])
		}
		s.big[n] = h
	default:
		return true
	}
	s.n++
	return true
}

// values returns the set's hashes in insertion order.
func (s *distinctSet) values() []uint32 {
	if s.big != nil {
		return s.big[:s.n]
	}
	return s.small[:s.n]
}

func (s *distinctSet) len() int { return int(s.n) }
func (s *distinctSet) reset()   { s.n = 0 }

// source returns the state slot of a at packet time ts, rolling its window or recycling
// the oldest slot when the table is full.
func (d *Detector) source(a netip.Addr, ts int64) int32 {
	if i, ok := d.srcIdx[a.As16()]; ok {
		if s := &d.srcs[i]; ts-s.winStart >= d.window {
			s.roll(ts)
		}
		return i
	}
	i, evicted := claimSlot(&d.srcs, d.srcIdx, &d.srcNext, d.cfg.MaxSources, func(s *srcState) [16]byte { return s.addr.As16() })
	if evicted {
		d.evict(tableSources)
	}
	d.srcs[i] = srcState{addr: a, winStart: ts}
	d.srcIdx[a.As16()] = i
	return i
}

// aorState counts failed authentications for one AOR in a window.
type aorState struct {
	hash     uint64
	winStart int64
	fail     uint32
}

func (d *Detector) aor(h uint64, ts int64) *aorState {
	if i, ok := d.aorIdx[h]; ok {
		s := &d.aors[i]
		if ts-s.winStart >= d.window {
			s.winStart, s.fail = ts, 0
		}
		return s
	}
	i, evicted := claimSlot(&d.aors, d.aorIdx, &d.aorNext, d.cfg.MaxAORs, func(s *aorState) uint64 { return s.hash })
	if evicted {
		d.evict(tableAORs)
	}
	d.aors[i] = aorState{hash: h, winStart: ts}
	d.aorIdx[h] = i
	return &d.aors[i]
}

// Methods the source rules look at.
const (
	mOther = iota
	mInvite
	mRegister
	mOptions
)

func methodOf(b []byte) int {
	switch len(b) {
	case 6:
		if eqFold(b, "INVITE") {
			return mInvite
		}
	case 7:
		if eqFold(b, "OPTIONS") {
			return mOptions
		}
	case 8:
		if eqFold(b, "REGISTER") {
			return mRegister
		}
	}
	return mOther
}

// eqFold compares b with the upper- or lower-case ASCII s, ignoring case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i]|0x20 != s[i]|0x20 {
			return false
		}
	}
	return true
}

// containsFold reports whether b contains the lower-case needle, ignoring ASCII case.
func containsFold(b, needle []byte) bool {
	n := len(needle)
	for i := 0; i+n <= len(b); i++ {
		j := 0
		for j < n && lower(b[i+j]) == needle[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// scanHeaders finds what Message does not decode: Max-Forwards (-1 when absent) and
// whether credentials are present (RFC 3261 §20.7, §20.28, §22).
func scanHeaders(m *sip.Message) (maxFwd int, cred bool) {
	maxFwd = -1
	for i := range m.Headers {
		h := &m.Headers[i]
		if len(h.Name) < 12 {
			continue
		}
		switch len(h.Name) {
		case 12:
			if eqFold(h.Name, "max-forwards") {
				maxFwd = atoi(h.Value)
			}
		case 13:
			if eqFold(h.Name, "authorization") {
				cred = true
			}
		case 19:
			if eqFold(h.Name, "proxy-authorization") {
				cred = true
			}
		}
	}
	return maxFwd, cred
}

// atoi reads leading decimal digits (at most 9), -1 when there are none.
func atoi(b []byte) int {
	v, n := 0, 0
	for n < len(b) && n < 9 && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + int(b[n]-'0')
		n++
	}
	if n == 0 {
		return -1
	}
	return v
}

func credKey(d *Detector, m *sip.Message) uint64 {
	return d.hash(m.CallID) ^ uint64(m.CSeq)*0x9E3779B97F4A7C15
}

func addrHash(a netip.Addr) uint32 {
	b := a.As16()
	h := (binary.LittleEndian.Uint64(b[:8])*0x9E3779B97F4A7C15 ^ binary.LittleEndian.Uint64(b[8:])) * 0xC2B2AE3D27D4EB4F
	return uint32(h >> 32)
}

// sip applies the message rules to one SIP message.
func (d *Detector) sip(ev *decode.Event) {
	m := ev.SIP
	ts := ev.TS
	if ts > d.now {
		d.now = ts
	}
	d.messages++
	if d.now-d.lastTick >= 1e9 {
		d.Advance(d.now)
	}
	maxFwd, cred := scanHeaders(m)
	malformed := len(m.CallID) == 0 || len(m.From) == 0 || len(m.To) == 0 || len(m.CSeqMethod) == 0 ||
		m.Vias == 0 || len(m.Headers) >= sip.MaxHeaders
	oversized := d.cfg.Anomaly.Oversized > 0 && len(ev.Payload) > d.cfg.Anomaly.OversizedBytes
	if m.Request {
		d.request(ev, m, ts, maxFwd, cred, malformed, oversized)
	} else {
		d.response(ev, m, ts, malformed, oversized)
	}
}

func (d *Detector) request(ev *decode.Event, m *sip.Message, ts int64, maxFwd int, cred, malformed, oversized bool) {
	src := ev.Src.Addr()
	slot := d.source(src, ts)
	s := &d.srcs[slot]
	key := evKey{src: src}
	d.anomalies(s, slot, key, ts, m, maxFwd == 0, malformed, oversized)
	if len(d.cfg.trusted) > 0 && d.trusted(src) {
		return
	}
	meth := methodOf(m.Method)
	sc := &d.cfg.Scanner

	if len(m.UserAgent) > 0 && len(d.uas) > 0 {
		if h := d.hash(m.UserAgent); !s.uaSeen || h != s.uaHash {
			s.uaSeen, s.uaHash, s.uaBad = true, h, d.scannerUA(m.UserAgent)
		}
		if s.uaBad {
			s.uaHits++
			if s.active&(1<<rUserAgent) != 0 {
				d.hit(rUserAgent, key, s.winStart, ts, 1, "", nil, m.CallID, nil, slot)
			} else {
				d.hit(rUserAgent, key, ts, ts, uint64(s.uaHits), "", nil, m.CallID, m.UserAgent, slot)
				s = &d.srcs[slot]
			}
		}
	}
	if meth == mOther {
		return
	}
	var rate uint32
	var fr rule
	var limit int
	switch meth {
	case mInvite:
		s.inv++
		rate, fr, limit = s.inv, rInviteRate, d.cfg.Flood.Invite
	case mRegister:
		s.reg++
		rate, fr, limit = s.reg, rRegisterRate, d.cfg.Flood.Register
	case mOptions:
		s.opt++
		rate, fr, limit = s.opt, rOptionsRate, d.cfg.Flood.Options
	}
	if s.active&(1<<fr) != 0 {
		d.hit(fr, key, s.winStart, ts, 1, "", nil, m.CallID, nil, slot)
	} else if limit > 0 && int(rate) >= limit {
		d.hit(fr, key, s.winStart, ts, uint64(rate), "", nil, m.CallID, m.UserAgent, slot)
	}
	if cred && meth != mOptions {
		s.cred[s.credN%uint8(len(s.cred))] = credKey(d, m)
		s.credN++
	}
	if len(m.ToTag) != 0 {
		return // in-dialog: not probing
	}
	s.scan++
	uh := uint32(d.hash(m.ToUser))
	newUser := len(m.ToUser) > 0 && s.users.add(uh)
	hh := addrHash(ev.Dst.Addr())
	newHost := s.hosts.add(hh)
	if s.active&(1<<rManyUsers) != 0 {
		a := d.hit(rManyUsers, key, s.winStart, ts, 1, "", nil, m.CallID, nil, slot)
		if len(m.ToUser) > 0 {
			a.addDistinct(uh)
		}
	} else if sc.DistinctUsers > 0 && newUser && s.users.len() >= sc.DistinctUsers {
		a := d.hit(rManyUsers, key, s.winStart, ts, uint64(s.scan), "", nil, m.CallID, m.UserAgent, slot)
		s = &d.srcs[slot]
		for _, h := range s.users.values() {
			a.addDistinct(h)
		}
	}
	if s.active&(1<<rManyHosts) != 0 {
		d.hit(rManyHosts, key, s.winStart, ts, 1, "", nil, m.CallID, nil, slot).addDistinct(hh)
	} else if sc.DistinctHosts > 0 && newHost && s.hosts.len() >= sc.DistinctHosts {
		a := d.hit(rManyHosts, key, s.winStart, ts, uint64(s.scan), "", nil, m.CallID, m.UserAgent, slot)
		for _, h := range s.hosts.values() {
			a.addDistinct(h)
		}
	}
}

func (d *Detector) scannerUA(ua []byte) bool {
	for _, n := range d.uas {
		if containsFold(ua, n) {
			return true
		}
	}
	return false
}

// anomalies applies the anomaly rules to a message from the source in slot.
func (d *Detector) anomalies(s *srcState, slot int32, key evKey, ts int64, m *sip.Message, loop, malformed, oversized bool) {
	ac := &d.cfg.Anomaly
	check := func(r rule, n *uint32, limit int) {
		*n++
		if s.active&(1<<r) != 0 {
			d.hit(r, key, s.winStart, ts, 1, "", nil, m.CallID, nil, slot)
		} else if limit > 0 && int(*n) >= limit {
			d.hit(r, key, s.winStart, ts, uint64(*n), "", nil, m.CallID, m.UserAgent, slot)
		}
	}
	if loop {
		check(rMaxForwards, &s.mf, ac.MaxForwards)
	}
	if malformed {
		check(rMalformed, &s.malformed, ac.Malformed)
	}
	if oversized {
		check(rOversized, &s.oversized, ac.Oversized)
	}
}

func (d *Detector) response(ev *decode.Event, m *sip.Message, ts int64, malformed, oversized bool) {
	if malformed || oversized {
		src := ev.Src.Addr()
		slot := d.source(src, ts)
		d.anomalies(&d.srcs[slot], slot, evKey{src: src}, ts, m, false, malformed, oversized)
	}
	code := m.StatusCode
	if code != 401 && code != 403 && code != 407 && code != 483 {
		return
	}
	client := ev.Dst.Addr()
	slot := d.source(client, ts)
	s := &d.srcs[slot]
	key := evKey{src: client}
	if code == 483 {
		d.anomalies(s, slot, key, ts, m, true, false, false)
		return
	}
	meth := methodOf(m.CSeqMethod)
	if meth != mInvite && meth != mRegister {
		return
	}
	if code != 403 || meth == mInvite {
		k := credKey(d, m)
		found := false
		for _, c := range s.cred {
			if c == k {
				found = true
				break
			}
		}
		if !found {
			return // the challenge of a normal digest exchange, or a 403 policy answer to an INVITE
		}
	}
	bf := &d.cfg.BruteForce
	if !(len(d.cfg.trusted) > 0 && d.trusted(client)) {
		s.fail++
		if s.active&(1<<rSourceFailures) != 0 {
			d.hit(rSourceFailures, key, s.winStart, ts, 1, "", nil, m.CallID, nil, slot)
		} else if bf.SourceFailures > 0 && int(s.fail) >= bf.SourceFailures {
			d.hit(rSourceFailures, key, s.winStart, ts, uint64(s.fail), "", nil, m.CallID, nil, slot)
		}
	}
	aor := m.ToURI
	if meth == mInvite {
		aor = m.FromURI
	}
	if bf.AORFailures == 0 || len(aor) == 0 {
		return
	}
	h := d.hash(aor)
	as := d.aor(h, ts)
	as.fail++
	akey := evKey{target: h}
	if a, ok := d.evIdx[evKey{rule: rAORFailures, target: h}]; ok {
		d.hit(rAORFailures, akey, as.winStart, ts, 1, "", nil, m.CallID, nil, -1)
		d.evs[a].addDistinct(addrHash(client))
	} else if int(as.fail) >= bf.AORFailures {
		d.hitFrom(rAORFailures, akey, client, as.winStart, ts, uint64(as.fail), "", aor, m.CallID, nil, -1).
			addDistinct(addrHash(client))
	}
}
