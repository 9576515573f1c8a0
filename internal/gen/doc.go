// Package gen writes capture files of VoIP scenarios whose truth is known:
// the golden tests and throughput benchmarks of callscope read what it writes.
//
// # What it owns
//
// A Scenario names a file format (pcap µs/ns, big-endian pcap, pcapng with one
// or two interfaces), a link type (Ethernet, Linux SLL and SLL2, raw IP, BSD
// null and loop), an encapsulation (802.1Q, QinQ with 0x88a8/0x8100/0x9100,
// MPLS, GRE with key and sequence, ERSPAN II and III, VXLAN, IP-in-IP,
// IPv6-in-IPv4, IPv6 with extension headers, PPTP enhanced GRE with PPP, GTP-U
// with a PDU Session Container), optionally every frame twice as a SPAN session
// mirroring both directions delivers it (the copy 1 ms later, VLAN-tagged), a SIP transport (UDP with
// optional IP fragmentation, TCP with split, coalesced, retransmitted and
// reordered segments, SCTP, WebSocket, HEPv3) and a list of calls,
// registrations and orphan RTP streams. Scenario.Write writes it and returns
// the Truth a correct analyser must report: per call its state, final code,
// SIP message and retransmission counts, and per RTP stream its packets,
// expected, lost, duplicates, out-of-order and DTMF digits. Catalogue lists the
// named scenarios used by golden tests; Load builds a many-call scenario for
// throughput benchmarks.
//
// # Why it does not use the decoder
//
// The decoders of callscope are tested against this output, so nothing here
// imports them. Headers are built with gopacket's serializers where gopacket
// has one (Ethernet, 802.1Q, MPLS, IPv4, IPv6 and its extension headers, UDP,
// TCP, SCTP, GRE, ERSPAN II, VXLAN) and by hand with encoding/binary where it
// has none: ERSPAN III (draft-foschiano-erspan section 4.3), PPTP's GRE and PPP
// (RFC 2637 section 4.1, RFC 1661, RFC 1662), GTP-U (3GPP TS 29.281 section 5), Linux SLL and SLL2,
// BSD null/loop, the SCTP CRC32c (RFC 9260 appendix A, computed here because
// gopacket checksums a buffer it does not zero), HEPv3 chunks, WebSocket
// frames (RFC 6455 section 5.2), RTP (RFC 3550 section 5.1), RTCP SR/SDES
// (RFC 3550 sections 6.4 and 6.5) and RFC 4733 telephone-events. SIP follows
// RFC 3261 (Via branches with the z9hG4bK cookie, ACK for non-2xx in the INVITE
// transaction, ACK for 2xx as its own transaction, CANCEL with the INVITE's
// branch) and SDP RFC 4566. pcap and pcapng are written with gopacket/pcapgo;
// big-endian pcap with a small writer here, since pcapgo only writes little endian.
//
// # Determinism, memory and concurrency
//
// All randomness comes from math/rand/v2 seeded with Scenario.Seed, so the
// same Scenario gives byte-identical output. Write merges per-call sources
// (precomputed SIP, RTP and RTCP generated lazily) with a heap keyed by time,
// so memory grows with the number of calls, not with their length: Load(600,
// 60, 1), about 3.6 million packets, streams in a few tens of MB. Write holds
// no global state and may run concurrently on different Scenarios; a Scenario
// is only read.
//
// # Conventions of the truth
//
// Expected runs from the lowest to the highest sequence number received, so a
// stream that loses its last packets does not count them (as RFC 3550 A.3 and
// tshark do). Lost is never negative; duplicates are counted apart. Moving a
// stream to a new port (re-INVITE) keeps its SSRC and sequence space but makes
// a second StreamTruth. SIPMessages counts every message written, on every
// hop, retransmissions included; Retransmissions counts the SIP-level copies
// (TCP retransmissions are not SIP retransmissions). Truth describes one copy of
// each frame: with SpanDuplicates the file holds every frame twice (Packets counts
// both), but a correct analyser reports the call as if it held one.
package gen
