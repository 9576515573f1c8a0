package quality

import (
	"encoding/binary"
	"errors"
)

// RTCP compound parsing (RFC 3550 §6.1, §6.4.1, §6.4.2; RFC 3611 §4.7) into a reused
// RTCPCompound, without allocating: the hot-path replacement of pion/rtcp's Unmarshal
// (which allocates a packet value and a report slice per packet). Only what quality
// consumes is decoded — SR sender info, SR/RR report blocks, XR VoIP Metrics blocks;
// SDES, BYE, APP and feedback packets are counted, not decoded.
//
// Leniency: every length is checked before indexing and bad input never panics. A
// packet whose header cannot be framed (short datagram, version ≠ 2, length past the
// datagram) ends the parse; a framed packet that is malformed inside (an SR shorter than
// its sender info, more report blocks than its length holds, a short XR VoIP block) is
// skipped or cut to what fits, and parsing goes on with the next packet. Parse returns
// the first error met (a sentinel, never a formatted error); what was decoded before and
// after it stays in the compound, fully length-checked. Like pion/rtcp, the padding
// bit (§6.4.1: only the last packet of a compound should carry it) does not move SR/RR
// report bounds; XR blocks stop before the padding.

// Capacities of an RTCPCompound. A report count field holds at most 31 blocks (5 bits);
// a compound of two full SRs/RRs fits. Items beyond are counted in RTCPCompound.Cut.
const (
	MaxRTCPSenders = 8
	MaxRTCPReports = 64
	MaxRTCPXRVoIP  = 8
)

// Parse errors (sentinels: compare with errors.Is).
var (
	ErrRTCPShort   = errors.New("quality: rtcp: datagram or packet shorter than its header says")
	ErrRTCPVersion = errors.New("quality: rtcp: version is not 2")
	ErrRTCPCount   = errors.New("quality: rtcp: more report blocks than the packet length holds")
	ErrRTCPXRBlock = errors.New("quality: rtcp: XR VoIP Metrics block shorter than 36 bytes")
	ErrRTCPEmpty   = errors.New("quality: rtcp: empty datagram")
)

// RTCP packet types (RFC 3550 §12.1, RFC 3611 §5, RFC 4585 §6.1).
const (
	rtcpSR    = 200
	rtcpRR    = 201
	rtcpSDES  = 202
	rtcpBYE   = 203
	rtcpAPP   = 204
	rtcpXR    = 207
	xrVoIPBT  = 7  // RFC 3611 §4.7 block type
	xrVoIPLen = 36 // RFC 3611 §4.7: block header + 32 bytes
	rrLen     = 24 // RFC 3550 §6.4.1 report block
)

// RTCPSenderInfo is the sender-info section of an SR (RFC 3550 §6.4.1).
type RTCPSenderInfo struct {
	SSRC        uint32 // SSRC of the sender
	NTP         uint64 // NTP timestamp (its middle 32 bits are what receivers echo as LSR)
	RTPTime     uint32
	PacketCount uint32
	OctetCount  uint32
}

// RTCPReportBlock is one SR/RR reception report block (RFC 3550 §6.4.1).
type RTCPReportBlock struct {
	Reporter       uint32 // SSRC of the SR/RR sender (the receiver of the reported source)
	SSRC           uint32 // source reported on
	FractionLost   uint8
	CumulativeLost int32 // the 24-bit signed field, sign-extended
	ExtHighestSeq  uint32
	Jitter         uint32 // RTP timestamp units
	LSR, DLSR      uint32 // DLSR in 1/65536 s
}

// RTCPXRVoIPBlock is one XR VoIP Metrics report block (RFC 3611 §4.7).
type RTCPXRVoIPBlock struct {
	Reporter uint32 // SSRC of the XR packet sender
	SSRC     uint32 // source reported on
	Metrics  XRVoIP
}

// RTCPCompound is one parsed RTCP datagram. Reuse one per goroutine: Parse resets it.
// Its accessors return views into the compound, valid until the next Parse or Reset.
type RTCPCompound struct {
	Packets int // RTCP packets framed in the datagram
	SDES    int // SDES packets (not decoded)
	BYE     int // BYE packets (not decoded)
	APP     int // APP packets (not decoded)
	XR      int // XR packets (their VoIP Metrics blocks are decoded, other blocks skipped)
	Other   int // other packet types (RTPFB/PSFB feedback, unknown)
	Cut     int // senders, report blocks or XR blocks dropped: the fixed arrays were full

	nSR, nRR, nXR int
	sr            [MaxRTCPSenders]RTCPSenderInfo
	rr            [MaxRTCPReports]RTCPReportBlock
	xr            [MaxRTCPXRVoIP]RTCPXRVoIPBlock
}

// Reset empties c.
func (c *RTCPCompound) Reset() {
	c.Packets, c.SDES, c.BYE, c.APP, c.XR, c.Other, c.Cut = 0, 0, 0, 0, 0, 0, 0
	c.nSR, c.nRR, c.nXR = 0, 0, 0
}

// Senders is the sender info of every SR in the compound, in order.
func (c *RTCPCompound) Senders() []RTCPSenderInfo { return c.sr[:c.nSR] }

// Reports is every SR and RR report block in the compound, in order.
func (c *RTCPCompound) Reports() []RTCPReportBlock { return c.rr[:c.nRR] }

// XRVoIP is every XR VoIP Metrics block in the compound, in order.
func (c *RTCPCompound) XRVoIP() []RTCPXRVoIPBlock { return c.xr[:c.nXR] }

// Parse decodes the compound datagram b into c (after Reset). It reads b only during
// the call. See the file comment for what an error means; nil means every packet was
// framed and well formed.
func (c *RTCPCompound) Parse(b []byte) error {
	c.Reset()
	if len(b) == 0 {
		return ErrRTCPEmpty
	}
	var first error
	note := func(err error) {
		if first == nil {
			first = err
		}
	}
	for len(b) > 0 {
		if len(b) < 4 {
			note(ErrRTCPShort)
			break
		}
		if b[0]>>6 != 2 {
			note(ErrRTCPVersion)
			break
		}
		n := (int(binary.BigEndian.Uint16(b[2:])) + 1) * 4
		if n > len(b) {
			note(ErrRTCPShort)
			break
		}
		p := b[:n]
		b = b[n:]
		c.Packets++
		count := int(p[0] & 0x1f)
		switch p[1] {
		case rtcpSR:
			if len(p) < 28 {
				note(ErrRTCPShort)
				continue
			}
			if c.nSR < MaxRTCPSenders {
				c.sr[c.nSR] = RTCPSenderInfo{
					SSRC:        binary.BigEndian.Uint32(p[4:]),
					NTP:         binary.BigEndian.Uint64(p[8:]),
					RTPTime:     binary.BigEndian.Uint32(p[16:]),
					PacketCount: binary.BigEndian.Uint32(p[20:]),
					OctetCount:  binary.BigEndian.Uint32(p[24:]),
				}
				c.nSR++
			} else {
				c.Cut++
			}
			if err := c.blocks(p, 28, count); err != nil {
				note(err)
			}
		case rtcpRR:
			if len(p) < 8 {
				note(ErrRTCPShort)
				continue
			}
			if err := c.blocks(p, 8, count); err != nil {
				note(err)
			}
		case rtcpXR:
			c.XR++
			if len(p) < 8 {
				note(ErrRTCPShort)
				continue
			}
			if err := c.xrBlocks(p); err != nil {
				note(err)
			}
		case rtcpSDES:
			c.SDES++
		case rtcpBYE:
			c.BYE++
		case rtcpAPP:
			c.APP++
		default:
			c.Other++
		}
	}
	return first
}

// blocks appends the count report blocks of SR/RR packet p starting at off.
func (c *RTCPCompound) blocks(p []byte, off, count int) error {
	reporter := binary.BigEndian.Uint32(p[4:])
	var err error
	if fit := (len(p) - off) / rrLen; count > fit {
		count, err = fit, ErrRTCPCount
	}
	for i := 0; i < count; i++ {
		if c.nRR == MaxRTCPReports {
			c.Cut += count - i
			break
		}
		r := p[off+i*rrLen : off+(i+1)*rrLen]
		lost := int32(uint32(r[5])<<16|uint32(r[6])<<8|uint32(r[7])) << 8 >> 8 // sign-extend 24 bits
		c.rr[c.nRR] = RTCPReportBlock{
			Reporter:       reporter,
			SSRC:           binary.BigEndian.Uint32(r),
			FractionLost:   r[4],
			CumulativeLost: lost,
			ExtHighestSeq:  binary.BigEndian.Uint32(r[8:]),
			Jitter:         binary.BigEndian.Uint32(r[12:]),
			LSR:            binary.BigEndian.Uint32(r[16:]),
			DLSR:           binary.BigEndian.Uint32(r[20:]),
		}
		c.nRR++
	}
	return err
}

// xrBlocks appends the VoIP Metrics blocks of XR packet p (RFC 3611 §3: sender SSRC,
// then blocks of BT, type-specific, length in 32-bit words minus one).
func (c *RTCPCompound) xrBlocks(p []byte) error {
	reporter := binary.BigEndian.Uint32(p[4:])
	end := len(p)
	if p[0]&0x20 != 0 { // padding: the last octet counts the padding octets
		if pad := int(p[end-1]); pad > 0 && pad <= end-8 {
			end -= pad
		}
	}
	var err error
	for off := 8; end-off >= 4; {
		bt := p[off]
		n := (int(binary.BigEndian.Uint16(p[off+2:])) + 1) * 4
		if n > end-off {
			n = end - off // a block running past the packet is cut to it (as pion does)
		}
		blk := p[off : off+n]
		off += n
		if bt != xrVoIPBT {
			continue
		}
		if len(blk) < xrVoIPLen {
			err = ErrRTCPXRBlock
			continue
		}
		if c.nXR == MaxRTCPXRVoIP {
			c.Cut++
			continue
		}
		c.xr[c.nXR] = RTCPXRVoIPBlock{
			Reporter: reporter,
			SSRC:     binary.BigEndian.Uint32(blk[4:]),
			Metrics: XRVoIP{
				LossRate: blk[8], DiscardRate: blk[9], BurstDensity: blk[10], GapDensity: blk[11],
				BurstDuration:  binary.BigEndian.Uint16(blk[12:]),
				GapDuration:    binary.BigEndian.Uint16(blk[14:]),
				RoundTripDelay: binary.BigEndian.Uint16(blk[16:]),
				EndSystemDelay: binary.BigEndian.Uint16(blk[18:]),
				SignalLevel:    int8(blk[20]), NoiseLevel: int8(blk[21]), RERL: blk[22], Gmin: blk[23],
				RFactor: blk[24], ExtRFactor: blk[25], MOSLQ: blk[26], MOSCQ: blk[27],
				RXConfig:  blk[28],
				JBNominal: binary.BigEndian.Uint16(blk[30:]),
				JBMaximum: binary.BigEndian.Uint16(blk[32:]),
				JBAbsMax:  binary.BigEndian.Uint16(blk[34:]),
			},
		}
		c.nXR++
	}
	return err
}
