// Package sdp is callscope's lenient, zero-copy SDP scanner (RFC 8866, which obsoletes
// RFC 4566; offer/answer semantics from RFC 3264).
//
// It owns reading, from a session description carried in SIP, what a passive monitor
// needs to find and judge the media: per m= section the media type, port, protocol and
// payload types (§5.14), the connection address (c=, §5.7, media level overriding
// session level, multicast "/ttl" forms and IP6 included), RTCP port and address
// (a=rtcp, RFC 3605), rtcp-mux (RFC 5761), direction (§6.7; a 0.0.0.0 address is kept
// because it signals hold, RFC 3264 §8.4), ptime (§6.4), rtpmap (§6.6) and the
// telephone-event payload type and fmtp (RFC 4733), plus the RFC 3551 §6 static
// payload table.
//
// Why our own code: SDP in the wild breaks the grammar (LF-only lines, missing v=/s=/t=,
// odd spacing, hostnames in c=) and pion/sdp rejects such bodies and allocates a tree
// per description. Parse here allocates nothing, skips what it does not know and fails
// only when nothing SDP-like is present. IP addresses are parsed by our own zero-alloc
// ParseAddr because netip.ParseAddr needs a string (a copy per packet). pion/sdp and
// netip serve as test oracles.
//
// Buffer lifetimes: every []byte in a Session is a view into the body given to Parse
// and is valid only while that buffer is unchanged; copy what outlives the packet.
// Session embeds fixed arrays backing Media, Formats and RTPMaps: reuse one Session per
// worker (Parse resets it) and never copy it by value while its slices are in use.
// Limits MaxMedia, MaxFormats and MaxRTPMaps bound it; what exceeds them is counted in
// Session.Dropped.
//
// Concurrency: no package state is mutated; a Session is not safe for concurrent use.
package sdp
