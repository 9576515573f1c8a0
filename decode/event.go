package decode

import (
	"net/netip"

	"github.com/callscope/callscope/decode/sip"
	"github.com/pion/rtp"
)

// Kind says what an Event carries.
type Kind uint8

// Event kinds.
const (
	KindSIP  Kind = iota + 1 // one complete SIP message (framed for stream transports)
	KindRTP                  // one RTP packet (heuristically classified, version 2)
	KindRTCP                 // one RTCP compound datagram
)

// Transport is the transport a SIP message or media packet travelled on.
type Transport uint8

// Transports, as named in the JSON contract.
const (
	TransportUDP Transport = iota
	TransportTCP
	TransportWS
	TransportTLS
	TransportSCTP
)

var transportNames = [...]string{"udp", "tcp", "ws", "tls", "sctp"}

// String returns the contract name: udp, tcp, ws, tls or sctp.
func (t Transport) String() string {
	if int(t) < len(transportNames) {
		return transportNames[t]
	}
	return "udp"
}

// Event is what the decoder hands to its callback: one SIP message, RTP packet or RTCP
// compound with its addressing. Every slice and pointer in an Event is a view into the
// decoder's buffers or the capture buffer and is valid only until the callback returns;
// anything kept must be copied. The decoder reuses one Event and sets its fields one by
// one (Decoder.event and emit): a field added here must be set there too.
type Event struct {
	Kind      Kind
	TS        int64 // packet time, Unix nanoseconds (for a reassembled TCP message: the segment completing it)
	Src, Dst  netip.AddrPort
	Transport Transport
	FromHEP   bool // unwrapped from a HEPv3 packet carried in the capture

	// Payload is the application payload: the SIP message bytes, the RTP datagram or the
	// RTCP datagram.
	Payload []byte
	// Frame is the whole captured frame the payload (or its last part) arrived in, with
	// LinkType; for pcap export. For HEP it is the HEP datagram's frame.
	Frame    []byte
	LinkType uint32

	SIP *sip.Message // parsed message, when Kind == KindSIP
	RTP *rtp.Header  // parsed header, when Kind == KindRTP
	// RTPPayloadLen is the RTP payload length without header and padding.
	RTPPayloadLen int
}

// Reason is why a packet (or part of one) could not be decoded. Reasons are counted,
// never logged per packet. A few reasons are not damage but traffic seen and on purpose
// not opened (ppp_control, gtp_control, the unsupported_* ones); they are reasons so that
// nothing a tunnel carries disappears without a count.
type Reason uint8

// Decode error reasons. Names (see ReasonName) appear in `decode_errors` of analyze --json.
const (
	ReasonUnknownLinkType Reason = iota
	ReasonTruncatedL2
	ReasonBadVLAN
	ReasonBadMPLS
	ReasonTruncatedIPv4
	ReasonBadIPv4Header
	ReasonTruncatedIPv6
	ReasonBadIPv6ExtHeader
	ReasonFragTimeout
	ReasonFragTableFull
	ReasonFragTooLarge
	ReasonFragOverlap
	ReasonBadGRE
	ReasonBadERSPAN
	ReasonBadVXLAN
	ReasonTunnelTooDeep
	ReasonTruncatedUDP
	ReasonTruncatedTCP
	ReasonTCPTableFull
	ReasonTCPBufferOverflow
	ReasonTCPGap
	ReasonBadSCTP
	ReasonBadWebSocket
	ReasonBadHEP
	ReasonBadSIP
	ReasonBadRTP
	ReasonBadRTCP
	ReasonBadPPP                 // a PPP frame too short or with an invalid protocol field
	ReasonPPPControl             // PPP control protocol (LCP, IPCP, CCP, ...): normal, not opened
	ReasonUnsupportedPPPProtocol // PPP data we do not open (compressed/encrypted 0x00FD, VJ, ...)
	ReasonUnsupportedGREProtocol // a GRE payload protocol we do not open (WCCP, NSH, ...)
	ReasonBadGTP                 // a malformed GTP-U header or extension header chain
	ReasonGTPControl             // GTP-U signalling (echo, error indication, end marker): normal
	ReasonUnsupportedGTPPayload  // a G-PDU that is neither IPv4 nor IPv6 (Ethernet, unstructured)
	ReasonUnsupportedTunnel      // L2TP, Geneve, VXLAN-GPE, EtherIP, L2TPv3: seen, not opened
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonUnknownLinkType:   "unknown_link_type",
	ReasonTruncatedL2:       "truncated_l2",
	ReasonBadVLAN:           "bad_vlan",
	ReasonBadMPLS:           "bad_mpls",
	ReasonTruncatedIPv4:     "truncated_ipv4",
	ReasonBadIPv4Header:     "bad_ipv4_header",
	ReasonTruncatedIPv6:     "truncated_ipv6",
	ReasonBadIPv6ExtHeader:  "bad_ipv6_ext_header",
	ReasonFragTimeout:       "fragment_timeout",
	ReasonFragTableFull:     "fragment_table_full",
	ReasonFragTooLarge:      "fragment_too_large",
	ReasonFragOverlap:       "fragment_overlap",
	ReasonBadGRE:            "bad_gre",
	ReasonBadERSPAN:         "bad_erspan",
	ReasonBadVXLAN:          "bad_vxlan",
	ReasonTunnelTooDeep:     "tunnel_too_deep",
	ReasonTruncatedUDP:      "truncated_udp",
	ReasonTruncatedTCP:      "truncated_tcp",
	ReasonTCPTableFull:      "tcp_stream_table_full",
	ReasonTCPBufferOverflow: "tcp_buffer_overflow",
	ReasonTCPGap:            "tcp_gap",
	ReasonBadSCTP:           "bad_sctp",
	ReasonBadWebSocket:      "bad_websocket",
	ReasonBadHEP:            "bad_hep",
	ReasonBadSIP:            "bad_sip",
	ReasonBadRTP:            "bad_rtp",
	ReasonBadRTCP:           "bad_rtcp",

	ReasonBadPPP:                 "bad_ppp",
	ReasonPPPControl:             "ppp_control",
	ReasonUnsupportedPPPProtocol: "unsupported_ppp_protocol",
	ReasonUnsupportedGREProtocol: "unsupported_gre_protocol",
	ReasonBadGTP:                 "bad_gtp",
	ReasonGTPControl:             "gtp_control",
	ReasonUnsupportedGTPPayload:  "unsupported_gtp_payload",
	ReasonUnsupportedTunnel:      "unsupported_tunnel",
}

// ReasonName returns the stable snake_case name of r.
func ReasonName(r Reason) string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// ErrorCounts counts decode errors by reason. Not safe for concurrent use: each decoder
// owns one; merge with Add.
type ErrorCounts [numReasons]uint64

// Inc counts one error of reason r.
func (c *ErrorCounts) Inc(r Reason) {
	if r < numReasons {
		c[r]++
	}
}

// Add merges o into c.
func (c *ErrorCounts) Add(o *ErrorCounts) {
	for i := range c {
		c[i] += o[i]
	}
}

// Map returns the non-zero counts keyed by reason name.
func (c *ErrorCounts) Map() map[string]uint64 {
	m := make(map[string]uint64)
	for i, n := range c {
		if n > 0 {
			m[reasonNames[i]] = n
		}
	}
	return m
}
