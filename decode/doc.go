// Package decode turns one captured frame into zero or more Events: complete SIP messages,
// RTP packets and RTCP compounds, each with its innermost addressing.
//
// # What it owns
//
// The packet walker: link layers (Ethernet, Linux cooked SLL and SLL2, raw IPv4/IPv6,
// BSD null/loopback in either byte order), 802.1Q/802.1ad VLAN stacks (any depth),
// MPLS label stacks (RFC 3032 §2.1, with the RFC 4385 pseudowire control word), PPPoE
// sessions (RFC 2516 §4),
// IPv4 (RFC 791, options skipped by IHL, total length trimming Ethernet padding),
// IPv6 with extension headers (RFC 8200 §4; ESP stops the walk), IPv4 and IPv6 fragment
// reassembly (RFC 791 §3.2, RFC 8200 §4.5; first-arrived bytes win on overlap, as RFC 5722
// advises against trusting overlapping data), tunnels (IP-in-IP RFC 2003, IPv6-in-IPv4
// RFC 4213, GRE RFC 2784/2890 including transparent Ethernet bridging and ERSPAN types
// I, II and III, VXLAN RFC 7348 on UDP 4789, PPTP's enhanced GRE RFC 2637 §4.1 carrying
// PPP RFC 1661 with or without address/control and protocol field compression, GTP-U
// version 1 3GPP TS 29.281 on UDP 2152 with its extension header chain), UDP (RFC 768), TCP (RFC 9293, header only;
// byte-stream reassembly is decode/tcpasm) and SCTP (RFC 4960 §3, DATA chunks and the
// I-DATA chunks of RFC 8260 §2.1; fragmented user messages are reassembled when their
// fragments arrive in TSN order, RFC 4960 §6.9). HEPv3 sent over TCP is framed too.
//
// UDP payloads are classified by content on every port: HEPv3 (decode/hep) is unwrapped,
// SIP (decode/sip Looks) is parsed, and version-2 datagrams are RTCP when the second byte is
// 192..223 (RFC 5761 §4) and the length field fits, else RTP (RFC 3550 §5.1). TCP streams
// are framed per RFC 3261 §18.3 (Content-Length), or as RFC 7118 SIP over WebSocket after
// an HTTP upgrade; TLS is recognised and ignored.
//
// # Capture duplicates
//
// A frame whose bytes from the first IP header on repeat a frame seen up to
// Config.DuplicateWindow (10 ms) earlier is a capture duplicate (a SPAN session mirroring
// both directions, two mirrored ports on one path): it is dropped before any event and
// counted in Counters.DuplicateFrames. The table is bounded (Config.DuplicateTable
// entries, dup.go explains the hash-only comparison) and counts replaced live entries in
// Counters.DuplicateEvictions. The table is per decoder: a copy handed to another decoder
// (workers not sharded by flow) is not recognised.
//
// # Why our own walker
//
// We walk headers ourselves instead of using gopacket's DecodingLayerParser: tunnels nest
// the same layer types several times (IP in GRE in IP, Ethernet in VXLAN in UDP in IP),
// which a DecodingLayerParser with one preallocated layer per type cannot express; we need
// leniency where gopacket rejects (zero IPv4 total length from segmentation offload,
// trailing padding, truncated snaplen); and we need zero allocations and about 1.5 million
// packets per second end to end on one core. gopacket is used only in tests, as an
// independent encoder.
//
// # Concurrency and buffer lifetimes
//
// A Decoder is owned by one goroutine (one per capture worker) and is not safe for
// concurrent use; it does no I/O and starts no goroutines. Packet timestamps drive every
// timer (fragment and TCP stream expiry), so replaying a capture is deterministic.
// The Event passed to the callback, and every slice in it, is reused: it is valid only
// until the callback returns. Payload and Frame are views into the caller's frame or into
// the decoder's reassembly buffers; SIP and RTP point at structs reused for the next packet.
// Anything kept must be copied.
//
// # Errors
//
// Malformed input never panics: every read is length-checked. A packet that cannot be
// decoded is counted by Reason (Errors), never logged. Non-IP frames count in
// Counters.NonIP and payloads we do not decode (TLS, DNS, STUN, unknown) in Counters.Ignored;
// neither is an error. Tunnel content seen but on purpose not opened (PPP and GTP-U
// signalling, compressed PPP, GRE protocols, L2TP, Geneve, ...) is counted by its own
// Reason too (ppp_control, gtp_control, unsupported_*): normal traffic, but never silent.
package decode
