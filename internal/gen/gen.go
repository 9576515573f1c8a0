package gen

import (
	"bufio"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"time"
)

// Format is the capture file format written by Scenario.Write.
type Format int

// File formats.
const (
	PcapMicro        Format = iota // libpcap, little endian, microsecond timestamps
	PcapNano                       // libpcap, little endian, nanosecond timestamps
	PcapBigEndian                  // libpcap, big endian, microsecond timestamps
	Pcapng                         // pcapng, one interface
	PcapngMultiIface               // pcapng, two interfaces with different link types, packets alternating
)

// Link is the link-layer header type of the (first) interface.
type Link int

// Link types.
const (
	Ethernet  Link = iota // LINKTYPE_ETHERNET (1)
	LinuxSLL              // LINKTYPE_LINUX_SLL (113)
	LinuxSLL2             // LINKTYPE_LINUX_SLL2 (276)
	RawIP                 // LINKTYPE_RAW (101)
	Null                  // LINKTYPE_NULL (0), address family in the file's byte order
	Loop                  // LINKTYPE_LOOP (108), address family in network byte order
)

// Encap is the encapsulation wrapped around every IP packet.
type Encap int

// Encapsulations.
const (
	None    Encap = iota
	VLAN          // one 802.1Q tag
	QinQ          // three tags: 0x88a8, 0x8100, 0x9100
	MPLS          // two-label stack
	GRE           // outer IPv4 + GRE with key and sequence number
	ERSPAN2       // outer IPv4 + GRE + ERSPAN type II + Ethernet
	ERSPAN3       // outer IPv4 + GRE + ERSPAN type III + Ethernet
	VXLAN         // outer IPv4 + UDP 4789 + VXLAN + Ethernet
	IPIP          // outer IPv4 + inner IPv4 (protocol 4)
	IP6in4        // outer IPv4 + inner IPv6 (protocol 41); IPv4 scenario addresses are mapped into 2001:db8::/96
	IPv6          // plain IPv6 with hop-by-hop and destination option headers; IPv4 addresses are mapped
	PPTP          // outer IPv4 + enhanced GRE (RFC 2637) + PPP; frames alternate full and ACFC+PFC PPP headers
	GTPU          // outer IPv4 + UDP 2152 + GTP-U v1 G-PDU; frames alternate a bare header and S+E with a PDU Session Container
)

// Transport carries the SIP messages.
type Transport int

// Transports. RTP is always plain UDP.
const (
	UDP  Transport = iota
	TCP            // one connection per hop, shaped by TCPMode
	SCTP           // one association per hop, each message in one DATA chunk
	WS             // RFC 7118 SIP over WebSocket: HTTP upgrade, masked client frames, unmasked server frames
	HEP            // HEPv3 over UDP to port 9060 carrying SIP and RTCP; RTP stays plain
)

// TCPMode shapes how SIP messages are cut into TCP segments (bit flags).
type TCPMode uint8

// TCP modes.
const (
	Split      TCPMode = 1 << iota // every message (group) in at least 3 segments
	Coalesce                       // consecutive messages in the same direction share segments
	Retransmit                     // every second data segment is sent again
	Reorder                        // segments of a message are swapped pairwise
)

// Outcome is how the initial INVITE ends.
type Outcome int

// Call outcomes.
const (
	Answered   Outcome = iota
	Busy               // 486
	Cancelled          // CANCEL, 200, 487
	NoAnswer           // 480
	Timeout            // 408
	Redirected         // 302
	Failed             // FinalCode (default 503)
)

// Scenario describes a capture whose truth is known. See the package doc.
type Scenario struct {
	Name      string
	Format    Format
	Link      Link
	Encap     Encap
	Transport Transport
	TCPMode   TCPMode
	Fragment  bool
	// SpanDuplicates writes every frame twice, the copy 1 ms later (a SPAN session
	// mirroring both directions); on Ethernet the copy carries an 802.1Q tag the
	// original lacks, so the two are identical from the IP header on.
	SpanDuplicates bool
	Calls          []CallSpec
	Orphans        []StreamSpec
	Registrations  []RegSpec
	Bursts         []BurstSpec // out-of-dialog request runs (security.go)
	Seed           int64
	Start          time.Time
}

// CallSpec describes one call (one INVITE dialog).
type CallSpec struct {
	CallID                   string
	FromUser, ToUser         string
	Caller, Callee           netip.AddrPort
	CallerMedia, CalleeMedia netip.AddrPort
	Outcome                  Outcome
	FinalCode                int
	Start                    time.Duration
	RingMs, TalkMs           int
	ByeFromCallee            bool
	Q850Cause                int
	Codec                    string
	PtimeMs                  int
	Loss                     []int
	LossBack                 []int
	Duplicates               []int
	Reorder                  []int
	JitterMs                 float64
	DTMF                     string
	RTCP                     bool
	RTTMs                    float64
	RetransmitInvite         bool
	ProxyHop                 bool
	EarlyMedia               bool
	NoBye                    bool
	MediaStopEarlyMs         int
	ReInviteHold             bool
	PortMove                 bool
	NATMedia                 bool
	Fork                     bool
	LinkTo                   string
	Payload                  []byte
	// AuthChallenge (401 or 407) answers the first INVITE with a challenge; the caller
	// ACKs it and sends the INVITE again with credentials (CSeq 2), unless AuthNoRetry.
	AuthChallenge int
	AuthNoRetry   bool
	// RedirectFollow answers the first INVITE 302; the caller ACKs and sends a new
	// INVITE (CSeq 2) to the Contact, which is answered.
	RedirectFollow bool
	// ReInviteFail (488, 491) answers a mid-call re-INVITE with that error; the call goes on.
	ReInviteFail int
	// ReferTo makes the callee transfer the call (blind REFER, answered 202) to this user
	// halfway through; ReferredBy puts a Referred-By of that user in this call's INVITE.
	ReferTo, ReferredBy string
	// StallMs holds the caller's media for that long halfway through the call, then
	// delivers the held packets in a burst (sequence numbers and timestamps contiguous).
	StallMs int
}

// StreamSpec is an RTP stream with no signalling.
type StreamSpec struct {
	SSRC     uint32
	Src, Dst netip.AddrPort
	PT       uint8
	Packets  int
	Start    time.Duration
}

// RegSpec is a registration: REGISTER, 401, REGISTER with credentials, 200 (403 when Fail).
type RegSpec struct {
	User      string
	Contact   netip.AddrPort
	Registrar netip.AddrPort
	Start     time.Duration
	Expires   int
	Fail      bool
}

// Truth is what a correct analyser must find in the written capture.
type Truth struct {
	Calls         []CallTruth
	Orphans       []StreamTruth
	Registrations int
	BurstMessages int // SIP messages of the bursts: requests and responses
	// BurstRegistrations are the answered REGISTERs of bursts: each its own Call-ID, so
	// each a registration flow (not counted in Registrations).
	BurstRegistrations int
	Packets            int
}

// CallTruth is the truth of one call.
type CallTruth struct {
	CallID          string
	State           string
	FinalCode       int
	SIPMessages     int
	Retransmissions int
	AuthChallenges  int
	TransferredTo   string
	Streams         []StreamTruth
}

// StreamTruth is the truth of one RTP stream (one SSRC between one address pair).
// Expected runs from the lowest to the highest sequence number received.
type StreamTruth struct {
	SSRC                                            uint32
	Src, Dst                                        netip.AddrPort
	PT                                              uint8
	Packets, Expected, Lost, Duplicates, OutOfOrder uint64
	DTMF                                            string
}

// ErrInvalid is wrapped by Write for scenarios that cannot be written.
var ErrInvalid = errors.New("gen: invalid scenario")

// event is one transport-level payload to put on the wire.
type event struct {
	t        time.Duration
	src, dst netip.AddrPort
	l4       l4kind
	payload  []byte
	frag     bool  // may be IP-fragmented
	hep      uint8 // HEP protocol type when carried in HEP: 1 SIP, 5 RTCP; 0 never
	tcp      tcpInfo
	sctp     sctpInfo
}

type l4kind uint8

const (
	l4UDP l4kind = iota
	l4TCP
	l4SCTP
)

type tcpInfo struct {
	seq, ack            uint32
	syn, ack_, fin, psh bool
}

type sctpInfo struct {
	vtag, tsn uint32
	ssn       uint16
}

// source yields events in non-decreasing time order.
type source interface {
	// head returns the time of the next event, false when exhausted.
	head() (time.Duration, bool)
	// pop fills ev with the next event. The payload is valid until the next pop.
	pop(ev *event)
}

// listSource is a precomputed, time-sorted list of events.
type listSource struct {
	evs []event
	i   int
}

func (l *listSource) head() (time.Duration, bool) {
	if l.i >= len(l.evs) {
		return 0, false
	}
	return l.evs[l.i].t, true
}

func (l *listSource) pop(ev *event) {
	*ev = l.evs[l.i]
	l.evs[l.i] = event{}
	l.i++
}

type heapItem struct {
	t   time.Duration
	id  int
	src source
}

type srcHeap []heapItem

func (h srcHeap) Len() int { return len(h) }
func (h srcHeap) Less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	return h[i].id < h[j].id
}
func (h srcHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *srcHeap) Push(x any)   { *h = append(*h, x.(heapItem)) }
func (h *srcHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// WriteFile writes the scenario to a new file at path (Write) and returns its truth.
func (s *Scenario) WriteFile(path string) (Truth, error) {
	f, err := os.Create(path)
	if err != nil {
		return Truth{}, err
	}
	truth, err := s.Write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return truth, err
}

// Write writes the scenario to w in s.Format and returns its truth. The same
// Scenario always gives byte-identical output. Packets are produced in time
// order by merging per-call generators, so memory does not grow with the
// length of the capture.
func (s *Scenario) Write(w io.Writer) (Truth, error) {
	sc := s.normalized()
	if err := sc.validate(); err != nil {
		return Truth{}, err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	fw, err := newFileWriter(bw, sc)
	if err != nil {
		return Truth{}, err
	}
	rng := rand.New(rand.NewPCG(uint64(sc.Seed), 0x63616c6c73636f70))
	var truth Truth
	var orphans []*rtpStream
	var calls []*callGen
	var h srcHeap
	id := 0
	add := func(src source) {
		if t, ok := src.head(); ok {
			h = append(h, heapItem{t: t, id: id, src: src})
		}
		id++
	}
	for i := range sc.Calls {
		cg := newCallGen(&sc, &sc.Calls[i], i, rng)
		calls = append(calls, cg)
		for _, src := range cg.sources() {
			add(src)
		}
	}
	for i := range sc.Registrations {
		add(&listSource{evs: regEvents(&sc, &sc.Registrations[i], i, rng)})
	}
	for i := range sc.Bursts {
		b := &sc.Bursts[i]
		add(&listSource{evs: burstEvents(&sc, b, i, rng)})
		truth.BurstMessages += b.Count
		if len(b.Answers) > 0 {
			truth.BurstMessages += b.Count
			if b.Method == "REGISTER" {
				truth.BurstRegistrations += b.Count
			}
		}
	}
	for i := range sc.Orphans {
		st := newOrphanStream(&sc, &sc.Orphans[i], rng)
		orphans = append(orphans, st)
		add(st)
	}
	heap.Init(&h)
	fr := newFramer(&sc, fw)
	var ev event
	for h.Len() > 0 {
		it := &h[0]
		it.src.pop(&ev)
		if err := fr.emit(&ev); err != nil {
			return truth, err
		}
		if t, ok := it.src.head(); ok {
			if t < ev.t {
				t = ev.t
			}
			it.t = t
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	if err := fr.flushDups(time.Time{}, true); err != nil {
		return truth, err
	}
	if err := fw.flush(); err != nil {
		return truth, err
	}
	if err := bw.Flush(); err != nil {
		return truth, err
	}
	for _, cg := range calls {
		truth.Calls = append(truth.Calls, cg.truth())
	}
	for _, st := range orphans {
		truth.Orphans = append(truth.Orphans, st.finalTruths()...)
	}
	truth.Registrations = len(sc.Registrations)
	truth.Packets = fr.packets
	return truth, nil
}

// normalized returns a copy with defaults applied and, for IPv6 encapsulations,
// IPv4 addresses mapped into 2001:db8::/96.
func (s *Scenario) normalized() Scenario {
	sc := *s
	if sc.Start.IsZero() {
		sc.Start = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	v6 := sc.Encap == IPv6 || sc.Encap == IP6in4
	m := func(a netip.AddrPort) netip.AddrPort {
		if v6 && a.Addr().Is4() {
			return netip.AddrPortFrom(map6(a.Addr()), a.Port())
		}
		return a
	}
	sc.Calls = append([]CallSpec(nil), s.Calls...)
	for i := range sc.Calls {
		c := &sc.Calls[i]
		c.Caller, c.Callee, c.CallerMedia, c.CalleeMedia = m(c.Caller), m(c.Callee), m(c.CallerMedia), m(c.CalleeMedia)
		if c.PtimeMs <= 0 {
			c.PtimeMs = 20
		}
		if c.Codec == "" {
			c.Codec = "PCMU"
		}
		if c.FromUser == "" {
			c.FromUser = "alice"
		}
		if c.ToUser == "" {
			c.ToUser = "bob"
		}
	}
	sc.Bursts = append([]BurstSpec(nil), s.Bursts...)
	for i := range sc.Bursts {
		b := &sc.Bursts[i]
		b.Source, b.Target = m(b.Source), m(b.Target)
	}
	sc.Orphans = append([]StreamSpec(nil), s.Orphans...)
	for i := range sc.Orphans {
		o := &sc.Orphans[i]
		o.Src, o.Dst = m(o.Src), m(o.Dst)
	}
	sc.Registrations = append([]RegSpec(nil), s.Registrations...)
	for i := range sc.Registrations {
		r := &sc.Registrations[i]
		r.Contact, r.Registrar = m(r.Contact), m(r.Registrar)
		if r.Expires == 0 {
			r.Expires = 3600
		}
	}
	return sc
}

func map6(a netip.Addr) netip.Addr {
	b := a.As4()
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: b[0], 13: b[1], 14: b[2], 15: b[3]})
}

func (s *Scenario) validate() error {
	l2 := s.Encap == VLAN || s.Encap == QinQ || s.Encap == MPLS
	if l2 && (s.Link == RawIP || s.Link == Null || s.Link == Loop) {
		return fmt.Errorf("%w: %s: encapsulation %d needs a link with an ethertype", ErrInvalid, s.Name, s.Encap)
	}
	check := func(what string, a netip.AddrPort) error {
		if !a.IsValid() {
			return fmt.Errorf("%w: %s: %s address missing", ErrInvalid, s.Name, what)
		}
		if s.Encap == IPIP && !a.Addr().Is4() {
			return fmt.Errorf("%w: %s: IPIP needs IPv4 addresses", ErrInvalid, s.Name)
		}
		return nil
	}
	for i := range s.Calls {
		c := &s.Calls[i]
		for _, p := range []struct {
			n string
			a netip.AddrPort
		}{{"caller", c.Caller}, {"callee", c.Callee}, {"caller media", c.CallerMedia}, {"callee media", c.CalleeMedia}} {
			if err := check(p.n, p.a); err != nil {
				return err
			}
		}
		if _, ok := codecs[c.Codec]; !ok {
			return fmt.Errorf("%w: %s: unknown codec %q", ErrInvalid, s.Name, c.Codec)
		}
		if c.CallID == "" {
			return fmt.Errorf("%w: %s: call %d has no Call-ID", ErrInvalid, s.Name, i)
		}
	}
	for _, o := range s.Orphans {
		if err := check("orphan", o.Src); err != nil {
			return err
		}
		if err := check("orphan", o.Dst); err != nil {
			return err
		}
	}
	for _, r := range s.Registrations {
		if err := check("contact", r.Contact); err != nil {
			return err
		}
		if err := check("registrar", r.Registrar); err != nil {
			return err
		}
	}
	for _, b := range s.Bursts {
		if err := check("burst source", b.Source); err != nil {
			return err
		}
		if err := check("burst target", b.Target); err != nil {
			return err
		}
		if b.Method != "OPTIONS" && b.Method != "REGISTER" && b.Method != "INVITE" {
			return fmt.Errorf("%w: %s: burst method %q", ErrInvalid, s.Name, b.Method)
		}
	}
	return nil
}
