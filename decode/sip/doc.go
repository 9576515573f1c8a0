// Package sip is callscope's lenient, zero-copy SIP message scanner for a passive
// monitor.
//
// It owns: recognising SIP in arbitrary UDP/TCP payloads (Looks), framing messages on
// stream transports (FrameLength, SkipKeepAlive, Resync; RFC 3261 §18.3, RFC 5626
// §4.4.1 keep-alives), decoding one message into a reusable Message (Parse; RFC 3261 §7,
// §20), and small helpers for header values (Param, URIUser, Q850Cause per RFC 3326,
// Message.SDP for application/sdp and multipart/* bodies per RFC 2046 §5.1).
//
// Why our own code: a monitor must read whatever is on the wire, including messages a
// user agent would reject (RFC 4475 torture tests, LF-only line ends, lowercase names,
// stray spaces, missing Content-Length). Stack-oriented libraries such as
// emiago/sipgo validate strictly, build header objects and allocate per message; here
// parsing a typical INVITE allocates nothing. sipgo is used only as a test oracle.
//
// Buffer lifetimes: every []byte in a Message, and every value passed to an Each
// callback, is a view into the data given to Parse. It is valid only while that buffer
// is unchanged (for a capture buffer: until the next packet). Copy anything kept longer.
// A Message embeds its header array; reuse it across packets (Parse resets it) and do
// not copy it by value while its slices are in use.
//
// Concurrency: no package state is mutated; functions are safe for concurrent use on
// distinct Messages. A Message is not safe for concurrent use.
//
// Errors are sentinels (ErrNotSIP, ErrTruncated, ErrMalformed, ErrTooManyHeaders), meant
// to be counted by reason, never logged per packet. Nothing in this package panics on
// any input; it is fuzzed (FuzzParse, FuzzFrameLength).
package sip
