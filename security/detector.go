package security

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/maphash"
	"net/netip"
	"strings"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/prometheus/client_golang/prometheus"
)

// Output receives events. Either callback may be nil. Both run on the Detector's
// goroutine and must not call back into it.
type Output struct {
	// Raised is called once when a rule first fires: the hook for alerting. The Event is
	// a view valid during the call (it keeps changing); copy what you keep.
	Raised func(*Event)
	// Ended is called with the final event, after Hold without activity, on eviction
	// from a full table, or at Finish. The Event is the receiver's to keep.
	Ended func(*Event)
}

// Stats are the detector's counters, for tests and reports.
type Stats struct {
	Messages  uint64            // SIP messages examined
	Calls     uint64            // finished calls examined
	Raised    map[Type]uint64   // events raised by type
	Evictions map[string]uint64 // entries recycled from full tables, by table
	Active    int               // events in progress
}

// rule is the internal index of a Rule; the order of ruleInfo.
type rule uint8

const (
	rUserAgent rule = iota
	rManyUsers
	rManyHosts
	rSourceFailures
	rAORFailures
	rInviteRate
	rRegisterRate
	rOptionsRate
	rPremium
	rConcurrent
	rShortCalls
	rOpenRelay
	rMaxForwards
	rMalformed
	rOversized
	numRules
)

var ruleInfo = [numRules]struct {
	typ  int // index into Types
	name Rule
	sev  Severity
}{
	rUserAgent:      {0, RuleUserAgent, SeverityWarning},
	rManyUsers:      {0, RuleManyUsers, SeverityWarning},
	rManyHosts:      {0, RuleManyHosts, SeverityWarning},
	rSourceFailures: {1, RuleSourceFailures, SeverityHigh},
	rAORFailures:    {1, RuleAORFailures, SeverityHigh},
	rInviteRate:     {2, RuleInviteRate, SeverityHigh},
	rRegisterRate:   {2, RuleRegisterRate, SeverityHigh},
	rOptionsRate:    {2, RuleOptionsRate, SeverityWarning},
	rPremium:        {3, RulePremiumPrefix, SeverityCritical},
	rConcurrent:     {3, RuleConcurrent, SeverityCritical},
	rShortCalls:     {3, RuleShortCalls, SeverityHigh},
	rOpenRelay:      {3, RuleOpenRelay, SeverityCritical},
	rMaxForwards:    {4, RuleMaxForwards, SeverityWarning},
	rMalformed:      {4, RuleMalformed, SeverityInfo},
	rOversized:      {4, RuleOversized, SeverityInfo},
}

// evKey identifies an event in progress.
type evKey struct {
	rule   rule
	src    netip.Addr
	target uint64
}

// active is one event in progress.
type active struct {
	key      evKey
	ev       Event
	srcSlot  int32 // slot in srcs whose active bit marks this event, -1 when none
	distinct map[uint32]struct{}
	used     bool
}

// maxEventDistinct bounds the distinct targets an event counts exactly.
const maxEventDistinct = 65536

// Detector applies the rules of Config to SIP messages and finished calls. See the
// package doc for its concurrency rules.
type Detector struct {
	cfg           Config
	out           Output
	m             *metrics
	seed          maphash.Seed
	window, hold  int64
	now, lastTick int64
	uas           [][]byte // lower-cased scanner User-Agent substrings

	srcIdx  map[[16]byte]int32 // by As16: hashes faster than netip.Addr
	srcs    []srcState
	srcNext int32

	aorIdx  map[uint64]int32
	aors    []aorState
	aorNext int32

	evIdx  map[evKey]int32
	evs    []active
	evFree []int32
	evNext int32

	acctIdx  map[string]int32
	accts    []acctState
	acctNext int32

	peerIdx  map[netip.Addr]int32
	peers    []peerState
	peerNext int32

	messages, calls uint64
	reported        uint64 // messages already added to the metric
	raised          [len(Types)]uint64
	evictions       [numTables]uint64
	nActive         int
}

// New returns a detector. cfg must have passed Validate. Metrics are registered on reg
// when it is not nil.
func New(cfg Config, out Output, reg prometheus.Registerer) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	d := &Detector{
		cfg: cfg, out: out, m: m, seed: maphash.MakeSeed(),
		window: int64(cfg.Window), hold: int64(cfg.Hold),
		srcIdx: map[[16]byte]int32{}, aorIdx: map[uint64]int32{}, evIdx: map[evKey]int32{},
		acctIdx: map[string]int32{}, peerIdx: map[netip.Addr]int32{},
	}
	for _, u := range cfg.Scanner.UserAgents {
		d.uas = append(d.uas, []byte(strings.ToLower(u)))
	}
	return d, nil
}

// Event feeds one decoder event; anything but SIP is ignored. Bind it once
// (onEvent := d.Event) where a callback is needed.
func (d *Detector) Event(ev *decode.Event) {
	if ev.Kind == decode.KindSIP && ev.SIP != nil && d.cfg.Enabled {
		d.sip(ev)
	}
}

// Advance ends the events quiet for Hold as of packet time now (Unix ns). Event and Call
// call it once per second of packet time; a live pipeline calls it on its ticks too.
func (d *Detector) Advance(now int64) {
	if now > d.now {
		d.now = now
	}
	d.lastTick = d.now
	d.m.messages.Add(float64(d.messages - d.reported))
	d.reported = d.messages
	if d.nActive == 0 {
		return
	}
	for i := range d.evs {
		a := &d.evs[i]
		if a.used && d.now-int64(a.ev.Last) > d.hold {
			d.end(int32(i))
		}
	}
}

// Finish ends every event in progress (end of a capture, shutdown).
func (d *Detector) Finish() {
	d.Advance(d.now)
	for i := range d.evs {
		if d.evs[i].used {
			d.end(int32(i))
		}
	}
}

// Stats returns the detector's counters.
func (d *Detector) Stats() Stats {
	s := Stats{Messages: d.messages, Calls: d.calls, Active: d.nActive,
		Raised: map[Type]uint64{}, Evictions: map[string]uint64{}}
	for i, t := range Types {
		s.Raised[t] = d.raised[i]
	}
	for i, n := range tableNames {
		s.Evictions[n] = d.evictions[i]
	}
	return s
}

// Sizes reports how many entries each table holds (for tests of the caps).
func (d *Detector) Sizes() map[string]int {
	return map[string]int{"sources": len(d.srcIdx), "aors": len(d.aorIdx), "events": len(d.evIdx),
		"accounts": len(d.acctIdx), "peers": len(d.peerIdx)}
}

func (d *Detector) evict(table int) {
	d.evictions[table]++
	d.m.evictions[table].Inc()
}

func (d *Detector) trusted(a netip.Addr) bool {
	for _, p := range d.cfg.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (d *Detector) hash(b []byte) uint64 { return maphash.Bytes(d.seed, b) }

// hit counts n more for the event of rule r under key, raising it when it is not in
// progress. first is when the counted activity began, ts the time of this hit; target,
// callID and ua are copied when kept. slot is the source slot whose active bit to set,
// or -1.
func (d *Detector) hit(r rule, key evKey, first, ts int64, n uint64, target string, targetB []byte,
	callID, ua []byte, slot int32) *active {
	return d.hitFrom(r, key, key.src, first, ts, n, target, targetB, callID, ua, slot)
}

// hitFrom is hit for events whose key has no source (per AOR, per account): src names
// the offender in a new event.
func (d *Detector) hitFrom(r rule, key evKey, src netip.Addr, first, ts int64, n uint64, target string, targetB []byte,
	callID, ua []byte, slot int32) *active {
	key.rule = r
	if i, ok := d.evIdx[key]; ok {
		a := &d.evs[i]
		a.ev.Count += n
		if ts > int64(a.ev.Last) {
			a.ev.Last = correlate.Time(ts)
		}
		if len(callID) > 0 && len(a.ev.CallIDs) < MaxSampleCallIDs && !hasString(a.ev.CallIDs, callID) {
			a.ev.CallIDs = append(a.ev.CallIDs, string(callID))
		}
		if slot >= 0 && a.srcSlot < 0 {
			a.srcSlot = slot
			d.srcs[slot].active |= 1 << r
		}
		return a
	}
	i := d.eventSlot()
	a := &d.evs[i]
	if target == "" && len(targetB) > 0 {
		target = string(targetB)
	}
	info := ruleInfo[r]
	a.key, a.used, a.srcSlot = key, true, slot
	a.ev = Event{
		Type: Types[info.typ], Rule: info.name, Severity: info.sev,
		Target: target, Count: n, First: correlate.Time(first), Last: correlate.Time(ts),
		CallIDs: make([]string, 0, MaxSampleCallIDs),
	}
	if src.IsValid() {
		a.ev.Source = src.String()
	}
	if len(ua) > 0 {
		a.ev.UserAgent = string(ua)
	}
	if len(callID) > 0 {
		a.ev.CallIDs = append(a.ev.CallIDs, string(callID))
	}
	a.ev.ID = eventID(&a.ev)
	d.evIdx[key] = i
	if slot >= 0 {
		d.srcs[slot].active |= 1 << r
	}
	d.nActive++
	d.raised[info.typ]++
	d.m.events[info.typ].Inc()
	d.m.active.Inc()
	if d.out.Raised != nil {
		d.out.Raised(&a.ev)
	}
	return a
}

// eventSlot returns a free slot of evs, ending the oldest-created event when the table
// is full.
func (d *Detector) eventSlot() int32 {
	if n := len(d.evFree); n > 0 {
		i := d.evFree[n-1]
		d.evFree = d.evFree[:n-1]
		return i
	}
	if len(d.evs) < d.cfg.MaxEvents {
		d.evs = append(d.evs, active{srcSlot: -1})
		return int32(len(d.evs) - 1)
	}
	i := d.evNext
	d.evNext = (d.evNext + 1) % int32(len(d.evs))
	d.evict(tableEvents)
	d.end(i)
	d.evFree = d.evFree[:len(d.evFree)-1] // end freed it; take it back
	return i
}

// end delivers the event in slot i and frees the slot.
func (d *Detector) end(i int32) {
	a := &d.evs[i]
	if !a.used {
		return
	}
	if a.srcSlot >= 0 && d.srcs[a.srcSlot].addr == a.key.src {
		d.srcs[a.srcSlot].active &^= 1 << a.key.rule
	}
	delete(d.evIdx, a.key)
	ev := a.ev
	if a.distinct != nil {
		if len(a.distinct) > ev.Distinct {
			ev.Distinct = len(a.distinct)
		}
		clear(a.distinct)
	}
	a.used, a.srcSlot, a.ev = false, -1, Event{}
	d.evFree = append(d.evFree, i)
	d.nActive--
	d.m.active.Dec()
	if d.out.Ended != nil {
		d.out.Ended(&ev)
	}
}

// addDistinct records target hash h in a's distinct set, bounded.
func (a *active) addDistinct(h uint32) {
	if a.distinct == nil {
		a.distinct = make(map[uint32]struct{}, 64)
	}
	if len(a.distinct) < maxEventDistinct {
		a.distinct[h] = struct{}{}
	}
}

func eventID(e *Event) string {
	h := sha256.New()
	for _, s := range []string{string(e.Type), string(e.Rule), e.Source, e.Target} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(e.First))
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func hasString(list []string, b []byte) bool {
	for _, s := range list {
		if s == string(b) {
			return true
		}
	}
	return false
}
