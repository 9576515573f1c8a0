// Package correlate rebuilds calls from decoded events: SIP dialogs and transactions
// (RFC 3261 §12, §17) keyed by Call-ID, their outcome and timings, the media they set up
// through SDP offer/answer (RFC 3264), the RTP and RTCP streams that flow to those
// addresses, B2BUA leg links, and REGISTER flows.
//
// A Correlator is fed events in packet-time order by one goroutine and is not safe for
// concurrent use. Packet timestamps drive every timer (SIP and RTP timeouts, media index
// expiry), never the wall clock, so replaying a capture gives the same calls.
//
// Memory is bounded: the call table, the media index, the stream table, the link index and
// the per-call message list each have a cap from Config, and every eviction is counted in
// Counters by reason. Events are views valid only during Event; everything kept is copied.
//
// Per-stream statistics (loss, jitter, MOS, RTCP, DTMF) are computed by package quality;
// this package decides which stream belongs to which call and which side sent it.
package correlate
