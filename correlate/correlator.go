package correlate

import (
	"bytes"
	"hash/maphash"
	"net/netip"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sdp"
	"github.com/callscope/callscope/quality"
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
	// packed, in a live view (LiveRecords) of a confirmed call, is its first messages,
	// packed (sippack.go): AllMessages puts them in front of Messages. A Record handed
	// to Output has it only with Config.PackedRecords.
	packed   *packedMessages
	LinkKeys []string // values that link B2BUA legs (see LinkCalls)
	// Pack holds the RTP/RTCP frames the correlator kept for pcap export
	// (Config.KeepRTP), in arrival order, packed (framepack.go); Media holds decoded
	// frames instead in records read back (a spool) or built by hand. MediaCount,
	// MediaSize and AppendMedia read either.
	Pack  MediaPack `json:"-"`
	Media []Frame
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

// RawInFrame reports whether Raw is the tail of Frame (the text of a UDP datagram or a
// HEP packet in its frame: the usual case), so a store can keep the text once.
func (m *Message) RawInFrame() bool { return len(m.Raw) > 0 && bytes.HasSuffix(m.Frame, m.Raw) }

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
	DuplicateSIP                         uint64 // the same message again within 10 ms: the capture saw it twice
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
	SDPPartsDropped                      uint64 // m= sections, formats, rtpmaps past the sdp package's limits
	RetainedBytesDropped                 uint64 // messages and frame chunks not kept: Config.MaxRetainedBytes
	CodecNamesDropped                    uint64 // encoding names past maxCodecNames
	LinksDropped                         uint64 // leg links past maxLinksPerCall or maxCallsPerLinkKey
	// Frame spill (Config.FrameSpillDir): failed creates, writes and reads (a failed
	// read loses that call's frames); chunks kept in memory because
	// FrameSpillMaxBytes was reached.
	FrameSpillErrors, FrameSpillFull uint64
	FrameSpillWritten                uint64 // sealed chunk bytes written to spill files, ever

	// Gauges at the time Counters was called.
	ActiveCalls, ActiveStreams       int
	ActiveMedia, ActiveRegistrations int
	RetainedBytes                    int64 // SIP text and media frames kept by the calls in the table
	FrameSpillBytes                  int64 // sealed frame chunks in spill files
}

// Correlator turns events into calls. See the package doc for its rules.
type Correlator struct {
	cfg     Config
	out     Output
	calls   map[string]*call
	media   map[mediaKey]mediaEntry
	streams streamTable
	bySSRC  map[uint32]*stream
	// orphanQ holds the streams created without a call, in creation order, for eviction
	// (rtp.go); entries before orphanHead are consumed.
	orphanQ    []orphanEntry
	orphanHead int
	regs       map[string]*regFlow
	uas        map[string]string // User-Agent and Server values shared by calls (internUA)
	seed       maphash.Seed
	codecs     codecNames
	links      linkIndex
	static     [128]uint16 // codecNames ids of the RFC 3551 static payload types
	keepMode   uint8
	msg        sdp.Session
	rtcp       quality.RTCPCompound // reused for every RTCP datagram (rtcp.go)
	cnt        Counters
	now        int64
	lastTick   int64
	retained   int64       // bytes kept by the calls in the table (keep.go)
	pack       *packCodec  // compresses kept frames (framepack.go); nil when none are kept
	sipz       sipPacker   // scratch for packing confirmed calls' kept messages (sippack.go)
	sealer     *packSealer // compresses full chunks on its own goroutine; nil: seal in place
}

// New returns a Correlator that reports finished calls, orphan streams and registrations
// to out.
func New(cfg Config, out Output) *Correlator {
	c := &Correlator{
		cfg:      cfg,
		out:      out,
		calls:    make(map[string]*call),
		media:    make(map[mediaKey]mediaEntry),
		streams:  newStreamTable(),
		bySSRC:   make(map[uint32]*stream),
		regs:     make(map[string]*regFlow),
		seed:     maphash.MakeSeed(),
		keepMode: keepModeOf(&cfg),
		codecs:   newCodecNames(),
		links:    newLinkIndex(),
	}
	if c.keepMode != keepNone {
		c.pack = newPackCodec()
		if c.pack != nil {
			var spill *frameSpill
			if cfg.FrameSpillDir != "" {
				var err error
				if spill, err = newFrameSpill(cfg.FrameSpillDir, cfg.FrameSpillMaxBytes); err != nil {
					c.cnt.FrameSpillErrors++ // frames stay in memory
					spill = nil
				}
			}
			c.sealer = newPackSealer(spill)
		}
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
	n.RetainedBytes = c.retained
	if c.sealer != nil && c.sealer.spill != nil {
		sp := c.sealer.spill
		n.FrameSpillErrors += sp.errors.Load()
		n.FrameSpillFull = sp.full.Load()
		n.FrameSpillBytes = sp.bytes.Load()
		n.FrameSpillWritten = uint64(sp.written.Load())
	}
	return n
}

// ActiveCalls is the number of calls in the table.
func (c *Correlator) ActiveCalls() int { return len(c.calls) }

// ActiveStreams is the number of streams in the table.
func (c *Correlator) ActiveStreams() int { return c.streams.len() }

// Event consumes one decoded event. The event is a view; nothing of it is kept.
func (c *Correlator) Event(ev *decode.Event) { c.event(ev, 0, false) }

// EventHashed is Event for an event whose stream hash h a StreamHasher of c computed
// (for an RTP event; other kinds ignore it): the stream lookup skips hashing the key
// again. The outcome is Event's: the hash is the one Event would compute.
func (c *Correlator) EventHashed(ev *decode.Event, h uint64) { c.event(ev, h, true) }

func (c *Correlator) event(ev *decode.Event, h uint64, hashed bool) {
	if ev.TS > c.now {
		c.now = ev.TS
	}
	switch ev.Kind {
	case decode.KindSIP:
		c.cnt.SIPMessages++
		c.sipEvent(ev)
	case decode.KindRTP:
		c.cnt.RTPPackets++
		c.rtpEvent(ev, h, hashed)
	case decode.KindRTCP:
		c.cnt.RTCPPackets++
		c.rtcpEvent(ev)
	}
	if c.now-c.lastTick >= 1e9 {
		c.Advance(c.now)
	}
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
