package security

import (
	"net/netip"
	"strings"

	"github.com/callscope/callscope/correlate"
)

// acctState remembers the recent calls of one account (from_user) for the concurrency
// rule: a ring of call intervals.
type acctState struct {
	name  string
	spans [64][2]int64 // [start, end] in Unix ns
	n     int
}

// peerState is what the open-relay rule learnt of one callee (proxy) IP.
type peerState struct {
	addr                 netip.Addr
	answered, challenged uint32
}

func (d *Detector) account(name string) *acctState {
	if i, ok := d.acctIdx[name]; ok {
		return &d.accts[i]
	}
	i, evicted := claimSlot(&d.accts, d.acctIdx, &d.acctNext, d.cfg.MaxAccounts, func(s *acctState) string { return s.name })
	if evicted {
		d.evict(tableAccounts)
	}
	d.accts[i] = acctState{name: name}
	d.acctIdx[name] = i
	return &d.accts[i]
}

func (d *Detector) peer(a netip.Addr) *peerState {
	if i, ok := d.peerIdx[a]; ok {
		return &d.peers[i]
	}
	i, evicted := claimSlot(&d.peers, d.peerIdx, &d.peerNext, d.cfg.MaxPeers, func(s *peerState) netip.Addr { return s.addr })
	if evicted {
		d.evict(tablePeers)
	}
	d.peers[i] = peerState{addr: a}
	d.peerIdx[a] = i
	return &d.peers[i]
}

// Call applies the toll-fraud rules to one finished call. Calls arrive when they end, so
// their times lag packet time; they do not advance it.
func (d *Detector) Call(r *correlate.Record) {
	if !d.cfg.Enabled || r == nil {
		return
	}
	c := &r.Call
	d.calls++
	caller := addrOf(c.Caller)
	start, end := int64(c.Start), int64(c.End)
	if end < start {
		end = start
	}
	answered := c.Answer != 0
	tc := &d.cfg.TollFraud
	callID := []byte(c.CallID)
	trusted := caller.IsValid() && len(d.cfg.trusted) > 0 && d.trusted(caller)

	if len(tc.PremiumPrefixes) > 0 && c.ToUser != "" {
		to := strings.TrimPrefix(c.ToUser, "+")
		for _, p := range tc.PremiumPrefixes {
			if strings.HasPrefix(to, strings.TrimPrefix(p, "+")) {
				d.hit(rPremium, evKey{src: caller, target: d.hash([]byte(p))}, start, end, 1, p, nil, callID, nil, -1)
				break
			}
		}
	}
	if tc.MaxConcurrent > 0 && c.FromUser != "" {
		a := d.account(c.FromUser)
		a.spans[a.n%len(a.spans)] = [2]int64{start, end}
		a.n++
		if k := concurrency(a, start, end); k > tc.MaxConcurrent {
			ev := d.hitFrom(rConcurrent, evKey{target: d.hash([]byte(c.FromUser))}, caller, start, end, 1,
				c.FromUser, nil, callID, nil, -1)
			if k > ev.ev.Distinct {
				ev.ev.Distinct = k // the most simultaneous calls seen
			}
		}
	}
	if tc.ShortCalls > 0 && answered && caller.IsValid() && !trusted && c.DurationMs != nil &&
		*c.DurationMs < float64(tc.ShortCallMax)/1e6 {
		d.shortCall(caller, c, start, end, callID)
	}
	if tc.OpenRelay > 0 && answered {
		callee := addrOf(c.Callee)
		if !callee.IsValid() {
			return
		}
		p := d.peer(callee)
		if c.AuthChallenges > 0 {
			p.challenged++
		} else if !trusted && int(p.challenged) >= tc.OpenRelay && p.challenged*10 >= p.answered*9 {
			d.hit(rOpenRelay, evKey{src: caller, target: uint64(addrHash(callee))}, start, end, 1,
				callee.String(), nil, callID, nil, -1)
		}
		p.answered++
	}
}

// concurrency is the most calls of a overlapping at one instant within [start, end]:
// checked at start and at every remembered start inside the span.
func concurrency(a *acctState, start, end int64) int {
	n := min(a.n, len(a.spans))
	best := 0
	at := func(t int64) int {
		k := 0
		for _, s := range a.spans[:n] {
			if s[0] <= t && t <= s[1] {
				k++
			}
		}
		return k
	}
	best = at(start)
	for _, s := range a.spans[:n] {
		if s[0] > start && s[0] <= end {
			best = max(best, at(s[0]))
		}
	}
	return best
}

// addrOf parses "ip:port" (IPv6 in brackets) or a bare IP; invalid when neither.
func addrOf(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr()
	}
	a, _ := netip.ParseAddr(s)
	return a
}

// shortCall counts one short answered call of caller for the wangiri rule.
func (d *Detector) shortCall(caller netip.Addr, c *correlate.Call, start, end int64, callID []byte) {
	tc := &d.cfg.TollFraud
	slot := d.source(caller, d.now)
	s := &d.srcs[slot]
	if start-s.shortStart >= d.window || start < s.shortStart {
		s.short, s.shortStart = 0, start
		s.shortTo.reset()
	}
	if !s.shortTo.add(uint32(d.hash([]byte(c.ToUser)))) && s.active&(1<<rShortCalls) == 0 {
		return // the same destination again: a test load, not wangiri
	}
	s.short++
	key := evKey{src: caller}
	if s.active&(1<<rShortCalls) != 0 {
		d.hit(rShortCalls, key, s.shortStart, end, 1, "", nil, callID, nil, slot)
	} else if int(s.short) >= tc.ShortCalls {
		d.hit(rShortCalls, key, s.shortStart, end, uint64(s.short), "", nil, callID, nil, slot)
	}
}
