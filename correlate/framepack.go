package correlate

// Packed media frames: how a call keeps its RTP/RTCP frames (Config.KeepRTP) while it
// runs, and the form they leave in (Record.Pack). See docs/architecture.md, "Media
// frames".
//
// A call's frames are one append-only byte stream in the store's segment format: a
// classic little-endian pcap stream with nanosecond timestamps (magic 0xa1b23c4d,
// draft-ietf-opsawg-pcap §4-§5): a file header, then per frame a 16-byte record header
// (seconds, nanoseconds, captured length, length on the wire) and the frame bytes, a
// new file header where the link type changes. The stream is cut into chunks of at
// most packChunk bytes. The open chunk is raw; a full one is sealed: compressed into
// one zstd frame (RFC 8878) appended to the call's sealed bytes, by the correlator's one
// encoder (EncodeAll), and a new open chunk is started. Concatenated zstd frames
// decompress to the concatenation of their contents (RFC 8878 §3.1), so a call's
// segment is its sealed bytes followed by its compressed open chunk: the store writes
// it without expanding a frame.
//
// Sharing: sealed bytes and the open chunk are only ever appended to (the bytes below
// their length never change; growing either copies into a new array and leaves the old
// one as it was), and sealing leaves the old open chunk to whoever still reads it. A
// MediaPack whose slices are cut at their current length (mediaKeep.pack) is therefore
// an immutable view another goroutine may read once published to it (LiveRecords).

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

const (
	pcapMagicNS    = 0xa1b23c4d
	pcapFileHeader = 24
	pcapRecHeader  = 16
	pcapSnaplen    = 262144
	// packChunk is the size at which an open chunk is sealed. A headers-mode record (16 B
	// of pcap header, ~54 B of frame) compresses about 2.6:1 in 2 KiB chunks, 3.4:1 in 4
	// KiB, 4:1 in 8 KiB at zstd's fastest level, but every open call holds one raw chunk:
	// 2 KiB gives the least memory per kept frame (BenchmarkMemoryKeptFrames: 37, 45 and
	// 59 B; docs/architecture.md, "Media frames").
	packChunk = 2 << 10
	// packFirstChunk is the first open chunk's size; it doubles up to packChunk, so a
	// short call does not hold a whole chunk.
	packFirstChunk = 512
	// maxPackDecoded bounds what decoding a pack may produce (a call keeps at most
	// Config.MaxMediaBytesPerCall plus record headers).
	maxPackDecoded = 1 << 30
)

// ErrBadFrameStream is returned for frame bytes that do not decode.
var ErrBadFrameStream = errors.New("correlate: bad frame stream")

// MediaPack is the packed frames of one call (Record.Pack): Sealed is zero or more
// concatenated zstd frames, Open the raw pcap stream that follows them; together they
// decompress to the call's segment stream. A MediaPack in a Record is immutable and
// safe to read from any goroutine.
type MediaPack struct {
	Sealed []byte
	Open   []byte
	Frames int // frames in the stream
	dec    *zstd.Decoder
}

// Size is the memory the pack's bytes take (what the caps and budgets count).
func (p *MediaPack) Size() int64 { return int64(len(p.Sealed) + len(p.Open)) }

// AppendFrames decodes the pack and appends its frames to out. The frames' Data share
// one new backing array.
func (p *MediaPack) AppendFrames(out []Frame) ([]Frame, error) {
	if p.Frames == 0 {
		return out, nil
	}
	raw := p.Open
	if len(p.Sealed) > 0 {
		if p.dec == nil {
			return out, fmt.Errorf("%w: no decoder", ErrBadFrameStream)
		}
		b, err := p.dec.DecodeAll(p.Sealed, make([]byte, 0, 4*len(p.Sealed)+len(p.Open)))
		if err != nil {
			return out, fmt.Errorf("%w: %w", ErrBadFrameStream, err)
		}
		raw = append(b, p.Open...)
	} else {
		raw = append([]byte(nil), raw...)
	}
	return AppendStreamFrames(out, raw)
}

// AppendStreamFrames parses an uncompressed frame stream (the format above) and appends
// its frames to out; their Data alias raw. Total on any input: a short or inconsistent
// stream is ErrBadFrameStream, never a panic.
func AppendStreamFrames(out []Frame, raw []byte) ([]Frame, error) {
	le := binary.LittleEndian
	var link uint32
	for first := true; len(raw) > 0; first = false {
		if first || (len(raw) >= 4 && le.Uint32(raw) == pcapMagicNS) {
			if len(raw) < pcapFileHeader || le.Uint32(raw) != pcapMagicNS {
				return out, fmt.Errorf("%w: file header", ErrBadFrameStream)
			}
			link = le.Uint32(raw[20:])
			raw = raw[pcapFileHeader:]
			continue
		}
		if len(raw) < pcapRecHeader {
			return out, fmt.Errorf("%w: torn record header", ErrBadFrameStream)
		}
		sec, ns := le.Uint32(raw[0:]), le.Uint32(raw[4:])
		incl, orig := le.Uint32(raw[8:]), le.Uint32(raw[12:])
		if ns >= 1e9 || int64(incl) > int64(len(raw)-pcapRecHeader) {
			return out, fmt.Errorf("%w: record", ErrBadFrameStream)
		}
		data := raw[pcapRecHeader : pcapRecHeader+int(incl) : pcapRecHeader+int(incl)]
		out = append(out, Frame{TS: int64(sec)*1e9 + int64(ns), LinkType: link, OrigLen: int(orig), Data: data})
		raw = raw[pcapRecHeader+int(incl):]
	}
	return out, nil
}

// packCodec is the correlator's one zstd encoder (used only on its goroutine, through
// EncodeAll) and the decoder its packs carry (DecodeAll, safe from any goroutine).
// Neither starts a goroutine. A nil codec (the encoder could not be made) never seals:
// packs stay raw.
type packCodec struct {
	enc     *zstd.Encoder
	dec     *zstd.Decoder
	scratch []byte // the compressed chunk before it is appended to a call's sealed bytes
}

func newPackCodec() *packCodec {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithZeroFrames(true), zstd.WithLowerEncoderMem(true), zstd.WithNoEntropyCompression(true))
	if err != nil {
		return nil
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxPackDecoded))
	if err != nil {
		enc.Close()
		return nil
	}
	return &packCodec{enc: enc, dec: dec, scratch: make([]byte, 0, packChunk)}
}

// mediaKeep holds the frames kept for one call, packed (above).
type mediaKeep struct {
	sealed []byte // concatenated zstd frames of the full chunks
	open   []byte // the raw chunk being filled
	frames int
	link   uint32 // link type of the last frame (a change starts a new file header)
}

// pack returns a view of what k holds, each slice cut at its current length.
func (k *mediaKeep) pack(pc *packCodec) MediaPack {
	p := MediaPack{Sealed: k.sealed[:len(k.sealed):len(k.sealed)], Open: k.open[:len(k.open):len(k.open)], Frames: k.frames}
	if pc != nil {
		p.dec = pc.dec
	}
	return p
}

// final returns what k holds for the Record of an ended call: the open chunk sealed
// too and the sealed bytes in one array of their exact length, so what waits for the
// store holds no raw chunk and no growth slack, and the store only copies it. k's own
// arrays are left as they were (a published view may still read them).
func (k *mediaKeep) final(pc *packCodec) MediaPack {
	if pc == nil || len(k.open) == 0 {
		return k.pack(pc)
	}
	pc.scratch = pc.enc.EncodeAll(k.open, pc.scratch[:0])
	b := make([]byte, len(k.sealed)+len(pc.scratch))
	copy(b, k.sealed)
	copy(b[len(k.sealed):], pc.scratch)
	return MediaPack{Sealed: b, Frames: k.frames, dec: pc.dec}
}

// appendFrame packs one frame (data, cut or whole, of a frame origLen bytes long on the
// wire) into k: it reports why not when a per-call cap or the retained budget says no.
func (c *Correlator) appendFrame(cl *call, k *mediaKeep, ts int64, link uint32, origLen int, data []byte) (capped, budget bool) {
	n := pcapRecHeader + len(data)
	if k.frames == 0 || link != k.link {
		n += pcapFileHeader
	}
	if k.frames >= c.cfg.MaxMediaFramesPerCall || len(k.sealed)+len(k.open)+n > c.cfg.MaxMediaBytesPerCall {
		return true, false
	}
	if len(k.open)+n > packChunk && len(k.open) > 0 && c.pack != nil {
		if !c.seal(cl, k) {
			return false, true
		}
	}
	if cap(k.open)-len(k.open) < n {
		size := max(min(max(2*cap(k.open), packFirstChunk), packChunk), len(k.open)+n)
		switch {
		case c.pack == nil: // never sealed: grow as append does
			size = max(2*cap(k.open), len(k.open)+n)
		case len(k.sealed) > 0 && len(k.open) == 0:
			size = max(packChunk, n)
		}
		if !c.retain(cl, int64(size-cap(k.open))) {
			return false, true
		}
		open := make([]byte, len(k.open), size)
		copy(open, k.open)
		k.open = open
	}
	le := binary.LittleEndian
	if k.frames == 0 || link != k.link {
		var h [pcapFileHeader]byte
		le.PutUint32(h[0:], pcapMagicNS)
		le.PutUint16(h[4:], 2)
		le.PutUint16(h[6:], 4)
		le.PutUint32(h[16:], pcapSnaplen)
		le.PutUint32(h[20:], link)
		k.open = append(k.open, h[:]...)
	}
	var h [pcapRecHeader]byte
	u := uint64(ts)
	le.PutUint32(h[0:], uint32(u/1e9))
	le.PutUint32(h[4:], uint32(u%1e9))
	le.PutUint32(h[8:], uint32(len(data)))
	le.PutUint32(h[12:], uint32(origLen))
	k.open = append(k.open, h[:]...)
	k.open = append(k.open, data...)
	k.frames++
	k.link = link
	return false, false
}

// seal compresses k's open chunk onto its sealed bytes and leaves k without an open
// chunk (the next frame starts one). The old chunk is not touched again: a published
// view may still read it. It reports false, changing nothing, when the sealed bytes
// cannot grow within the retained budget.
func (c *Correlator) seal(cl *call, k *mediaKeep) bool {
	pc := c.pack
	pc.scratch = pc.enc.EncodeAll(k.open, pc.scratch[:0])
	need := len(k.sealed) + len(pc.scratch)
	delta := -int64(cap(k.open))
	var grown []byte
	if need > cap(k.sealed) {
		// Grow by a quarter: sealed bytes only grow, so a doubling's slack would stay
		// unused for much of a call's life.
		size := max(need, len(k.sealed)+len(k.sealed)/4+len(pc.scratch)+256)
		delta += int64(size - cap(k.sealed))
		grown = make([]byte, len(k.sealed), size)
		copy(grown, k.sealed)
	}
	if delta > 0 && !c.retain(cl, delta) {
		return false
	}
	if delta <= 0 {
		c.retain(cl, delta) // a release: never refused
	}
	if grown != nil {
		k.sealed = grown
	}
	k.sealed = append(k.sealed, pc.scratch...)
	k.open = nil
	return true
}

// MediaCount is the number of media frames r holds (Pack or Media).
func (r *Record) MediaCount() int { return r.Pack.Frames + len(r.Media) }

// MediaSize is the memory r's media frames take: the packed bytes, or the frame data of
// Media.
func (r *Record) MediaSize() int64 {
	n := r.Pack.Size()
	for i := range r.Media {
		n += int64(len(r.Media[i].Data))
	}
	return n
}

// AppendMedia appends r's media frames, in arrival order, to out: Media as is, or Pack
// decoded into new memory.
func (r *Record) AppendMedia(out []Frame) ([]Frame, error) {
	out = append(out, r.Media...)
	return r.Pack.AppendFrames(out)
}
