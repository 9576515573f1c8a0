package correlate

// Packed SIP messages: the kept messages of a confirmed call, compressed while it runs.
//
// A call keeps every SIP message it saw (Config.KeepMessages) until it ends, for its
// ladder and pcap export: about 3–5 KB of text per call plus 184 B per Message, the
// largest share of serve's live heap at 20,000 concurrent calls (BENCHMARKS.md, session
// 13). Once a dialog is confirmed (an ACK), nothing reads those messages again until the
// call ends or someone opens its ladder, so once its SIP has been quiet for packQuiet
// after the ACK, Advance packs the messages kept so far into one S2 block
// (klauspost/compress/s2, a Snappy extension) of their fields and bytes and lets their
// arena go; later messages are kept raw after it, and a later ACK (then quiet) packs
// them all again (a new array: a published view keeps the old one). Messages of one
// dialog repeat most of their headers, so they compress about 3:1 even alone. S2, not
// zstd: the pack is made on the correlator's goroutine, and for the five messages of a
// call's setup (1.7 KB) S2 takes 0.9 µs for 538 B where zstd's fastest level takes 10 µs
// for 480 B (zstd without entropy coding 4.7 µs for 528 B; BenchmarkPackMessages and
// the comparison in BENCHMARKS.md, session 13).
//
// The packed form lives only in memory: emit unpacks it into the Record
// (Record.Messages, one array for the text), or with Config.PackedRecords hands it on in
// the Record to serve's store writer, which unpacks it for each write-ahead-log and store
// record it encodes; no store, spool or WAL file holds it. A live view (LiveRecords) carries the packed bytes as they
// are (immutable once made) and unpacks them when asked (Record.AllMessages).
//
// Layout of the uncompressed bytes: uvarint message count, then per message its fields
// (zigzag varint TS delta, flags, Src and Dst as AppendBinary with a length byte,
// transport and method with a length byte, uvarint status, CSeq, link type, frame length
// and raw length), then every message's frame bytes followed, where Raw is not the
// frame's tail, by its raw bytes.

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/callscope/callscope/decode"
	"github.com/klauspost/compress/s2"
)

// sipPacker is the scratch for packing messages (one goroutine's; the zero value is
// ready).
type sipPacker struct {
	scratch []byte // the uncompressed layout of the last pack
	zbuf    []byte // its S2 block before the exact-size copy
}

// packedMessages is the packed form of a call's first n kept messages.
type packedMessages struct {
	z []byte // one S2 block; never written once made
	n int
}

// count is the number of packed messages (none for nil).
func (pm *packedMessages) count() int {
	if pm == nil {
		return 0
	}
	return pm.n
}

// size is the memory the packed bytes take (none for nil).
func (pm *packedMessages) size() int {
	if pm == nil {
		return 0
	}
	return cap(pm.z)
}

const (
	pmRequest = 1 << iota
	pmRetrans
	pmRawTail  // Raw is the tail of Frame
	pmRawOwn   // Raw has bytes of its own (not the frame's tail)
	pmHasFrame // Frame is not nil
)

var errBadPackedMessages = errors.New("correlate: bad packed messages")

// pack returns the S2 block of prev's messages (if any) followed by msgs.
func (p *sipPacker) pack(prev []Message, msgs []Message) []byte {
	all := len(prev) + len(msgs)
	b := p.scratch[:0]
	b = binary.AppendUvarint(b, uint64(all))
	var last int64
	each := func(f func(m *Message)) {
		for i := range prev {
			f(&prev[i])
		}
		for i := range msgs {
			f(&msgs[i])
		}
	}
	each(func(m *Message) {
		b = binary.AppendVarint(b, m.TS-last)
		last = m.TS
		var fl byte
		if m.Request {
			fl |= pmRequest
		}
		if m.Retrans {
			fl |= pmRetrans
		}
		tail := m.RawInFrame()
		switch {
		case tail:
			fl |= pmRawTail
		case m.Raw != nil:
			fl |= pmRawOwn
		}
		if m.Frame != nil {
			fl |= pmHasFrame
		}
		b = append(b, fl)
		b = appendAddrPort(b, m.Src)
		b = appendAddrPort(b, m.Dst)
		b = appendShort(b, m.Transport)
		b = appendShort(b, m.Method)
		b = binary.AppendUvarint(b, uint64(max(m.Status, 0)))
		b = binary.AppendUvarint(b, uint64(m.CSeq))
		b = binary.AppendUvarint(b, uint64(m.LinkType))
		b = binary.AppendUvarint(b, uint64(len(m.Frame)))
		b = binary.AppendUvarint(b, uint64(len(m.Raw)))
	})
	each(func(m *Message) {
		b = append(b, m.Frame...)
		if !m.RawInFrame() {
			b = append(b, m.Raw...)
		}
	})
	p.scratch = b
	// Compressed into scratch, then copied: the block is held for the rest of the call,
	// and Encode wants room for the worst case.
	p.zbuf = s2.Encode(p.zbuf[:cap(p.zbuf)], b)
	return append([]byte(nil), p.zbuf...)
}

func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	n := len(b)
	b = append(b, 0)
	b, _ = ap.AppendBinary(b) // never fails
	b[n] = byte(len(b) - n - 1)
	return b
}

// appendShort appends s with a length byte; transports and methods are short (a method
// longer than 255 bytes is cut: the parser never gives one).
func appendShort(b []byte, s string) []byte {
	if len(s) > 255 {
		s = s[:255]
	}
	return append(append(b, byte(len(s))), s...)
}

// unpack decodes the packed messages and appends them to out; their Frame and Raw share
// one new array. Total on any input (the bytes are the correlator's own, but a view may
// be read long after): a bad stream is errBadPackedMessages, never a panic.
func (pm *packedMessages) unpack(out []Message) ([]Message, error) {
	if pm == nil || pm.n == 0 {
		return out, nil
	}
	if n, err := s2.DecodedLen(pm.z); err != nil || n > maxPackDecoded {
		return out, errBadPackedMessages
	}
	raw, err := s2.Decode(nil, pm.z)
	if err != nil {
		return out, errBadPackedMessages
	}
	r := &pmReader{b: raw}
	n := r.uvarint()
	if n != uint64(pm.n) || n > uint64(len(raw)) {
		return out, errBadPackedMessages
	}
	start := len(out)
	type lens struct {
		frame, raw uint64
		fl         byte
	}
	ls := make([]lens, 0, n)
	var ts int64
	for range n {
		ts += r.varint()
		fl := r.byte()
		m := Message{TS: ts, Request: fl&pmRequest != 0, Retrans: fl&pmRetrans != 0}
		m.Src, m.Dst = r.addrPort(), r.addrPort()
		m.Transport = transportName(r.short())
		m.Method = methodName(r.short())
		m.Status = int(r.uvarint())
		m.CSeq = uint32(r.uvarint())
		m.LinkType = uint32(r.uvarint())
		l := lens{frame: r.uvarint(), raw: r.uvarint(), fl: fl}
		if r.bad {
			return out[:start], errBadPackedMessages
		}
		out = append(out, m)
		ls = append(ls, l)
	}
	for i, l := range ls {
		m := &out[start+i]
		if l.fl&pmHasFrame != 0 {
			m.Frame = r.bytes(l.frame)
		}
		switch {
		case l.fl&pmRawTail != 0:
			if l.raw > uint64(len(m.Frame)) {
				return out[:start], errBadPackedMessages
			}
			m.Raw = m.Frame[len(m.Frame)-int(l.raw):]
		case l.fl&pmRawOwn != 0:
			m.Raw = r.bytes(l.raw)
		}
		if r.bad {
			return out[:start], errBadPackedMessages
		}
	}
	if len(r.b) != 0 {
		return out[:start], errBadPackedMessages
	}
	return out, nil
}

// pmReader reads the packed layout; a short or bad field sets bad and reads as zero.
type pmReader struct {
	b   []byte
	bad bool
}

func (r *pmReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

// varint reads what binary.AppendVarint wrote: a uvarint of the zig-zag form.
func (r *pmReader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *pmReader) byte() byte {
	if len(r.b) == 0 {
		r.bad = true
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *pmReader) bytes(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.bad, r.b = true, nil
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *pmReader) short() []byte { return r.bytes(uint64(r.byte())) }

func (r *pmReader) addrPort() netip.AddrPort {
	var ap netip.AddrPort
	if b := r.short(); !r.bad && ap.UnmarshalBinary(b) != nil {
		r.bad = true
	}
	return ap
}

// transportName returns the contract name of a transport without allocating for the
// ones the decoder gives (decode.Transport.String).
func transportName(b []byte) string {
	for t := decode.TransportUDP; t <= decode.TransportSCTP; t++ {
		if s := t.String(); s == string(b) {
			return s
		}
	}
	return string(b)
}

// AllMessages returns r's SIP messages in arrival order: Messages, or, in a live view
// whose first messages are packed, those unpacked (into new memory) in front of
// Messages. A pack that does not decode is an error with the later messages returned.
func (r *Record) AllMessages() ([]Message, error) {
	if r.packed == nil {
		return r.Messages, nil
	}
	out, err := r.packed.unpack(make([]Message, 0, r.packed.n+len(r.Messages)))
	return append(out, r.Messages...), err
}

// MessagePacker packs the SIP messages of records that wait for the store (the store
// writer's queue, once its write-ahead log has them): Pack replaces Messages by their
// packed form, which AllMessages and Unpacked read. A MessagePacker is for one
// goroutine; the zero value is ready.
type MessagePacker struct{ p sipPacker }

// Pack packs r's messages in place, when r has some and they get smaller (they do, by
// about 3:1, for any SIP; BenchmarkPackMessages). r must not be shared yet.
func (mp *MessagePacker) Pack(r *Record) {
	if len(r.Messages) == 0 || r.packed != nil {
		return
	}
	z := mp.p.pack(nil, r.Messages)
	held := int64(cap(r.Messages)) * msgSize
	for i := range r.Messages {
		held += int64(len(r.Messages[i].Frame))
		if !r.Messages[i].RawInFrame() {
			held += int64(len(r.Messages[i].Raw))
		}
	}
	if int64(len(z)) >= held {
		return
	}
	r.packed, r.Messages = &packedMessages{z: z, n: len(r.Messages)}, nil
}

// Unpacked returns r with every message in Messages: r itself when none are packed, or
// else a copy of r whose Messages are unpacked into new memory (r, shared, is left as it
// is). A pack that does not decode is an error, with the messages that did.
func (r *Record) Unpacked() (*Record, error) {
	if r.packed == nil {
		return r, nil
	}
	out := *r
	var err error
	out.Messages, err = r.AllMessages()
	out.packed = nil
	return &out, err
}
