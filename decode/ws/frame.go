package ws

import (
	"encoding/binary"
	"errors"
)

// Limits.
const (
	// MaxPayload is the largest frame payload ParseFrame accepts. SIP
	// messages are far smaller; anything larger is treated as garbage so a
	// corrupt length cannot make a stream consumer wait forever.
	MaxPayload = 1 << 20
	// MaxMessage caps a reassembled (fragmented) message.
	MaxMessage = 256 << 10
)

// Opcodes (RFC 6455 §5.2, §11.8).
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// Errors. Sentinels: compare with errors.Is.
var (
	// ErrNeedMore: the frame is incomplete; on a stream, wait for more bytes.
	ErrNeedMore = errors.New("ws: incomplete frame")
	// ErrMalformed: the bytes cannot be a WebSocket frame (or message).
	ErrMalformed = errors.New("ws: malformed frame")
	// ErrCompressed: a message with RSV1 set (permessage-deflate); skipped.
	ErrCompressed = errors.New("ws: compressed message (permessage-deflate) not supported")
	// ErrTooLarge: a fragmented message exceeded MaxMessage; skipped.
	ErrTooLarge = errors.New("ws: message exceeds MaxMessage")
)

// Frame is one parsed frame header plus a view of its payload.
type Frame struct {
	Fin        bool
	RSV1       bool // per-message compression (RFC 7692); see package doc
	Opcode     uint8
	Masked     bool
	MaskKey    [4]byte
	HeaderLen  int
	PayloadLen int
	Payload    []byte // view into the input; still masked if Masked
}

// IsControl reports whether f is a close, ping or pong frame.
func (f *Frame) IsControl() bool { return f.Opcode&0x8 != 0 }

// ParseFrame parses the frame at the start of data into f. n is the total
// length of the frame (header + payload). When data holds only part of the
// frame it returns ErrNeedMore (with f's header fields filled in if the
// header itself was complete); protocol violations return ErrMalformed.
// ParseFrame does not allocate.
func ParseFrame(data []byte, f *Frame) (n int, err error) {
	*f = Frame{}
	if len(data) < 2 {
		return 0, ErrNeedMore
	}
	b0, b1 := data[0], data[1]
	if b0&0x30 != 0 { // RSV2, RSV3
		return 0, ErrMalformed
	}
	op := b0 & 0x0F
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
	default:
		return 0, ErrMalformed
	}
	f.Fin = b0&0x80 != 0
	f.RSV1 = b0&0x40 != 0
	f.Opcode = op
	f.Masked = b1&0x80 != 0
	hlen := 2
	var plen uint64
	switch l7 := b1 & 0x7F; l7 {
	case 126:
		if len(data) < 4 {
			return 0, ErrNeedMore
		}
		plen = uint64(binary.BigEndian.Uint16(data[2:4]))
		hlen = 4
	case 127:
		if len(data) < 10 {
			return 0, ErrNeedMore
		}
		plen = binary.BigEndian.Uint64(data[2:10])
		if plen>>63 != 0 {
			return 0, ErrMalformed
		}
		hlen = 10
	default:
		plen = uint64(l7)
	}
	if plen > MaxPayload {
		return 0, ErrMalformed
	}
	if f.IsControl() && (!f.Fin || plen > 125 || f.RSV1) {
		return 0, ErrMalformed // RFC 6455 §5.5
	}
	if f.Masked {
		if len(data) < hlen+4 {
			return 0, ErrNeedMore
		}
		copy(f.MaskKey[:], data[hlen:hlen+4])
		hlen += 4
	}
	f.HeaderLen = hlen
	f.PayloadLen = int(plen)
	n = hlen + int(plen)
	if len(data) < n {
		return 0, ErrNeedMore
	}
	f.Payload = data[hlen:n:n]
	return n, nil
}

// Unmask appends payload XOR key (RFC 6455 §5.3) to dst and returns the
// extended slice. offset is the position of payload[0] within its frame's
// payload (0 unless a frame is unmasked in pieces). It allocates only when
// dst lacks capacity.
func Unmask(dst, payload []byte, key [4]byte, offset int) []byte {
	start := len(dst)
	dst = append(dst, payload...)
	out := dst[start:]
	// Rotate the key so that out[0] uses key[offset%4], then XOR eight
	// bytes at a time.
	var k [4]byte
	for i := range k {
		k[i] = key[(offset+i)&3]
	}
	k32 := binary.LittleEndian.Uint32(k[:])
	k64 := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+8 <= len(out); i += 8 {
		v := binary.LittleEndian.Uint64(out[i:])
		binary.LittleEndian.PutUint64(out[i:], v^k64)
	}
	for ; i < len(out); i++ {
		out[i] ^= k[i&3]
	}
	return dst
}
