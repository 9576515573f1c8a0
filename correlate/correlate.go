package correlate

import (
	"bytes"
	"cmp"
	"container/heap"
	"fmt"
	"hash/maphash"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sdp"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/quality"
	"github.com/pion/rtcp"
)

// Sides of a call.
const (
	sideCaller uint8 = 0
	sideCallee uint8 = 1
	sideNone   uint8 = 2
)

// Record is a finished call with what the store needs besides the JSON object.
type Record struct {
	Call     Call
	Messages []Message // ladder entries, when Config.KeepMessages
	LinkKeys []string  // values that link B2BUA legs (see LinkCalls)
	Media    []Frame   // RTP/RTCP frames kept for pcap export (Config.KeepRTP), in arrival order
	// LinkWindow is Config.LinkWindow when Config.LinkByNumber is on, else 0: LinkCalls
	// then also links this call to calls with the same from_user and to_user starting
	// within it.
	LinkWindow int64
}

// Frame is one captured frame kept for pcap export. Data of the frames of one call share
// backing arrays; treat them as read-only.
type Frame struct {
	TS       int64
	LinkType uint32
	OrigLen  int    // length on the wire
	Data     []byte // the whole frame, or only its headers through the RTP header (KeepRTP headers)
}

// Message is one SIP message of a call as captured, for ladders and pcap export.
type Message struct {
	TS        int64
	Src, Dst  netip.AddrPort
	Transport string
	Request   bool
	Method    string
	Status    int
	CSeq      uint32
	Retrans   bool
	Raw       []byte // the SIP message bytes
	Frame     []byte // the captured frame it completed in
	LinkType  uint32
}

// Output receives what the correlator finishes. Any field may be nil.
type Output struct {
	Call         func(*Record)
	Orphan       func(*Stream)
	Registration func(*Registration)
}

// Counters count what the correlator did and what it had to evict, by reason.
type Counters struct {
	SIPMessages, RTPPackets, RTCPPackets uint64
	NonCallSIP                           uint64 // OPTIONS, SUBSCRIBE, MESSAGE... outside INVITE dialogs
	UnmatchedRTCP                        uint64
	NonRTPMedia                          uint64 // RTP-looking datagrams on media the SDP says is not RTP (T.38)
	CallsEvicted, StreamsEvicted         uint64 // table full
	MediaEvicted, RegistrationsEvicted   uint64
	MessagesDropped                      uint64 // per-call message cap
	StreamsDroppedPerCall                uint64
	MediaFramesDropped                   uint64 // per-call kept-frame caps (KeepRTP)
	// Per-call list caps: message hashes for retransmission detection, SDP media
	// addresses, payload types, user agents, SIP INFO DTMF events.
	SeenHashesDropped, MediaAddrsDropped uint64
	PayloadTypesDropped                  uint64
	UserAgentsDropped, DTMFDropped       uint64
	BadSDP, BadRTCP                      uint64
	CodecNamesDropped                    uint64 // encoding names past maxCodecNames
	LinksDropped                         uint64 // leg links past maxLinksPerCall or maxCallsPerLinkKey

	// Gauges at the time Counters was called.
	ActiveCalls, ActiveStreams       int
	ActiveMedia, ActiveRegistrations int
}

type ptInfo struct {
	pt     uint8
	tevent bool
	cn     bool
	enc    uint16 // codecNames id
	clock  uint32
}

type sideMedia struct {
	addrs []netip.AddrPort // RTP addresses this side's SDP advertised (current and past)
	// nonRTP are addresses this side's latest SDP moved to a non-RTP transport (T.38 over
	// udptl after a fax re-INVITE): datagrams there are not RTP even if they look like it.
	nonRTP []netip.AddrPort
	pts    []ptInfo
	hold   bool
}

type call struct {
	id          string
	from, to    string
	fromUser    string
	toUser      string
	fromTag     string
	caller      netip.AddrPort
	callee      netip.AddrPort
	transport   string
	inviteCSeq  uint32
	hasInvite   bool
	start       int64
	ringing     int64
	answer      int64
	finalTS     int64
	end         int64
	lastSIP     int64
	finalCode   int
	finalReason string
	cancelled   bool
	byeTS       int64
	byeSide     uint8
	endReason   string
	q850        int
	hasQ850     bool
	inDialogErr int
	msgs        int
	retrans     int
	seen        []uint64
	userAgents  []string
	infoDTMF    []quality.DTMFEvent
	media       [2]sideMedia
	streams     []*stream
	rtcpAddrs   []netip.AddrPort // RTCP addresses from a=rtcp (port+1 ones are derived from media addrs)
	lastMedia   int64
	linkKeys    []string
	linked      []string // Call-IDs of the legs linked while in the table (links.go)
	messages    []Message
	keep        *mediaKeep // RTP/RTCP frames kept (KeepRTP), allocated on the first one
	done        bool       // ended; emitted after Linger
}

// mediaKeep holds the frames kept for one call. Frame data is packed into chunks that
// grow from 2 KiB to 64 KiB, so keeping a frame costs no allocation of its own.
type mediaKeep struct {
	frames []Frame
	buf    []byte // current chunk; frames alias it
	bytes  int
}

// stream is one RTP stream. Fields are chosen and sized so that the struct (most of it
// the quality state) fits the runtime's 416-byte size class: with 100k calls of two
// streams each, every byte is 200 kB (BenchmarkMemory100k; TestStreamSize guards it).
type stream struct {
	q         quality.Stream
	call      *call
	next      *stream // hash-collision chain of streamTable
	key       streamKey
	codec     uint16 // codecNames id of the main payload type's encoding
	clock     uint32
	advancing uint16 // of the first 65535 packets, those whose sequence number advanced by 1..10
	repeats   uint16 // of those, the ones that repeated the previous number (RFC 4733 end packets)
	pt        int16  // main payload type: the first audio one, else the first seen; -1 none
	lastSeq   uint16
	side      uint8 // sending side
	mismatch  bool
	audio     bool // an audio (not event or comfort noise) packet was seen
	newSSRC   bool // another SSRC already flowed on this source→destination in the call
}

type mediaEntry struct {
	call *call
	side uint8
}

type regFlow struct {
	r        Registration
	lastCSeq uint32
	started  int64
}

// Correlator turns events into calls. See the package doc for its rules.
type Correlator struct {
	cfg      Config
	out      Output
	calls    map[string]*call
	media    map[netip.AddrPort]mediaEntry
	streams  streamTable
	bySSRC   map[uint32]*stream
	regs     map[string]*regFlow
	seed     maphash.Seed
	codecs   codecNames
	links    linkIndex
	static   [128]uint16 // codecNames ids of the RFC 3551 static payload types
	keepMode uint8
	msg      sdp.Session
	cnt      Counters
	now      int64
	lastTick int64
}

// New returns a Correlator that reports finished calls, orphan streams and registrations
// to out.
func New(cfg Config, out Output) *Correlator {
	c := &Correlator{
		cfg:      cfg,
		out:      out,
		calls:    make(map[string]*call),
		media:    make(map[netip.AddrPort]mediaEntry),
		streams:  newStreamTable(),
		bySSRC:   make(map[uint32]*stream),
		regs:     make(map[string]*regFlow),
		seed:     maphash.MakeSeed(),
		keepMode: keepModeOf(&cfg),
		codecs:   newCodecNames(),
		links:    newLinkIndex(),
	}
	for pt := range c.static {
		if name, _, ok := sdp.StaticPayload(uint8(pt)); ok {
			c.static[pt], _ = c.codecs.id([]byte(name))
		}
	}
	return c
}

// Counters returns a copy of the counters with the current table sizes.
func (c *Correlator) Counters() Counters {
	n := c.cnt
	n.ActiveCalls, n.ActiveStreams = len(c.calls), c.streams.len()
	n.ActiveMedia, n.ActiveRegistrations = len(c.media), len(c.regs)
	return n
}

// ActiveCalls is the number of calls in the table.
func (c *Correlator) ActiveCalls() int { return len(c.calls) }

// ActiveStreams is the number of streams in the table.
func (c *Correlator) ActiveStreams() int { return c.streams.len() }

// Event consumes one decoded event. The event is a view; nothing of it is kept.
func (c *Correlator) Event(ev *decode.Event) {
	if ev.TS > c.now {
		c.now = ev.TS
	}
	switch ev.Kind {
	case decode.KindSIP:
		c.cnt.SIPMessages++
		c.sipEvent(ev)
	case decode.KindRTP:
		c.cnt.RTPPackets++
		c.rtpEvent(ev)
	case decode.KindRTCP:
		c.cnt.RTCPPackets++
		c.rtcpEvent(ev)
	}
	if c.now-c.lastTick >= 1e9 {
		c.Advance(c.now)
	}
}

// --- SIP ---------------------------------------------------------------------------

func (c *Correlator) sipEvent(ev *decode.Event) {
	m := ev.SIP
	if m == nil || len(m.CallID) == 0 {
		return
	}
	method := m.Method
	if !m.Request {
		method = m.CSeqMethod
	}
	if bytes.EqualFold(method, []byte("REGISTER")) {
		c.register(ev, m)
		return
	}
	cl := c.calls[string(m.CallID)]
	if cl == nil {
		isInvite := m.Request && bytes.EqualFold(m.Method, []byte("INVITE"))
		if !isInvite && !inviteDialogMethod(method) {
			c.cnt.NonCallSIP++
			return
		}
		cl = c.newCall(ev, m)
		if cl == nil {
			return
		}
	}
	c.addMessage(cl, ev, m)
}

// inviteDialogMethod reports whether a message of this method belongs to an INVITE dialog,
// so that a capture starting mid-call still shows the call.
func inviteDialogMethod(method []byte) bool {
	for _, s := range [...]string{"INVITE", "ACK", "BYE", "CANCEL", "PRACK", "UPDATE", "INFO", "REFER"} {
		if bytes.EqualFold(method, []byte(s)) {
			return true
		}
	}
	return false
}

func (c *Correlator) newCall(ev *decode.Event, m *sip.Message) *call {
	if len(c.calls) >= c.cfg.MaxCalls {
		c.evictOldestCall()
	}
	cl := &call{
		id:        string(m.CallID),
		start:     ev.TS,
		transport: ev.Transport.String(),
	}
	c.calls[cl.id] = cl
	return cl
}

// evictOldestCall makes room in a full call table: it ends and emits the least recently
// active calls, 1/64 of the cap at once, so a flood of new Call-IDs costs one scan and
// sort per cap/64 calls instead of a scan per call.
func (c *Correlator) evictOldestCall() {
	all := make([]*call, 0, len(c.calls))
	for _, cl := range c.calls {
		all = append(all, cl)
	}
	slices.SortFunc(all, func(a, b *call) int {
		if d := cmp.Compare(a.lastActivity(), b.lastActivity()); d != 0 {
			return d
		}
		return strings.Compare(a.id, b.id)
	})
	for _, cl := range all[:min(evictBatch(c.cfg.MaxCalls), len(all))] {
		c.cnt.CallsEvicted++
		c.finishCall(cl, "capture_end")
		c.emit(cl)
	}
}

// evictBatch is how many entries a full table of size max evicts at once.
func evictBatch(capacity int) int { return max(1, capacity/64) }

func (cl *call) lastActivity() int64 {
	if cl.lastMedia > cl.lastSIP {
		return cl.lastMedia
	}
	return cl.lastSIP
}

// senderSide says which side of the call sent m.
func (cl *call) senderSide(m *sip.Message) uint8 {
	if cl.fromTag == "" || len(m.FromTag) == 0 {
		if m.Request {
			return sideCaller
		}
		return sideCallee
	}
	fromCaller := string(m.FromTag) == cl.fromTag
	if m.Request == fromCaller {
		return sideCaller
	}
	return sideCallee
}

func (c *Correlator) msgHash(ev *decode.Event, m *sip.Message) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	a := ev.Src.Addr().As16()
	h.Write(a[:])
	a = ev.Dst.Addr().As16()
	h.Write(a[:])
	var b [16]byte
	b[0] = byte(ev.Src.Port() >> 8)
	b[1] = byte(ev.Src.Port())
	b[2] = byte(ev.Dst.Port() >> 8)
	b[3] = byte(ev.Dst.Port())
	b[4] = byte(m.CSeq >> 24)
	b[5] = byte(m.CSeq >> 16)
	b[6] = byte(m.CSeq >> 8)
	b[7] = byte(m.CSeq)
	b[8] = byte(m.StatusCode >> 8)
	b[9] = byte(m.StatusCode)
	if m.Request {
		b[10] = 1
	}
	h.Write(b[:11])
	h.Write(m.Method)
	h.Write(m.CSeqMethod)
	h.Write(m.ViaBranch)
	h.Write(m.ToTag)
	return h.Sum64()
}

// Per-call list caps; what goes beyond them is counted.
const (
	maxSeenPerCall    = 1024
	maxUserAgents     = 8
	maxInfoDTMF       = 256
	maxAddrsPerSide   = 16
	maxNonRTPPerSide  = 8
	maxPayloadTypes   = 32
	maxHeaderlessKept = 128 // bytes kept of a frame whose RTP header is not in it (KeepRTP headers)
)

// dtmfSameKey is how close two reports of the same digit must start to be one key press.
const dtmfSameKey = 200e6

func (c *Correlator) addMessage(cl *call, ev *decode.Event, m *sip.Message) {
	cl.msgs++
	if ev.TS > cl.lastSIP {
		cl.lastSIP = ev.TS
	}
	hv := c.msgHash(ev, m)
	retrans := false
	for _, s := range cl.seen {
		if s == hv {
			retrans = true
			break
		}
	}
	if retrans {
		cl.retrans++
	} else if len(cl.seen) < maxSeenPerCall {
		cl.seen = append(cl.seen, hv)
	} else {
		c.cnt.SeenHashesDropped++
	}
	if c.cfg.KeepMessages {
		if len(cl.messages) < c.cfg.MaxMessagesPerCall {
			meth := string(m.Method)
			cl.messages = append(cl.messages, Message{
				TS: ev.TS, Src: ev.Src, Dst: ev.Dst, Transport: ev.Transport.String(),
				Request: m.Request, Method: meth, Status: m.StatusCode, CSeq: m.CSeq,
				Retrans: retrans, Raw: bytes.Clone(ev.Payload), Frame: bytes.Clone(ev.Frame),
				LinkType: ev.LinkType,
			})
		} else {
			c.cnt.MessagesDropped++
		}
	}
	c.userAgent(cl, m.UserAgent)
	c.userAgent(cl, m.Server)
	if retrans {
		return
	}
	if m.Request {
		c.request(cl, ev, m)
	} else {
		c.response(cl, ev, m)
	}
	if body := m.SDP(); len(body) > 0 {
		c.sdp(cl, cl.senderSide(m), body, ev.TS)
	}
}

func (c *Correlator) userAgent(cl *call, ua []byte) {
	if len(ua) == 0 {
		return
	}
	for _, u := range cl.userAgents {
		if u == string(ua) {
			return
		}
	}
	if len(cl.userAgents) < maxUserAgents {
		cl.userAgents = append(cl.userAgents, string(ua))
	} else {
		c.cnt.UserAgentsDropped++
	}
}

func (c *Correlator) request(cl *call, ev *decode.Event, m *sip.Message) {
	switch {
	case bytes.EqualFold(m.Method, []byte("INVITE")):
		if !cl.hasInvite && len(m.ToTag) == 0 {
			cl.hasInvite = true
			cl.inviteCSeq = m.CSeq
			cl.start = ev.TS
			cl.from, cl.to = string(m.From), string(m.To)
			cl.fromUser, cl.toUser = string(sip.URIUser(m.FromURI)), string(sip.URIUser(m.ToURI))
			cl.fromTag = string(m.FromTag)
			cl.caller, cl.callee = ev.Src, ev.Dst
			cl.transport = ev.Transport.String()
			c.linkKeys(cl, m)
			c.indexLinks(cl)
		} else if !cl.hasInvite && cl.fromTag == "" {
			c.adoptMidDialog(cl, ev, m)
		}
	case bytes.EqualFold(m.Method, []byte("BYE")):
		if cl.fromTag == "" {
			c.adoptMidDialog(cl, ev, m)
		}
		if cl.byeTS == 0 {
			cl.byeTS = ev.TS
			cl.byeSide = cl.senderSide(m)
		}
		c.reasonHeader(cl, m)
	case bytes.EqualFold(m.Method, []byte("CANCEL")):
		if cl.answer == 0 {
			cl.cancelled = true
		}
		c.reasonHeader(cl, m)
	case bytes.EqualFold(m.Method, []byte("INFO")):
		if d, dur, ok := quality.ParseDTMFInfo(m.ContentType, m.Body); ok {
			if len(cl.infoDTMF) < maxInfoDTMF {
				cl.infoDTMF = append(cl.infoDTMF, quality.DTMFEvent{Digit: d, Start: ev.TS, DurationMs: float64(dur)})
			} else {
				c.cnt.DTMFDropped++
			}
		}
	default:
		if cl.fromTag == "" {
			c.adoptMidDialog(cl, ev, m)
		}
	}
}

// adoptMidDialog fills a call whose INVITE was not captured from an in-dialog request.
func (c *Correlator) adoptMidDialog(cl *call, ev *decode.Event, m *sip.Message) {
	cl.from, cl.to = string(m.From), string(m.To)
	cl.fromUser, cl.toUser = string(sip.URIUser(m.FromURI)), string(sip.URIUser(m.ToURI))
	cl.fromTag = string(m.FromTag)
	cl.caller, cl.callee = ev.Src, ev.Dst
	cl.transport = ev.Transport.String()
	if len(m.ToTag) > 0 && cl.answer == 0 {
		// An in-dialog request means the dialog was established before the capture.
		cl.answer = ev.TS
		cl.finalCode = 200
	}
}

func (c *Correlator) reasonHeader(cl *call, m *sip.Message) {
	if len(m.Reason) == 0 || cl.hasQ850 {
		return
	}
	if cause, ok := sip.Q850Cause(m.Reason); ok {
		cl.q850, cl.hasQ850 = cause, true
	}
}

func (c *Correlator) response(cl *call, ev *decode.Event, m *sip.Message) {
	code := m.StatusCode
	isInvite := bytes.EqualFold(m.CSeqMethod, []byte("INVITE"))
	if isInvite && cl.hasInvite && m.CSeq == cl.inviteCSeq {
		switch {
		case code == 180 || code == 183:
			if cl.ringing == 0 {
				cl.ringing = ev.TS
			}
		case code >= 200 && code < 300:
			if cl.answer == 0 {
				if cl.done && cl.byeTS == 0 {
					// A forked INVITE (RFC 3261 §13.2.2.4): another branch's error
					// response or a CANCEL came first, the answered branch wins. The
					// Reason header of the failed branch is not this call's.
					cl.done, cl.end, cl.endReason = false, 0, ""
					cl.cancelled, cl.hasQ850, cl.q850 = false, false, 0
				}
				cl.answer = ev.TS
				cl.finalTS = ev.TS
				cl.finalCode, cl.finalReason = code, string(m.ReasonPhrase)
			}
		case code >= 300:
			if cl.answer == 0 && cl.finalCode == 0 {
				cl.finalTS = ev.TS
				cl.finalCode, cl.finalReason = code, string(m.ReasonPhrase)
				c.reasonHeader(cl, m)
				cl.end = ev.TS
				cl.endReason = "error_response"
				if cl.cancelled || code == 487 {
					cl.endReason = "cancel"
				}
				cl.done = true
			}
		}
		return
	}
	if !isInvite && code >= 200 && code < 300 && bytes.EqualFold(m.CSeqMethod, []byte("BYE")) {
		if cl.end == 0 && cl.byeTS != 0 {
			cl.end = cl.byeTS
			cl.endReason = "bye"
			cl.done = true
		}
		return
	}
	if code == 408 || code == 481 {
		if !bytes.EqualFold(m.CSeqMethod, []byte("CANCEL")) && (m.CSeq != cl.inviteCSeq || !isInvite) && cl.answer != 0 {
			cl.inDialogErr = code
		}
	}
}

func (c *Correlator) linkKeys(cl *call, m *sip.Message) {
	cl.linkKeys = append(cl.linkKeys, "cid:"+cl.id)
	for _, h := range c.cfg.LinkHeaders {
		v := m.Get(h)
		if len(v) == 0 {
			continue
		}
		switch {
		case strings.EqualFold(h, "P-Charging-Vector"):
			v = sip.Param(append([]byte(";"), v...), "icid-value")
			if len(v) > 0 {
				cl.linkKeys = append(cl.linkKeys, "icid:"+strings.Trim(string(v), `"`))
			}
		case strings.EqualFold(h, "Session-ID"):
			if i := bytes.IndexByte(v, ';'); i >= 0 {
				v = v[:i]
			}
			v = bytes.TrimSpace(v)
			if len(v) > 0 && !bytes.Equal(v, []byte("00000000000000000000000000000000")) {
				cl.linkKeys = append(cl.linkKeys, "sid:"+strings.ToLower(string(v)))
			}
		default:
			cl.linkKeys = append(cl.linkKeys, "cid:"+string(bytes.TrimSpace(v)))
		}
	}
}

// sdp indexes the media addresses one side's SDP advertised.
func (c *Correlator) sdp(cl *call, side uint8, body []byte, ts int64) {
	s := &c.msg
	s.Reset()
	if err := sdp.Parse(body, s); err != nil {
		c.cnt.BadSDP++
		return
	}
	sm := &cl.media[side]
	hold := len(s.Media) > 0
	sm.nonRTP = sm.nonRTP[:0]
	for i := range s.Media {
		md := &s.Media[i]
		if md.Port == 0 {
			continue
		}
		if !isRTPProto(md.Proto) {
			if md.Addr.IsValid() && !md.Addr.IsUnspecified() {
				if len(sm.nonRTP) < maxNonRTPPerSide {
					sm.nonRTP = append(sm.nonRTP, netip.AddrPortFrom(md.Addr, md.Port))
				} else {
					c.cnt.MediaAddrsDropped++
				}
				hold = false
			}
			continue
		}
		if md.Direction == sdp.DirSendRecv || md.Direction == sdp.DirRecvOnly {
			if md.Addr.IsValid() && !md.Addr.IsUnspecified() {
				hold = false
			}
		}
		if !md.Addr.IsValid() || md.Addr.IsUnspecified() {
			continue
		}
		// Only what the call records is indexed: emit removes exactly that.
		ap := netip.AddrPortFrom(md.Addr, md.Port)
		known := containsAP(sm.addrs, ap)
		if !known && len(sm.addrs) < maxAddrsPerSide {
			sm.addrs, known = append(sm.addrs, ap), true
		} else if !known {
			c.cnt.MediaAddrsDropped++
		}
		if known {
			c.indexMedia(ap, cl, side)
		}
		if known && !md.RTCPMux {
			rtcp := netip.AddrPortFrom(md.Addr, md.Port+1)
			if md.RTCPPort != 0 {
				ra := md.Addr
				if md.RTCPAddr.IsValid() {
					ra = md.RTCPAddr
				}
				rtcp = netip.AddrPortFrom(ra, md.RTCPPort)
			}
			switch {
			case rtcp == netip.AddrPortFrom(md.Addr, md.Port+1), containsAP(cl.rtcpAddrs, rtcp):
				c.indexMedia(rtcp, cl, side)
			case len(cl.rtcpAddrs) < 2*maxAddrsPerSide: // an a=rtcp address (RFC 3605)
				cl.rtcpAddrs = append(cl.rtcpAddrs, rtcp)
				c.indexMedia(rtcp, cl, side)
			default:
				c.cnt.MediaAddrsDropped++
			}
		}
		for _, f := range md.Formats {
			c.addPT(sm, md, f)
		}
	}
	sm.hold = hold
}

func (c *Correlator) addPT(sm *sideMedia, md *sdp.Media, pt uint8) {
	enc := md.Encoding(pt)
	info := ptInfo{pt: pt, clock: md.ClockRate(pt)}
	if id, ok := c.codecs.id(enc); ok {
		info.enc = id
	} else {
		c.cnt.CodecNamesDropped++
	}
	info.tevent = bytes.EqualFold(enc, []byte("telephone-event"))
	info.cn = pt == 13 || bytes.EqualFold(enc, []byte("CN"))
	for i := range sm.pts {
		if sm.pts[i].pt == pt {
			if info.enc != 0 {
				sm.pts[i] = info
			}
			return
		}
	}
	if len(sm.pts) < maxPayloadTypes {
		sm.pts = append(sm.pts, info)
	} else {
		c.cnt.PayloadTypesDropped++
	}
}

// isRTPProto reports whether an m= line's transport carries RTP: RTP/AVP, RTP/SAVP,
// RTP/AVPF, UDP/TLS/RTP/SAVPF and the like (RFC 4566 §5.14, RFC 5764).
func isRTPProto(p []byte) bool {
	for i := 0; i+3 <= len(p); i++ {
		if (p[i]|0x20) == 'r' && (p[i+1]|0x20) == 't' && (p[i+2]|0x20) == 'p' {
			return true
		}
	}
	return false
}

// nonRTP reports whether a datagram between src and dst belongs to media the call's
// SDP moved off RTP.
func (cl *call) nonRTP(src, dst netip.AddrPort) bool {
	for i := range cl.media {
		for _, a := range cl.media[i].nonRTP {
			if a == src || a == dst {
				return true
			}
		}
	}
	return false
}

func containsAP(s []netip.AddrPort, a netip.AddrPort) bool {
	for _, x := range s {
		if x == a {
			return true
		}
	}
	return false
}

func (c *Correlator) indexMedia(ap netip.AddrPort, cl *call, side uint8) {
	if _, ok := c.media[ap]; !ok && len(c.media) >= c.cfg.MaxMedia {
		c.cnt.MediaEvicted++
		for k, e := range c.media {
			if e.call.done || e.call != cl {
				delete(c.media, k)
				break
			}
		}
	}
	c.media[ap] = mediaEntry{call: cl, side: side}
}

// --- RTP ---------------------------------------------------------------------------

func (c *Correlator) rtpEvent(ev *decode.Event) {
	h := ev.RTP
	if h == nil {
		return
	}
	var key streamKey
	key.set(h.SSRC, ev.Src, ev.Dst)
	st := c.streams.get(&key)
	if st == nil {
		st = c.newStream(&key, ev)
		if st == nil {
			return
		}
	}
	c.rtpPacket(st, ev)
}

func (c *Correlator) newStream(key *streamKey, ev *decode.Event) *stream {
	var cl *call
	side := sideNone
	mismatch := false
	if e, ok := c.media[ev.Dst]; ok {
		cl, side = e.call, 1-e.side
		if other := cl.media[side].addrs; len(other) > 0 && !containsAP(other, ev.Src) {
			mismatch = true
		}
	} else if e, ok := c.media[ev.Src]; ok {
		cl, side = e.call, e.side
		mismatch = true
	}
	if cl != nil && len(cl.streams) >= c.cfg.MaxStreamsPerCall {
		c.cnt.StreamsDroppedPerCall++
		return nil
	}
	if c.streams.len() >= c.cfg.MaxStreams {
		c.evictStream()
	}
	st := &stream{key: *key, call: cl, side: side, mismatch: mismatch, pt: -1}
	if cl != nil {
		for _, o := range cl.streams {
			if o.key.sameFlow(key) && o.key.ssrc != key.ssrc {
				st.newSSRC = true // the source changed SSRC mid-call (RFC 3550 §8.2)
				break
			}
		}
	}
	st.q.Init(&c.cfg.Quality, key.ssrc, 0, quality.LookupCodec(nil, 0))
	c.streams.add(st)
	c.bySSRC[key.ssrc] = st
	if cl != nil {
		cl.streams = append(cl.streams, st)
	}
	return st
}

// evictStream drops the least recently active orphan candidate, or else the least
// recently active stream.
func (c *Correlator) evictStream() {
	all := make([]*stream, 0, c.streams.len())
	c.streams.each(func(st *stream) { all = append(all, st) })
	// Orphan candidates first, then the least recently active; batches as for calls.
	slices.SortFunc(all, func(a, b *stream) int {
		if ao, bo := a.call == nil, b.call == nil; ao != bo {
			if ao {
				return -1
			}
			return 1
		}
		if d := cmp.Compare(a.q.Last(), b.q.Last()); d != 0 {
			return d
		}
		return cmp.Compare(a.key.ssrc, b.key.ssrc)
	})
	for _, victim := range all[:min(evictBatch(c.cfg.MaxStreams), len(all))] {
		c.cnt.StreamsEvicted++
		c.dropStream(victim)
		if victim.call == nil {
			c.emitOrphan(victim)
		}
	}
}

func (c *Correlator) dropStream(s *stream) {
	c.streams.del(s)
	if c.bySSRC[s.key.ssrc] == s {
		delete(c.bySSRC, s.key.ssrc)
	}
}

// ptFor resolves a payload type through the receiver's SDP, then the sender's.
func (cl *call) ptFor(sender uint8, pt uint8) (ptInfo, bool) {
	if cl == nil || sender > sideCallee {
		return ptInfo{}, false
	}
	for _, side := range [2]uint8{1 - sender, sender} {
		for _, p := range cl.media[side].pts {
			if p.pt == pt {
				return p, true
			}
		}
	}
	return ptInfo{}, false
}

func (c *Correlator) rtpPacket(st *stream, ev *decode.Event) {
	if st.call != nil && (len(st.call.media[0].nonRTP) > 0 || len(st.call.media[1].nonRTP) > 0) &&
		st.call.nonRTP(ev.Src, ev.Dst) {
		c.cnt.NonRTPMedia++
		return
	}
	h := ev.RTP
	pt := h.PayloadType
	kind := quality.Audio
	info, known := st.call.ptFor(st.side, pt)
	if !known {
		if _, clock, ok := sdp.StaticPayload(pt); ok {
			info = ptInfo{pt: pt, enc: c.static[pt&0x7f], clock: clock, cn: pt == 13}
			known = true
		}
	}
	switch {
	case info.tevent:
		kind = quality.Event
		st.q.SetEventClock(info.clock)
	case info.cn || pt == 13:
		kind = quality.ComfortNoise
	}
	seen := st.packets()
	if seen == 0 || (kind == quality.Audio && !st.audio) {
		st.pt = int16(pt)
		st.codec, st.clock = info.enc, info.clock
	}
	if kind == quality.Audio && !st.audio {
		st.audio = true
		if known {
			st.codec, st.clock = info.enc, info.clock
			st.q.SetClock(info.clock, quality.LookupCodec([]byte(c.codecs.name(info.enc)), info.clock))
		}
	}
	if seen > 0 && seen < math.MaxUint16 {
		switch d := h.SequenceNumber - st.lastSeq; {
		case d >= 1 && d <= 10:
			st.advancing++
		case d == 0:
			st.repeats++
		}
	}
	st.lastSeq = h.SequenceNumber
	if st.call != nil && ev.TS > st.call.lastMedia {
		st.call.lastMedia = ev.TS
	}
	var payload []byte
	hl := h.MarshalSize()
	if hl <= len(ev.Payload) && hl+ev.RTPPayloadLen <= len(ev.Payload) && ev.RTPPayloadLen >= 0 {
		payload = ev.Payload[hl : hl+ev.RTPPayloadLen]
	}
	st.q.Packet(ev.TS, h.SequenceNumber, h.Timestamp, h.Marker, kind, payload)
	if st.call != nil && c.keepMode != keepNone {
		c.keepFrame(st.call, ev, hl)
	}
}

// Kept-media modes, from Config.KeepRTP (and Config.KeepMessages).
const (
	keepNone uint8 = iota
	keepHeaders
	keepFull
)

func keepModeOf(cfg *Config) uint8 {
	if !cfg.KeepMessages {
		return keepNone
	}
	switch cfg.KeepRTP {
	case KeepRTPHeaders:
		return keepHeaders
	case KeepRTPFull:
		return keepFull
	}
	return keepNone
}

// keepFrame copies the frame of a media packet of cl for pcap export. rtpHdr is the RTP
// header length (0 for RTCP, which is kept whole): in headers mode the frame is cut
// right after it.
func (c *Correlator) keepFrame(cl *call, ev *decode.Event, rtpHdr int) {
	data := ev.Frame
	if len(data) == 0 {
		return
	}
	if c.keepMode == keepHeaders && rtpHdr > 0 {
		data = data[:rtpHeaderEnd(data, ev.Payload, rtpHdr)]
	}
	k := cl.keep
	if k == nil {
		k = &mediaKeep{}
		cl.keep = k
	}
	if len(k.frames) >= c.cfg.MaxMediaFramesPerCall || k.bytes+len(data) > c.cfg.MaxMediaBytesPerCall {
		c.cnt.MediaFramesDropped++
		return
	}
	if cap(k.buf)-len(k.buf) < len(data) {
		size := 2 * cap(k.buf)
		size = min(max(size, 2<<10), 64<<10)
		k.buf = make([]byte, 0, max(size, len(data)))
	}
	off := len(k.buf)
	k.buf = append(k.buf, data...)
	k.frames = append(k.frames, Frame{TS: ev.TS, LinkType: ev.LinkType, OrigLen: len(ev.Frame), Data: k.buf[off:len(k.buf):len(k.buf)]})
	k.bytes += len(data)
}

// rtpHeaderEnd returns the offset in frame just past the RTP header that starts payload
// (a datagram of the frame): usually the payload is the frame's tail; with Ethernet
// padding it is found by its header bytes. A frame that does not hold the header (the
// last fragment of a reassembled datagram) is cut at maxHeaderlessKept bytes.
func rtpHeaderEnd(frame, payload []byte, hl int) int {
	if hl > len(payload) {
		hl = len(payload)
	}
	if off := len(frame) - len(payload); off >= 0 && bytes.Equal(frame[off:off+hl], payload[:hl]) {
		return off + hl
	}
	if hl >= 12 {
		if i := bytes.Index(frame, payload[:hl]); i >= 0 {
			return i + hl
		}
	}
	return min(len(frame), maxHeaderlessKept)
}

// --- RTCP --------------------------------------------------------------------------

func (c *Correlator) rtcpEvent(ev *decode.Event) {
	var cl *call
	if e, ok := c.media[ev.Dst]; ok {
		cl = e.call
	} else if e, ok := c.media[ev.Src]; ok {
		cl = e.call
	}
	pkts, err := rtcp.Unmarshal(ev.Payload)
	if err != nil && len(pkts) == 0 {
		c.cnt.BadRTCP++
		return
	}
	matched := false
	for _, p := range pkts {
		switch r := p.(type) {
		case *rtcp.SenderReport:
			if st := c.streamBySSRC(cl, r.SSRC); st != nil {
				st.q.SenderReport(ev.TS, r.NTPTime, r.RTPTime)
				matched = true
			}
			matched = c.reports(cl, ev.TS, r.Reports) || matched
		case *rtcp.ReceiverReport:
			matched = c.reports(cl, ev.TS, r.Reports) || matched
		case *rtcp.ExtendedReport:
			for _, b := range r.Reports {
				if v, ok := b.(*rtcp.VoIPMetricsReportBlock); ok {
					if st := c.streamBySSRC(cl, v.SSRC); st != nil {
						st.q.XRVoIPMetrics(quality.XRVoIP{
							LossRate: v.LossRate, DiscardRate: v.DiscardRate,
							BurstDensity: v.BurstDensity, GapDensity: v.GapDensity,
							RoundTripDelay: v.RoundTripDelay, EndSystemDelay: v.EndSystemDelay,
							RFactor: v.RFactor, MOSLQ: v.MOSLQ, MOSCQ: v.MOSCQ,
						})
						matched = true
					}
				}
			}
		}
	}
	if !matched {
		c.cnt.UnmatchedRTCP++
	}
	if cl != nil && c.keepMode != keepNone {
		c.keepFrame(cl, ev, 0)
	}
}

func (c *Correlator) reports(cl *call, ts int64, rr []rtcp.ReceptionReport) bool {
	matched := false
	for i := range rr {
		b := &rr[i]
		if st := c.streamBySSRC(cl, b.SSRC); st != nil {
			st.q.ReportBlock(ts, b.FractionLost, int32(b.TotalLost), b.LastSequenceNumber, b.Jitter, b.LastSenderReport, b.Delay)
			matched = true
		}
	}
	return matched
}

func (c *Correlator) streamBySSRC(cl *call, ssrc uint32) *stream {
	if cl != nil {
		for _, s := range cl.streams {
			if s.key.ssrc == ssrc {
				return s
			}
		}
	}
	return c.bySSRC[ssrc]
}

// --- registrations -----------------------------------------------------------------

func (c *Correlator) register(ev *decode.Event, m *sip.Message) {
	key := string(m.CallID)
	f := c.regs[key]
	if m.Request {
		if f != nil && f.r.Outcome != "challenged" && f.r.Outcome != "no_response" {
			c.emitReg(key, f)
			f = nil
		}
		if f == nil {
			if len(c.regs) >= c.cfg.MaxRegistrations {
				c.evictOldestReg()
			}
			f = &regFlow{started: ev.TS}
			f.r = Registration{
				AOR: string(m.ToURI), Contact: string(m.ContactURI), Source: ev.Src.String(),
				Outcome: "no_response", Time: Time(ev.TS), CallID: key,
			}
			if m.Expires >= 0 {
				e := m.Expires
				f.r.Expires = &e
			} else if v := sip.Param(m.Contact, "expires"); len(v) > 0 {
				if e, err := strconv.Atoi(string(v)); err == nil {
					f.r.Expires = &e
				}
			}
			c.regs[key] = f
		}
		f.lastCSeq = m.CSeq
		return
	}
	if f == nil || m.StatusCode < 200 {
		return
	}
	f.r.FinalCode = m.StatusCode
	switch {
	case m.StatusCode == 401 || m.StatusCode == 407:
		f.r.Outcome = "challenged"
		return
	case m.StatusCode < 300:
		exp := -1
		if v := sip.Param(m.Contact, "expires"); len(v) > 0 {
			if e, err := strconv.Atoi(string(v)); err == nil {
				exp = e
			}
		} else if m.Expires >= 0 {
			exp = m.Expires
		} else if f.r.Expires != nil {
			exp = *f.r.Expires
		}
		if exp >= 0 {
			f.r.Expires = &exp
		}
		f.r.Outcome = "registered"
		if exp == 0 {
			f.r.Outcome = "unregistered"
		}
	default:
		f.r.Outcome = "failed"
	}
	c.emitReg(key, f)
}

func (c *Correlator) emitReg(key string, f *regFlow) {
	delete(c.regs, key)
	if c.out.Registration != nil {
		r := f.r
		c.out.Registration(&r)
	}
}

func (c *Correlator) evictOldestReg() {
	var ok string
	var old *regFlow
	for k, f := range c.regs {
		if old == nil || f.started < old.started || (f.started == old.started && k < ok) {
			ok, old = k, f
		}
	}
	if old != nil {
		c.cnt.RegistrationsEvicted++
		c.emitReg(ok, old)
	}
}

// --- timers and output -------------------------------------------------------------

// Advance runs packet-time timers up to now: SIP and RTP timeouts, lingering calls,
// idle orphan streams.
func (c *Correlator) Advance(now int64) {
	c.lastTick = now
	var emit []*call
	for _, cl := range c.calls {
		if !cl.done {
			c.checkTimeouts(cl, now)
		}
		if cl.done && now-cl.lastActivity() >= int64(c.cfg.Linger) && now-cl.end >= int64(c.cfg.Linger) {
			emit = append(emit, cl)
		}
	}
	sort.Slice(emit, func(i, j int) bool { return lessCall(emit[i], emit[j]) })
	for _, cl := range emit {
		c.emit(cl)
	}
	c.streams.each(func(s *stream) {
		if s.call == nil && now-s.q.Last() >= int64(c.cfg.RTPTimeout) {
			c.dropStream(s)
			c.emitOrphan(s)
		}
	})
	for k, f := range c.regs {
		if now-f.started >= int64(c.cfg.SIPTimeout) {
			c.emitReg(k, f)
		}
	}
}

func lessCall(a, b *call) bool {
	if a.start != b.start {
		return a.start < b.start
	}
	return a.id < b.id
}

func (c *Correlator) checkTimeouts(cl *call, now int64) {
	switch {
	case cl.hasInvite && cl.finalCode == 0 && cl.answer == 0:
		limit := int64(c.cfg.SIPTimeout)
		if cl.ringing != 0 {
			limit = int64(c.cfg.RingTimeout)
		}
		if now-cl.start >= limit && now-cl.lastSIP >= int64(c.cfg.SIPTimeout) {
			cl.end = cl.lastActivity()
			cl.endReason = "sip_timeout"
			cl.done = true
		}
	case cl.answer != 0 && cl.byeTS == 0:
		if cl.lastMedia != 0 && !cl.media[0].hold && !cl.media[1].hold &&
			now-cl.lastMedia >= int64(c.cfg.RTPTimeout) && now-cl.lastSIP >= int64(c.cfg.RTPTimeout) {
			cl.end = cl.lastMedia
			cl.endReason = "rtp_timeout"
			cl.done = true
		} else if now-cl.answer >= int64(c.cfg.MaxCallDuration) && now-cl.lastActivity() >= int64(c.cfg.RTPTimeout) {
			cl.end = cl.lastActivity()
			cl.endReason = "sip_timeout"
			cl.done = true
		}
	case cl.byeTS != 0 && cl.end == 0:
		// BYE without a 200 seen: end at the BYE once the transaction would have timed out.
		if now-cl.byeTS >= int64(c.cfg.SIPTimeout) {
			cl.end = cl.byeTS
			cl.endReason = "bye"
			cl.done = true
		}
	}
}

// finishCall marks cl ended at the end of input (or on eviction).
func (c *Correlator) finishCall(cl *call, reason string) {
	if cl.done {
		return
	}
	if cl.byeTS != 0 {
		cl.end, cl.endReason = cl.byeTS, "bye"
	} else {
		cl.end, cl.endReason = cl.lastActivity(), reason
	}
	cl.done = true
}

// callHeap is a min-heap of calls by (start, id) for Snapshot.
type callHeap []*call

func (h callHeap) Len() int           { return len(h) }
func (h callHeap) Less(i, j int) bool { return lessCall(h[i], h[j]) }
func (h callHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *callHeap) Push(x any)        { *h = append(*h, x.(*call)) }
func (h *callHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Finish ends the input at the time of the last event. Timers run first: an answered
// call whose media stopped at least RTPTimeout before the last packet (with no BYE and no
// SIP since) ends rtp_timeout and is dropped, an INVITE left unanswered longer than the SIP
// timers ends sip_timeout. Every call still open then ends capture_end (so a capture
// that stops less than RTPTimeout after a call's media stopped gives capture_end, not
// rtp_timeout: the probe cannot know the call would not have resumed) and is emitted,
// then every orphan stream and open registration.
func (c *Correlator) Finish() {
	c.Advance(c.now)
	all := make([]*call, 0, len(c.calls))
	for _, cl := range c.calls {
		c.finishCall(cl, "capture_end")
		all = append(all, cl)
	}
	sort.Slice(all, func(i, j int) bool { return lessCall(all[i], all[j]) })
	for _, cl := range all {
		c.emit(cl)
	}
	var orphans []*stream
	c.streams.each(func(s *stream) {
		if s.call == nil {
			orphans = append(orphans, s)
		}
	})
	sort.Slice(orphans, func(i, j int) bool { return lessStream(orphans[i], orphans[j]) })
	for _, s := range orphans {
		c.dropStream(s)
		c.emitOrphan(s)
	}
	keys := make([]string, 0, len(c.regs))
	for k := range c.regs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := c.regs[keys[i]], c.regs[keys[j]]
		if a.started != b.started {
			return a.started < b.started
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		c.emitReg(k, c.regs[k])
	}
}

func lessStream(a, b *stream) bool {
	if af, bf := a.q.First(), b.q.First(); af != bf {
		return af < bf
	}
	if as, bs := a.key.ssrc, b.key.ssrc; as != bs {
		return as < bs
	}
	if as, bs := a.key.src(), b.key.src(); as != bs {
		return as.Compare(bs) < 0
	}
	return a.key.dst().Compare(b.key.dst()) < 0
}

// packets is the stream's packet count, saturating at 65535 like advancing.
func (s *stream) packets() int { return int(min(s.q.Packets(), math.MaxUint16)) }

// plausibleOrphan is the heuristic for RTP seen without SIP: enough packets whose
// sequence numbers mostly (80 %) advance in small steps. A packet repeating the previous
// number counts neither way: RFC 4733 senders repeat an event's end packet, some with
// the same sequence number.
func plausibleOrphan(s *stream) bool {
	n := s.packets()
	if n < 8 || int(s.advancing) < 7 {
		return false
	}
	return int(s.advancing)*10 >= (n-1-int(s.repeats))*8
}

func (c *Correlator) emitOrphan(s *stream) {
	if c.out.Orphan == nil || !plausibleOrphan(s) {
		return
	}
	s.q.Finish(s.q.Last())
	out := s.export(false, c.codecs.name(s.codec))
	c.out.Orphan(&out)
}

func (c *Correlator) emit(cl *call) {
	delete(c.calls, cl.id)
	c.unindexLinks(cl)
	for _, s := range cl.streams {
		c.dropStream(s)
	}
	for _, side := range cl.media {
		for _, ap := range side.addrs {
			if e, ok := c.media[ap]; ok && e.call == cl {
				delete(c.media, ap)
			}
			// RTCP entries at port+1 go with it.
			rp := netip.AddrPortFrom(ap.Addr(), ap.Port()+1)
			if e, ok := c.media[rp]; ok && e.call == cl {
				delete(c.media, rp)
			}
		}
	}
	for _, ap := range cl.rtcpAddrs {
		if e, ok := c.media[ap]; ok && e.call == cl {
			delete(c.media, ap)
		}
	}
	if c.out.Call == nil {
		return
	}
	rec := &Record{Call: c.export(cl, false), Messages: cl.messages, LinkKeys: cl.linkKeys}
	if cl.keep != nil {
		rec.Media = cl.keep.frames
	}
	if c.cfg.LinkByNumber {
		rec.LinkWindow = int64(c.cfg.LinkWindow)
	}
	c.out.Call(rec)
}

func ms(ns int64) *float64 {
	v := float64(ns) / 1e6
	return &v
}

// export renders the stream. live (Snapshot) leaves the quality state untouched and
// omits the intervals.
func (s *stream) export(live bool, codec string) Stream {
	if !live {
		s.q.Finish(s.q.Last())
	}
	sum := s.q.Summary()
	out := Stream{
		SSRC:                 fmt.Sprintf("0x%08X", s.key.ssrc),
		Src:                  s.key.src().String(),
		Dst:                  s.key.dst().String(),
		PayloadType:          int(s.pt),
		Codec:                codec,
		ClockRate:            int(s.clock),
		First:                Time(s.q.First()),
		Last:                 Time(s.q.Last()),
		Packets:              sum.Packets,
		Expected:             sum.Expected,
		Lost:                 sum.Lost,
		Duplicates:           sum.Duplicates,
		OutOfOrder:           sum.OutOfOrder,
		JitterMeanMs:         round3(sum.JitterMeanMs),
		JitterMaxMs:          round3(sum.JitterMaxMs),
		MaxDeltaMs:           round3(sum.MaxDeltaMs),
		DTMF:                 sum.DTMF,
		MediaAddressMismatch: s.mismatch,
		Intervals:            make([]Interval, 0, len(sum.Intervals)),
		Problems:             []string{},
		DTMFEvents:           make([]DTMFEvent, 0, len(sum.DTMFEvents)),
	}
	if sum.Audio == 0 && sum.Events == 0 {
		out.Problems = append(out.Problems, "silent")
	}
	if s.newSSRC {
		out.Problems = append(out.Problems, "ssrc_change")
	}
	if sum.Problems.Restarts > 0 {
		out.Problems = append(out.Problems, "sequence_restart")
	}
	if sum.Problems.TimestampJumps > 0 {
		out.Problems = append(out.Problems, "timestamp_jump")
	}
	for _, d := range sum.DTMFEvents {
		out.DTMFEvents = append(out.DTMFEvents, DTMFEvent{Digit: string(d.Digit), Start: Time(d.Start), DurationMs: round3(d.DurationMs)})
	}
	if sum.HasMOS {
		out.MOS, out.MOSMin, out.RFactor = f2(sum.MOS), f2(sum.MOSMin), f2(sum.RFactor)
	}
	if r := sum.RTCP; r != nil {
		info := &RTCPInfo{}
		if r.HasRTT {
			info.RTTMs = f3(r.RTTMs)
		}
		if r.HasReport {
			info.ReportedFractionLost = f3(r.FractionLostPct)
			cl := r.CumulativeLost
			info.ReportedCumulativeLost = &cl
			info.ReportedJitterMs = f3(r.JitterMs)
		}
		out.RTCP = info
	}
	if live {
		return out
	}
	for _, iv := range sum.Intervals {
		o := Interval{Start: Time(iv.Start), Packets: iv.Packets, Lost: iv.Lost, JitterMs: round3(iv.JitterMs)}
		if iv.HasMOS {
			o.MOS = f2(iv.MOS)
		}
		out.Intervals = append(out.Intervals, o)
	}
	return out
}

func round3(v float64) float64 {
	return float64(int64(v*1000+0.5)) / 1000
}

func f3(v float64) *float64 { r := round3(v); return &r }

func f2(v float64) *float64 { r := float64(int64(v*100+0.5)) / 100; return &r }

// export renders cl. live (Snapshot) renders a call still in progress: end null, no end
// reason or drop diagnosis, duration up to the latest packet time, quality state untouched.
func (c *Correlator) export(cl *call, live bool) Call {
	out := Call{
		CallID: cl.id, From: cl.from, To: cl.to, FromUser: cl.fromUser, ToUser: cl.toUser,
		Transport: cl.transport, FinalCode: cl.finalCode, FinalReason: cl.finalReason,
		Start: Time(cl.start), Ringing: Time(cl.ringing), Answer: Time(cl.answer), End: Time(cl.end),
		EndReason: cl.endReason, SIPMessages: cl.msgs, Retrans: cl.retrans,
		LinkedCallIDs: append([]string{}, cl.linked...), UserAgents: append([]string{}, cl.userAgents...),
	}
	slices.Sort(out.LinkedCallIDs)
	if cl.caller.IsValid() {
		out.Caller = cl.caller.String()
	}
	if cl.callee.IsValid() {
		out.Callee = cl.callee.String()
	}
	out.ID = CallUID(out.CallID, out.Start)
	out.State = cl.state()
	if cl.hasInvite {
		switch {
		case cl.ringing != 0:
			out.PDDMs = ms(cl.ringing - cl.start)
		case cl.finalTS != 0:
			out.PDDMs = ms(cl.finalTS - cl.start)
		}
		if cl.answer != 0 {
			out.SetupMs = ms(cl.answer - cl.start)
		}
	}
	if cl.answer != 0 {
		end := cl.byeTS
		if end == 0 {
			end = cl.lastMedia
			if end == 0 {
				end = cl.end
			}
		}
		if live && cl.byeTS == 0 {
			end = c.now
		}
		if end >= cl.answer {
			out.DurationMs = ms(end - cl.answer)
		}
	}
	if cl.byeTS != 0 {
		by := "caller"
		if cl.byeSide == sideCallee {
			by = "callee"
		}
		out.EndedBy = &by
	}
	if cl.hasQ850 {
		q := cl.q850
		out.Q850Cause = &q
	}
	// Streams, quality and DTMF.
	sts := append([]*stream(nil), cl.streams...)
	sort.Slice(sts, func(i, j int) bool { return lessStream(sts[i], sts[j]) })
	var dtmf []quality.DTMFEvent
	dtmf = append(dtmf, cl.infoDTMF...)
	var dirs [3]bool
	var mosMin *float64
	out.Streams = make([]Stream, 0, len(sts))
	for _, s := range sts {
		so := s.export(live, c.codecs.name(s.codec))
		out.Streams = append(out.Streams, so)
		if s.q.Packets() >= 1 {
			dirs[s.side] = true
		}
		if so.MOSMin != nil && (mosMin == nil || *so.MOSMin < *mosMin) {
			v := *so.MOSMin
			mosMin = &v
		}
		dtmf = append(dtmf, s.q.Summary().DTMFEvents...)
	}
	out.MOSMin = mosMin
	sort.SliceStable(dtmf, func(i, j int) bool { return dtmf[i].Start < dtmf[j].Start })
	var db strings.Builder
	var prev quality.DTMFEvent
	for i, d := range dtmf {
		// The same key press seen in both directions (a media server or an echo relays
		// it) or as both RFC 4733 and SIP INFO counts once.
		if i > 0 && d.Digit == prev.Digit && d.Start-prev.Start < dtmfSameKey {
			continue
		}
		db.WriteByte(d.Digit)
		prev = d
	}
	out.DTMF = db.String()
	if live {
		out.End, out.EndReason = 0, ""
		if cl.answer != 0 && dirs[sideCaller] != dirs[sideCallee] && c.now-cl.answer > int64(c.cfg.OneWayAfter) &&
			!cl.media[0].hold && !cl.media[1].hold {
			out.OneWayAudio = true
		}
		return out
	}
	c.dropDiagnosis(cl, &out, dirs)
	return out
}

// Snapshot exports up to max calls still in progress (not yet ended), newest start
// first, from what is known so far: state answered or in_progress, end null, duration
// up to the latest packet time, streams without intervals. It does not change the
// correlator and, like every method, must be called from the goroutine feeding it.
func (c *Correlator) Snapshot(max int) []Call {
	if max <= 0 {
		return nil
	}
	// The newest max calls by a min-heap on (start, id): O(n log max), not a sort of all.
	open := make(callHeap, 0, min(max, len(c.calls)))
	for _, cl := range c.calls {
		switch {
		case cl.done:
		case len(open) < max:
			heap.Push(&open, cl)
		case lessCall(open[0], cl):
			open[0] = cl
			heap.Fix(&open, 0)
		}
	}
	sort.Slice(open, func(i, j int) bool { return lessCall(open[j], open[i]) })
	out := make([]Call, len(open))
	for i, cl := range open {
		out[i] = c.export(cl, true)
	}
	return out
}

func (cl *call) state() string {
	switch {
	case cl.answer != 0:
		return "answered"
	case cl.finalCode == 486 || cl.finalCode == 600:
		return "busy"
	case cl.cancelled || cl.finalCode == 487:
		return "cancelled"
	case cl.finalCode == 408 || cl.finalCode == 480:
		return "no_answer"
	case cl.finalCode >= 300 && cl.finalCode < 400:
		return "redirected"
	case cl.finalCode >= 400:
		return "failed"
	case cl.endReason == "sip_timeout":
		if cl.ringing != 0 {
			return "no_answer"
		}
		return "failed"
	}
	return "in_progress"
}

// dropDiagnosis sets dropped, drop_reason and one_way_audio on an answered call.
func (c *Correlator) dropDiagnosis(cl *call, out *Call, dirs [3]bool) {
	if cl.answer == 0 {
		return
	}
	reason := ""
	switch {
	case cl.hasQ850 && cl.q850 != 16 && cl.q850 != 31:
		reason = "abnormal_q850_cause"
	case cl.endReason == "rtp_timeout":
		reason = "rtp_timeout"
	case cl.byeTS != 0 && cl.lastMedia != 0 && !cl.media[0].hold && !cl.media[1].hold &&
		cl.byeTS-cl.lastMedia >= int64(c.cfg.MediaStopBeforeBye):
		reason = "media_stopped_before_bye"
	case cl.inDialogErr == 408:
		reason = "in_dialog_408"
	case cl.inDialogErr == 481:
		reason = "in_dialog_481"
	}
	if reason != "" {
		out.Dropped = true
		out.DropReason = &reason
	}
	mediaEnd := cl.lastMedia
	if cl.byeTS != 0 && cl.byeTS > mediaEnd {
		mediaEnd = cl.byeTS
	}
	if (dirs[sideCaller] != dirs[sideCallee]) && mediaEnd-cl.answer > int64(c.cfg.OneWayAfter) &&
		!cl.media[0].hold && !cl.media[1].hold {
		out.OneWayAudio = true
	}
}

// LinkCalls fills linked_call_ids of every call from their link keys: two calls are linked
// when one names the other's Call-ID in a link header, or both carry the same icid-value
// or Session-ID. Calls whose Record.LinkWindow is set (Config.LinkByNumber) are also
// linked to calls with the same from_user and to_user (a leading '+' ignored) that also
// have it set and start within the smaller of the two windows. Links are symmetric and
// sorted, and links the Correlator already made (legs linked while both were in its
// call table, see links.go) are kept: LinkCalls adds the links between calls that did
// not overlap, which only a pass over a whole capture can find.
func LinkCalls(recs []*Record) {
	byKey := make(map[string][]int)
	byNumber := make(map[string][]int)
	for i, r := range recs {
		for _, k := range r.LinkKeys {
			byKey[k] = append(byKey[k], i)
		}
		if k, ok := numberKey(r); ok {
			byNumber[k] = append(byNumber[k], i)
		}
	}
	for _, idx := range byNumber {
		sort.Slice(idx, func(a, b int) bool { return recs[idx[a]].Call.Start < recs[idx[b]].Call.Start })
	}
	for i, r := range recs {
		set := map[string]bool{}
		for _, id := range r.Call.LinkedCallIDs { // links made live by the Correlator stay
			set[id] = true
		}
		for _, k := range r.LinkKeys {
			for _, j := range byKey[k] {
				if j != i && recs[j].Call.CallID != r.Call.CallID {
					set[recs[j].Call.CallID] = true
				}
			}
		}
		if k, ok := numberKey(r); ok {
			idx := byNumber[k]
			lo := sort.Search(len(idx), func(n int) bool { return int64(recs[idx[n]].Call.Start) >= int64(r.Call.Start)-r.LinkWindow })
			for _, j := range idx[lo:] {
				o := recs[j]
				d := int64(o.Call.Start - r.Call.Start)
				if d > r.LinkWindow {
					break
				}
				w := min(r.LinkWindow, o.LinkWindow)
				if j != i && o.Call.CallID != r.Call.CallID && d >= -w && d <= w {
					set[o.Call.CallID] = true
				}
			}
		}
		ids := make([]string, 0, len(set))
		for id := range set {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		r.Call.LinkedCallIDs = ids
	}
}

// numberKey is the key LinkCalls matches numbers by, when r takes part.
func numberKey(r *Record) (string, bool) {
	if r.LinkWindow <= 0 || r.Call.Start == 0 {
		return "", false
	}
	return callNumberKey(r.Call.FromUser, r.Call.ToUser)
}
