package correlate

import (
	"bytes"
	"net/netip"

	"github.com/callscope/callscope/decode/sdp"
)

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

type mediaEntry struct {
	call *call
	side uint8
}

// mediaKey is a media address as the index's key: netip.AddrPort without its zone
// pointer (media addresses, from SDP or the wire, carry none), 20 bytes instead of 32
// and nothing for the collector to scan: a slot of the index is 40 bytes, not 48 (at
// 20,000 calls the index took 4.2 MB instead of 6.9). v4 keeps 1.2.3.4 apart from
// ::ffff:1.2.3.4, as Addr does.
type mediaKey struct {
	addr [16]byte
	port uint16
	v4   bool
}

func mkey(ap netip.AddrPort) mediaKey {
	a := ap.Addr()
	return mediaKey{addr: a.As16(), port: ap.Port(), v4: a.Is4()}
}

// sdp indexes the media addresses one side's SDP advertised.
func (c *Correlator) sdp(cl *call, side uint8, body []byte, ts int64) {
	s := &c.msg
	s.Reset()
	if err := sdp.Parse(body, s); err != nil {
		c.cnt.BadSDP++
		return
	}
	if s.Dropped > 0 {
		c.cnt.SDPPartsDropped += uint64(s.Dropped) // past sdp.MaxMedia, MaxFormats, MaxRTPMaps
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
			case rtcp == netip.AddrPortFrom(md.Addr, md.Port+1), containsAP(cl.few().rtcpAddrs, rtcp):
				c.indexMedia(rtcp, cl, side)
			case len(cl.few().rtcpAddrs) < 2*maxAddrsPerSide: // an a=rtcp address (RFC 3605)
				r := cl.more()
				r.rtcpAddrs = append(r.rtcpAddrs, rtcp)
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
	cl.sdpChanged()
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
	k := mkey(ap)
	if _, ok := c.media[k]; !ok && len(c.media) >= c.cfg.MaxMedia {
		c.cnt.MediaEvicted++
		for old, e := range c.media {
			if e.call.done || e.call != cl {
				delete(c.media, old)
				break
			}
		}
	}
	c.media[k] = mediaEntry{call: cl, side: side}
}

// unindexMedia removes what indexMedia added for cl: its SDP addresses, the RTCP
// addresses at port+1 derived from them, and its a=rtcp addresses, each only while the
// entry still points at cl (a later call may have taken the address over).
func (c *Correlator) unindexMedia(cl *call) {
	for _, side := range cl.media {
		for _, ap := range side.addrs {
			if k := mkey(ap); c.media[k].call == cl {
				delete(c.media, k)
			}
			// RTCP entries at port+1 go with it.
			rp := netip.AddrPortFrom(ap.Addr(), ap.Port()+1)
			if k := mkey(rp); c.media[k].call == cl {
				delete(c.media, k)
			}
		}
	}
	for _, ap := range cl.few().rtcpAddrs {
		if k := mkey(ap); c.media[k].call == cl {
			delete(c.media, k)
		}
	}
}
