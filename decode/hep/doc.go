// Package hep decodes and encodes HEP (Homer Encapsulation Protocol)
// packets, the format Kamailio, OpenSIPS, FreeSWITCH, Asterisk, rtpengine
// and heplify use to mirror captured SIP/RTCP to a collector.
//
// What it owns: the wire format only. HEPv3 (magic "HEP3", a 16-bit total
// length, then type-length-value chunks; see the HEP specification at
// https://github.com/sipcapture/HEP, "HEP3 Network Protocol Specification")
// and the older fixed-header HEPv1/HEPv2 format that Kamailio and OpenSIPS
// siptrace can still send (hep_version=1 or 2), as their sipcapture
// modules read it. The
// listener (UDP/TCP I/O) lives in capture; turning the payload into events
// lives in decode.
//
// Behaviour:
//   - Parse is total: it length-checks before every read, never panics, and
//     returns ErrNotHEP, ErrTruncated or ErrMalformed (test with errors.Is).
//   - Chunks with a non-zero vendor id and chunk types we do not use are
//     skipped, as the specification requires of receivers.
//   - Compressed payloads (chunk 16) are not inflated here (that would
//     allocate); Packet.Compressed is set and Payload holds the compressed
//     bytes so the caller can count or inflate them off the hot path.
//
// Buffer lifetimes: Parse is zero-copy. Packet.Payload, NodeName,
// CorrelationID and AuthKey are views into the input and are valid only as
// long as the caller keeps that buffer unchanged (normally: until the next
// packet is read into it). Copy anything that must outlive the packet.
//
// Concurrency: no package state; a Packet must not be shared between
// goroutines without synchronisation. Parse allocates nothing; reuse one
// Packet per worker (Parse resets it).
//
// Why our own code: the Go HEP decoder in heplify-server fills a struct of
// strings (addresses, node name, payload), allocating per packet; a
// monitor decoding every mirrored packet needs a zero-allocation, fuzzed
// decoder with views into the input, and the format is small.
package hep
