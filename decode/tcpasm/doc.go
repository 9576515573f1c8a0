// Package tcpasm reassembles captured TCP byte streams so that SIP (and
// SIP over WebSocket) messages split across or coalesced within segments
// can be framed (RFC 3261 §18.3: stream transports frame by
// Content-Length; RFC 9293 §3.4, §3.10.7.4 for sequence-number semantics).
//
// What it owns: one half-stream per direction, keyed by (src, dst)
// netip.AddrPort pairs; the next expected sequence number; a contiguous
// buffer of in-order bytes not yet consumed; a bounded list of out-of-order
// segments; packet-time idle expiry. It does not parse anything: a Consumer
// callback frames messages out of the contiguous bytes and says how many
// it consumed; unconsumed bytes stay buffered for the next call.
//
// Semantics:
//   - A half-stream is created by the first segment seen in its direction:
//     a SYN (data starts at seq+1) or, since a capture may start
//     mid-connection, any data segment (data starts at its seq). A stream
//     created without a SYN starts with Stream.Gap set, telling the consumer
//     it may be in the middle of a message and must resynchronise.
//   - Bytes entirely before the next expected sequence number are
//     retransmissions: dropped and counted. A partially overlapping segment
//     contributes only its new bytes.
//   - Segments beyond the next expected sequence number are held (copied)
//     until the hole fills. When more than MaxOOO segments are held, or the
//     held and buffered bytes exceed MaxBuffer, the hole is declared lost:
//     the buffer is discarded, delivery skips to the earliest held segment,
//     Stream.Gap is set and Gaps is counted.
//   - Unconsumed in-order bytes beyond MaxBuffer are discarded (Overflow,
//     Gap set) so a consumer waiting for a message that never completes
//     cannot grow memory without bound.
//   - Sequence numbers are compared modulo 2^32 (serial arithmetic,
//     RFC 1982 style), so streams crossing the wrap work.
//   - FIN or RST deliver what is left (skipping holes, with Gap set) and
//     delete the half. A FIN that arrives before missing data is remembered
//     and the half is closed once the data up to it has arrived (or at
//     expiry).
//   - Expire and FlushAll visit streams in creation order, so replaying a
//     capture gives the consumer the same calls in the same order.
//
// Buffer lifetimes: the data passed to a Consumer is a view into the
// half-stream's buffer, valid only during the call; payloads given to
// Segment are copied when they must be kept, so the caller may reuse its
// packet buffer immediately.
//
// Concurrency: an Assembler is not safe for concurrent use; own one per
// worker and shard flows so that both halves of a connection go to the same
// worker. The Consumer runs synchronously inside Segment, Expire and
// FlushAll and must not call back into the Assembler.
//
// Allocation: in steady state (in-order segments, consumer consuming what
// it can) Segment allocates nothing; buffers are kept per stream and reused
// when streams are recycled. Holding out-of-order segments copies them.
//
// Why our own code instead of gopacket/reassembly: we need bounded memory
// per stream with every eviction counted by reason, expiry driven by packet
// time so replays are deterministic, and a consumer that frames messages
// out of one contiguous buffer and leaves the remainder in place.
// gopacket/reassembly can be bent to this (page cache limits, KeepFrom on
// a scatter-gather view, FlushCloseOlderThan), but it brings a
// per-connection factory object, a shared page cache, and a general TCP
// state machine we do not need; this package is small enough to fuzz
// completely and allocates nothing per in-order segment.
package tcpasm
