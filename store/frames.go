package store

// Frame segments: the kept RTP/RTCP frames of one call (correlate.Record.Media) as one
// compressed blob, so an engine stores a call's media as one row or one file range
// instead of one row per packet (docs/architecture.md, "Media frames").
//
// A segment is one sealed chunk or several concatenated (a correlator's pack: its
// sealed chunks, then its open chunk sealed; correlate/framecodec.go), whose content is
// a classic little-endian pcap stream with nanosecond timestamps (magic 0xa1b23c4d,
// draft-ietf-opsawg-pcap §4-§5): a file header, then per frame a 16-byte record header
// (seconds, nanoseconds, captured length, length on the wire) and the frame bytes. When
// the link type changes from one frame to the next a new file header follows, so a call
// captured on one link type (always, in practice) opens to a pcap file any tool reads
// (what /api/v1/calls/:id/pcap exports), and a mixed one still round-trips exactly. (A record whose seconds field equals the magic, a time in 2055,
// would read as a header.) Segments stored before the delta coding are zstd frames of
// the same stream and still decode.

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/callscope/callscope/correlate"
	"github.com/klauspost/compress/zstd"
)

const (
	segMagicNS    = 0xa1b23c4d
	segFileHeader = 24
	segRecHeader  = 16
	segSnaplen    = 262144
	// MaxSegmentBytes bounds a decompressed segment (a call keeps at most
	// correlate.Config.MaxMediaBytesPerCall of frame data plus headers).
	MaxSegmentBytes = 1 << 30
)

// ErrBadSegment is returned for a segment that does not decode.
var ErrBadSegment = errors.New("store: bad frame segment")

// FrameCodec seals and opens frame segments (correlate.SealChunk, OpenSegment). It
// holds one zstd encoder (for chunks the delta coding does not shrink) and one decoder;
// both are safe for concurrent use (EncodeAll/DecodeAll), so one codec serves a whole
// store. Close releases them.
type FrameCodec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

// NewFrameCodec returns a codec whose zstd runs at its fastest level: the writer's CPU
// is the budget that matters.
func NewFrameCodec() (*FrameCodec, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2),
		zstd.WithZeroFrames(true))
	if err != nil {
		return nil, fmt.Errorf("store: frame codec: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxMemory(MaxSegmentBytes))
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("store: frame codec: %w", err)
	}
	return &FrameCodec{enc: enc, dec: dec}, nil
}

// Close releases the codec's encoder and decoder.
func (c *FrameCodec) Close() {
	c.enc.Close()
	c.dec.Close()
}

// RawSize is the decompressed size of the segment of frames.
func RawSize(frames []correlate.Frame) int {
	n := segFileHeader
	for i := range frames {
		n += segRecHeader + len(frames[i].Data)
		if i > 0 && frames[i].LinkType != frames[i-1].LinkType {
			n += segFileHeader
		}
	}
	return n
}

// FrameBytes is the frame data of frames (what the writer's memory budget counts).
func FrameBytes(frames []correlate.Frame) int64 {
	var n int64
	for i := range frames {
		n += int64(len(frames[i].Data))
	}
	return n
}

// Encode appends the compressed segment of frames to dst, using scratch (grown as
// needed and returned) for the uncompressed stream. No frames: dst unchanged.
func (c *FrameCodec) Encode(dst, scratch []byte, frames []correlate.Frame) (out, scratchOut []byte) {
	if len(frames) == 0 {
		return dst, scratch
	}
	raw := scratch[:0]
	if cap(raw) < RawSize(frames) {
		raw = make([]byte, 0, RawSize(frames))
	}
	le := binary.LittleEndian
	for i := range frames {
		f := &frames[i]
		if i == 0 || f.LinkType != frames[i-1].LinkType {
			var h [segFileHeader]byte
			le.PutUint32(h[0:], segMagicNS)
			le.PutUint16(h[4:], 2)
			le.PutUint16(h[6:], 4)
			le.PutUint32(h[16:], segSnaplen)
			le.PutUint32(h[20:], f.LinkType)
			raw = append(raw, h[:]...)
		}
		var h [segRecHeader]byte
		ts := uint64(f.TS)
		le.PutUint32(h[0:], uint32(ts/1e9))
		le.PutUint32(h[4:], uint32(ts%1e9))
		le.PutUint32(h[8:], uint32(len(f.Data)))
		le.PutUint32(h[12:], uint32(f.OrigLen))
		raw = append(raw, h[:]...)
		raw = append(raw, f.Data...)
	}
	return correlate.SealChunk(dst, raw, c.enc), raw
}

// EncodeRecord appends the compressed segment of r's media frames to dst (no frames:
// dst unchanged). A correlator's pack is already the segment's sealed chunks but its
// open chunk (correlate/framepack.go), so only that is sealed; decoded frames (Media)
// are encoded as Encode does.
func (c *FrameCodec) EncodeRecord(dst, scratch []byte, r *correlate.Record) (out, scratchOut []byte) {
	if len(r.Media) > 0 {
		return c.Encode(dst, scratch, r.Media)
	}
	if r.Pack.Frames == 0 {
		return dst, scratch
	}
	if dst == nil && len(r.Pack.Open) == 0 {
		// An ended call's pack is the whole segment already (mediaKeep.final): share it
		// rather than hold a second copy while the record waits for the store. A pack's
		// bytes are never written again, and the length-capped slice makes an append
		// copy.
		n := len(r.Pack.Sealed)
		return r.Pack.Sealed[:n:n], scratch
	}
	dst = append(dst, r.Pack.Sealed...)
	if len(r.Pack.Open) > 0 {
		dst = correlate.SealChunk(dst, r.Pack.Open, c.enc)
	}
	return dst, scratch
}

// Decode appends the frames of the compressed segment seg to out. The frames' Data
// share one new backing array, not seg.
func (c *FrameCodec) Decode(out []correlate.Frame, seg []byte) ([]correlate.Frame, error) {
	if len(seg) == 0 {
		return out, nil
	}
	raw, err := correlate.OpenSegment(nil, seg, c.dec, MaxSegmentBytes)
	if err != nil {
		return out, fmt.Errorf("%w: %w", ErrBadSegment, err)
	}
	return decodeRaw(out, raw)
}

// decodeRaw parses an uncompressed segment. Total on any input: a short or inconsistent
// stream is ErrBadSegment, never a panic.
func decodeRaw(out []correlate.Frame, raw []byte) ([]correlate.Frame, error) {
	out, err := correlate.AppendStreamFrames(out, raw)
	if err != nil {
		return out, fmt.Errorf("%w: %w", ErrBadSegment, err)
	}
	return out, nil
}
