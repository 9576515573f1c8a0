// Package quality measures the media quality of one RTP stream: RFC 3550 sequence and
// loss accounting (Appendix A.1, A.3), interarrival jitter (A.8) in milliseconds over
// every audio packet (network stalls included), network stalls and sender clock drift,
// a simulated fixed de-jitter buffer, the ITU-T G.107 (06/2015) E-model (R and MOS-CQE)
// with ITU-T G.113 Appendix I codec values, per-interval quality, RFC 4733 DTMF
// events, and what RTCP (RFC 3550 §6.4 SR/RR, RFC 3611 §4.7 VoIP metrics) reports
// about the stream, including a round-trip time measured passively from LSR/DLSR and
// probe arrival times, combined over both directions into a call's end-to-end RTT
// (EndToEndRTT, SetEndToEndRTT). RTCPCompound parses RTCP datagrams without
// allocating; its accessors return views valid until the next Parse.
//
// It owns no I/O, starts no goroutines and holds no mutable package state. A Stream is
// owned by one goroutine (correlate shards streams by flow) and needs no lock. Packet
// is the hot path: it allocates nothing except, amortised, when a new interval or
// DTMF event is appended, and once at the first network stall of a stream that has no
// RTCP state yet; it reads the payload slice only during the call, so callers
// may pass views into a capture buffer. Summary allocates and copies everything it
// returns. Packet timestamps, never the wall clock, drive every computation, so
// replaying a capture gives identical results.
//
// We implement RFC 3550 and G.107 here instead of using a library because a passive
// probe needs different choices than an endpoint (pion/interceptor's receiver stats
// discard what A.1 rejects and have no E-model): every packet is counted, duplicates
// are detected in a 1024-sequence bitmap, telephone-event and comfort-noise packets
// stay out of jitter, and the numbers Wireshark shows are reproduced side by side
// (WiresharkStats). docs/quality.md lists every formula, constant and assumption.
package quality
