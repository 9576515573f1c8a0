package decode

import (
	"encoding/binary"
	"net/netip"

	"github.com/callscope/callscope/decode/hep"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/decode/tcpasm"
	"github.com/pion/rtp"
)

// Link types (LINKTYPE_* numbers of the pcap format) the walker understands. They are
// defined here so decode does not import capture.
const (
	linkNull      = 0
	linkEthernet  = 1
	linkRawOld1   = 12
	linkRawOld2   = 14
	linkRaw       = 101
	linkLoop      = 108
	linkLinuxSLL  = 113
	linkIPv4      = 228
	linkIPv6      = 229
	linkLinuxSLL2 = 276
)

// Config bounds the decoder's tables. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// MaxFragments is the number of IP datagrams (v4 and v6) reassembled at once; a
	// fragment of a new datagram beyond it is dropped and counted ReasonFragTableFull.
	MaxFragments int
	// MaxFragmentSize caps a reassembled datagram in bytes; beyond it the datagram is
	// dropped and counted ReasonFragTooLarge.
	MaxFragmentSize int
	// FragTimeout is how long, in nanoseconds of packet time, an incomplete datagram is
	// kept after its first fragment; then it is dropped and counted ReasonFragTimeout.
	FragTimeout int64
	// TCP configures the TCP stream reassembler.
	TCP tcpasm.Config
	// MaxTunnelDepth is the number of encapsulations (IP-in-IP, GRE, VXLAN, MPLS
	// pseudowire) walked before giving up with ReasonTunnelTooDeep.
	MaxTunnelDepth int
	// DuplicateWindow is how far apart, in nanoseconds of packet time, two identical
	// frames (identical from the first IP header on) may be for the second to be a
	// capture duplicate, dropped and counted in Counters.DuplicateFrames. Zero takes the
	// default (10 ms); negative disables the check.
	DuplicateWindow int64
	// DuplicateTable is the number of recent frames remembered for the duplicate check
	// (rounded up to a power of two); see dup.go for the trade-off.
	DuplicateTable int
}

// DefaultConfig returns the defaults: 4096 reassemblies, 65535+ bytes (an IPv4 datagram
// at the largest offset with the largest fragment), 30 s fragment timeout, tunnel depth 4,
// a 10 ms duplicate window over the last 1024 frames, and tcpasm's own defaults.
func DefaultConfig() Config {
	return Config{
		MaxFragments:    4096,
		MaxFragmentSize: 65535 + 65535,
		FragTimeout:     30e9,
		MaxTunnelDepth:  4,
		DuplicateWindow: 10e6,
		DuplicateTable:  1024,
	}
}

func (c *Config) fill() {
	d := DefaultConfig()
	if c.MaxFragments <= 0 {
		c.MaxFragments = d.MaxFragments
	}
	if c.MaxFragmentSize <= 0 {
		c.MaxFragmentSize = d.MaxFragmentSize
	}
	if c.FragTimeout <= 0 {
		c.FragTimeout = d.FragTimeout
	}
	if c.MaxTunnelDepth <= 0 {
		c.MaxTunnelDepth = d.MaxTunnelDepth
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = d.DuplicateWindow
	}
	if c.DuplicateTable <= 0 {
		c.DuplicateTable = d.DuplicateTable
	}
}

// Counters count what the decoder saw. Packets counts frames given to Decode; the other
// fields count occurrences at each layer (a tunnelled packet counts once per layer kind).
type Counters struct {
	Packets     uint64 // frames decoded
	NonIP       uint64 // frames without IP (ARP, LLDP, STP, ...), not an error
	IPFragments uint64 // IPv4/IPv6 fragments seen
	Reassembled uint64 // datagrams completed by reassembly
	UDP         uint64 // UDP datagrams
	TCP         uint64 // TCP segments
	SCTP        uint64 // SCTP packets
	SIP         uint64 // SIP events emitted
	RTP         uint64 // RTP events emitted
	RTCP        uint64 // RTCP events emitted
	HEP         uint64 // HEP packets unwrapped
	WS          uint64 // WebSocket messages completed
	Ignored     uint64 // payloads not decoded on purpose (TLS, DNS, STUN, unknown)

	DuplicateFrames    uint64 // frames dropped as capture duplicates (Config.DuplicateWindow)
	DuplicateEvictions uint64 // duplicate-table entries replaced while still inside the window
}

// Decoder walks frames. One per worker goroutine; not safe for concurrent use.
type Decoder struct {
	cfg  Config
	errs ErrorCounts
	cnt  Counters

	// State of the Decode call in progress.
	frame    []byte
	linkType uint32
	ts       int64
	fn       func(*Event)

	ev      Event
	sipMsg  sip.Message
	rtpHdr  rtp.Header
	hepPkt  hep.Packet
	hepLive bool   // DecodeHEP: frames are synthesised (heplive.go)
	synth   []byte // the synthesised frame of the current live HEP packet

	frags   fragTable
	tcp     *tcpasm.Assembler
	tcpSeen tcpasm.Counters // tcpasm counters already folded into errs
	ws      wsTable
	sctpR   sctpTable

	lastExpire int64
	expireSet  bool

	dups     dupTable
	dupCheck bool // the current frame's first IP header is still to be checked
}

// New returns a decoder with cfg (zero fields defaulted).
func New(cfg Config) *Decoder {
	cfg.fill()
	d := &Decoder{cfg: cfg}
	d.frags.init(cfg)
	d.tcp = tcpasm.New(cfg.TCP, d.consumeTCP)
	d.ws.init(4096)
	d.sctpR.init(1024, 256<<10)
	d.dups.init(cfg.DuplicateTable, cfg.DuplicateWindow)
	return d
}

// Counters returns a copy of the counters.
func (d *Decoder) Counters() Counters {
	c := d.cnt
	c.DuplicateEvictions = d.dups.evicted
	return c
}

// duplicate reports whether b, the frame's outermost IP packet, repeats a frame seen
// within the duplicate window; only the first IP header of a frame is checked.
func (d *Decoder) duplicate(b []byte) bool {
	if !d.dupCheck {
		return false
	}
	d.dupCheck = false
	if d.dups.seen(b, d.ts) {
		d.cnt.DuplicateFrames++
		return true
	}
	return false
}

// Errors returns the decoder's error counts by reason (including the TCP reassembler's
// table-full, overflow and gap counts). The pointer stays owned by the decoder.
func (d *Decoder) Errors() *ErrorCounts {
	d.syncTCP()
	return &d.errs
}

func (d *Decoder) syncTCP() {
	c := d.tcp.Counters()
	d.errs[ReasonTCPTableFull] += c.TableFull - d.tcpSeen.TableFull
	d.errs[ReasonTCPBufferOverflow] += c.Overflow - d.tcpSeen.Overflow
	d.errs[ReasonTCPGap] += c.Gaps - d.tcpSeen.Gaps
	d.tcpSeen = c
}

// Expire drops incomplete IP reassemblies older than FragTimeout and TCP streams idle
// past the tcpasm idle timeout, by packet time now (Unix ns). Decode calls it itself when
// packet time has advanced by a second since the last expiry.
func (d *Decoder) Expire(now int64) {
	d.lastExpire = now
	d.expireSet = true
	d.errs[ReasonFragTimeout] += uint64(d.frags.expire(now))
	d.tcp.Expire(now)
}

// Flush hands every TCP stream's remaining bytes to the framers (end of input) and drops
// all streams and pending reassemblies. Events emitted here carry no Frame.
func (d *Decoder) Flush(fn func(*Event)) {
	d.frame, d.linkType, d.fn = nil, 0, fn
	d.tcp.FlushAll()
	d.errs[ReasonFragTimeout] += uint64(d.frags.dropAll())
	d.fn = nil
	d.frame = nil
}

// DecodeHEP unwraps one HEP packet received by a HEP listener (a UDP datagram, or one
// packet framed off a TCP stream) at ts (Unix ns, the probe's clock) and calls fn for the
// event its payload carries. The event's time is the capture time the agent put in the
// packet. Like Decode, nothing is retained after it returns.
func (d *Decoder) DecodeHEP(ts int64, b []byte, fn func(*Event)) {
	d.begin(0, ts, b, fn)
	d.hepLive = true
	d.hep(b)
	d.hepLive = false
	d.frame, d.fn = nil, nil
}

// begin runs the once-a-second expiry of the reassembly tables and sets the current
// frame for the events it yields.
func (d *Decoder) begin(linkType uint32, ts int64, frame []byte, fn func(*Event)) {
	if !d.expireSet {
		d.lastExpire, d.expireSet = ts, true
	} else if ts-d.lastExpire >= 1e9 {
		d.Expire(ts)
	}
	d.frame, d.linkType, d.ts, d.fn = frame, linkType, ts, fn
}

// Decode walks one captured frame of the given link type (LINKTYPE_* number) captured at
// ts (Unix ns) and calls fn for each Event found. The Event and everything it points to
// are valid only until fn returns. frame is not retained after Decode returns.
func (d *Decoder) Decode(linkType uint32, ts int64, frame []byte, fn func(*Event)) {
	d.cnt.Packets++
	d.begin(linkType, ts, frame, fn)
	d.dupCheck = true
	d.link(linkType, frame)
	d.dupCheck = false
	d.frame, d.fn = nil, nil
}

func (d *Decoder) link(linkType uint32, b []byte) {
	switch linkType {
	case linkEthernet:
		d.ethernet(b, 0)
	case linkRaw, linkRawOld1, linkRawOld2:
		d.ipByVersion(b, 0)
	case linkIPv4:
		d.ipv4(b, 0)
	case linkIPv6:
		d.ipv6(b, 0)
	case linkNull, linkLoop:
		if len(b) < 4 {
			d.errs.Inc(ReasonTruncatedL2)
			return
		}
		// The address family is in host byte order of the capturing machine for
		// LINKTYPE_NULL and network order for LINKTYPE_LOOP; accept either.
		af := binary.LittleEndian.Uint32(b)
		if af > 0xffff {
			af = binary.BigEndian.Uint32(b)
		}
		switch af {
		case 2:
			d.ipv4(b[4:], 0)
		case 24, 28, 30:
			d.ipv6(b[4:], 0)
		default:
			d.cnt.NonIP++
		}
	case linkLinuxSLL:
		// RFC-less Linux cooked header: packet type, ARPHRD, address length, 8 address
		// bytes, protocol (an ethertype for the usual ARPHRD types).
		if len(b) < 16 {
			d.errs.Inc(ReasonTruncatedL2)
			return
		}
		d.ethertype(binary.BigEndian.Uint16(b[14:]), b[16:], 0)
	case linkLinuxSLL2:
		// protocol, reserved, ifindex, ARPHRD, packet type, address length, 8 address bytes.
		if len(b) < 20 {
			d.errs.Inc(ReasonTruncatedL2)
			return
		}
		d.ethertype(binary.BigEndian.Uint16(b), b[20:], 0)
	default:
		d.errs.Inc(ReasonUnknownLinkType)
	}
}

// ethernet walks an Ethernet II header (IEEE 802.3 length-typed frames are non-IP).
func (d *Decoder) ethernet(b []byte, depth int) {
	if len(b) < 14 {
		d.errs.Inc(ReasonTruncatedL2)
		return
	}
	et := binary.BigEndian.Uint16(b[12:])
	if et < 0x0600 { // 802.3 length: LLC/SNAP, STP, ...
		d.cnt.NonIP++
		return
	}
	d.ethertype(et, b[14:], depth)
}

// ethertype dispatches on an EtherType, walking VLAN tags and MPLS stacks.
func (d *Decoder) ethertype(et uint16, b []byte, depth int) {
	for {
		switch et {
		case 0x0800:
			d.ipv4(b, depth)
			return
		case 0x86DD:
			d.ipv6(b, depth)
			return
		case 0x8100, 0x88a8, 0x9100, 0x9200:
			// IEEE 802.1Q / 802.1ad tag: TCI then the next EtherType.
			if len(b) < 4 {
				d.errs.Inc(ReasonBadVLAN)
				return
			}
			et = binary.BigEndian.Uint16(b[2:])
			b = b[4:]
		case 0x8847, 0x8848:
			d.mpls(b, depth)
			return
		case 0x8864:
			// PPPoE session stage (RFC 2516 §4): version/type, code, session id, length,
			// then a PPP frame (RFC 1661 §2), walked like PPTP's (tunnel.go).
			if len(b) < 6 {
				d.errs.Inc(ReasonTruncatedL2)
				return
			}
			d.ppp(b[6:], depth)
			return
		default:
			d.cnt.NonIP++
			return
		}
	}
}

// mpls walks an MPLS label stack (RFC 3032 §2.1) to the bottom-of-stack entry and guesses
// the payload from its first nibble: 4 IPv4, 6 IPv6, 0 a pseudowire control word
// (RFC 4385 §3) followed by Ethernet (RFC 4448).
func (d *Decoder) mpls(b []byte, depth int) {
	for {
		if len(b) < 4 {
			d.errs.Inc(ReasonBadMPLS)
			return
		}
		bos := b[2]&1 != 0
		b = b[4:]
		if bos {
			break
		}
	}
	if len(b) == 0 {
		d.errs.Inc(ReasonBadMPLS)
		return
	}
	switch b[0] >> 4 {
	case 4:
		d.ipv4(b, depth)
	case 6:
		d.ipv6(b, depth)
	case 0:
		if len(b) < 4 {
			d.errs.Inc(ReasonBadMPLS)
			return
		}
		if depth >= d.cfg.MaxTunnelDepth {
			d.errs.Inc(ReasonTunnelTooDeep)
			return
		}
		d.ethernet(b[4:], depth+1)
	default:
		d.cnt.NonIP++
	}
}

// emit fills the common Event fields and calls the callback.
func (d *Decoder) emit(ev *Event) {
	ev.Frame = d.frame
	ev.LinkType = d.linkType
	if d.fn != nil {
		d.fn(ev)
	}
}

// addr4 returns the IPv4 address at b[0:4]; callers have length-checked b.
func addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }

// addr16 returns the IPv6 address at b[0:16]; callers have length-checked b. IPv4-mapped
// addresses are unmapped so an IPv4 peer always has a 4-byte address.
func addr16(b []byte) netip.Addr { return netip.AddrFrom16([16]byte(b[:16])).Unmap() }
