// Package correlate rebuilds calls from decoded events: SIP dialogs and transactions
// (RFC 3261 §12, §17) keyed by Call-ID, their outcome and timings, the media they set up
// through SDP offer/answer (RFC 3264), the RTP and RTCP streams that flow to those
// addresses, B2BUA leg links, and REGISTER flows.
//
// A Correlator is fed events in packet-time order by one goroutine and is not safe for
// concurrent use. Packet timestamps drive every timer (SIP and RTP timeouts, media index
// expiry), never the wall clock, so replaying a capture gives the same calls.
//
// Memory is bounded: the call table, the media index, the stream table, the registration
// table, the per-call message and kept-media lists (Config.KeepRTP), the small per-call
// lists (retransmission hashes, SDP addresses, payload types, user agents, INFO DTMF,
// linked legs), the leg-link index and the interned codec names each have a cap, and
// everything evicted or dropped is counted in Counters by reason, exported by
// RegisterMetrics. Events are views valid only during Event; everything kept is copied.
// A stream costs 471 bytes with its table entries, a call about 1.6 KB without its raw
// SIP (BenchmarkMemory100k); streams.go says how the stream table gets there.
//
// B2BUA legs are linked while both are in the call table (links.go), so finished calls
// leave already linked; LinkCalls adds links between calls that never overlapped when a
// whole capture is at hand.
//
// Every method, Snapshot and Counters included, belongs to the goroutine that feeds the
// events; other goroutines (the dashboard, a metrics scrape) get copies that goroutine
// publishes. Records handed to Output are owned by the receiver. LiveRecords is the one
// export that shares rather than copies: its messages and packed frames (framepack.go)
// are views of append-only slices, readable by other goroutines once published through
// a synchronizing operation.
//
// End of input: Finish runs the timers at the last packet time, so an answered call whose
// media stopped at least RTPTimeout before the end of the capture ends rtp_timeout; a
// capture ending sooner after the media stopped ends the call capture_end.
//
// Per-stream statistics (loss, jitter, MOS, RTCP, DTMF) are computed by package quality;
// this package decides which stream belongs to which call and which side sent it.
package correlate
