// Package ws decodes WebSocket framing (RFC 6455) as carried on a captured
// TCP stream, for SIP over WebSocket (RFC 7118).
//
// What it owns: recognising the HTTP/1.1 Upgrade handshake that starts a
// WebSocket connection (RFC 6455 §4.1, §4.2.2), parsing frame headers
// (§5.2), unmasking client-to-server payloads (§5.3), and reassembling
// fragmented text/binary messages (§5.4) into whole SIP messages. It does
// not own the TCP stream (decode/tcpasm) nor SIP parsing (decode/sip).
//
// Deviations for a passive decoder: frames whose non-minimal length
// encodings RFC 6455 §5.2 forbids are accepted (lenient); RSV1 is accepted
// and reported as Frame.RSV1, because browsers negotiate permessage-deflate
// (RFC 7692) and rejecting the frame would lose framing of the whole
// stream: the Reassembler reports such messages as ErrCompressed and skips
// them. RSV2/RSV3, unknown opcodes, control frames that are fragmented or
// longer than 125 bytes (§5.5), 64-bit lengths with the top bit set and
// payloads above MaxPayload are ErrMalformed.
//
// Masking note: the mask key applies per frame, the index restarting at 0
// in every frame (§5.3), including continuation frames. Unmask's offset is
// the position within one frame's payload, for callers that unmask a frame
// in pieces; the Reassembler passes 0 for each frame.
//
// Buffer lifetimes: ParseFrame is zero-copy: Frame.Payload is a view into
// the input (still masked when Frame.Masked). The message returned by
// Reassembler.Push is either a view into the frame's payload (single
// unmasked frame) or into the Reassembler's own buffer, valid until the next
// Push or Reset. Copy what must outlive that.
//
// Concurrency: no package state. A Reassembler belongs to one direction of
// one stream and must not be shared between goroutines. Nothing here
// allocates on the hot path; the Reassembler's buffer grows to the largest
// message seen (at most MaxMessage) and is then reused.
//
// Why our own code: gorilla/websocket, nhooyr/websocket and gobwas/ws are
// endpoint libraries: they read from a net.Conn or io.Reader, enforce the
// masking rules of one side and answer pings. A monitor sees both
// directions of someone else's connection as captured byte slices, and must
// frame them with no I/O, no allocation and lenient checks.
package ws
