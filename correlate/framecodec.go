package correlate

// The frame codec: how a chunk of a frame stream (framepack.go) is sealed, and how a
// segment of sealed chunks is opened again. It is written here, not taken from a
// library, because it is on the hot path of --keep-rtp and because the bytes it codes
// are known: a headers-mode record (16 B of pcap header and ~54 B of Ethernet, IPv4, UDP
// and RTP header) differs from the same stream's previous record in a dozen bytes (the
// timestamp, IP identification and checksum, UDP checksum, RTP sequence number and
// timestamp). zstd's fastest level, which sealed chunks before, finds those repeats by
// hashing every position; this codec compares each record with one of the chunk's
// last few records of the same length, word by word, and keeps only the bytes that
// differ. On 2 KiB chunks of a 500-call capture's headers it gave 3.2:1 at ~3x zstd's
// speed, against zstd's 3.0:1 (BENCHMARKS.md, "Frame chunks sealed by delta coding").
// Chunks it does not shrink well (payload frames: --keep-rtp full) are sealed by zstd.
//
// A segment is a concatenation of chunks, so the sealed chunks of a call followed by
// its last chunk sealed are its segment, and any prefix of whole chunks decodes alone.
// A chunk is:
//
//	"CSF" kind   4 bytes: kind 'D' (delta items) or 'Z' (one zstd frame, RFC 8878)
//	uvarint      the chunk's decoded length
//	uvarint      the body's length
//	body
//
// A 'D' body is a sequence of items, each a run of the decoded bytes:
//
//	0xff uvarint(n) n bytes        a literal
//	r uvarint(wm) ...              r in 0..3: the item r+1 items back in this chunk,
//	                               with the bytes of the words (8-byte groups) set in
//	                               wm replaced: per set bit, in order, a non-zero byte
//	                               mask and, per set mask bit, in order, the byte at
//	                               that place. The item has the reference's length, at
//	                               most deltaMaxLen.
//
// A segment that starts with zstd's magic is one written before this codec (concatenated
// zstd frames of the same stream) and is decoded as such. Decoding is total: any input
// either decodes or is ErrBadFrameStream, and never produces more than its limit.

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/klauspost/compress/zstd"
)

const (
	chunkMagic   = "CSF"
	chunkDelta   = 'D'
	chunkZstd    = 'Z'
	itemLiteral  = 0xff
	deltaRefs    = 4   // how many earlier items a delta item may name
	deltaMaxLen  = 512 // the longest item coded against another (64 words: one uint64 mask)
	deltaMaxWord = deltaMaxLen / 8
	// deltaPayload is the mean item length above which a chunk holds payload: a
	// headers-mode record is 16 B of pcap header and 54-110 B of headers (Ethernet,
	// VLAN tags, IPv4 or IPv6, UDP, RTP with CSRCs or an extension).
	deltaPayload = 160
)

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// SealChunk appends raw, a piece of a frame stream, sealed as one chunk to dst. The
// delta coding is used for chunks of headers; a chunk of frames with their payload
// (payloadChunk), or one the delta coding does not bring under 40 % of its size, is
// compressed by enc (zstd) instead, or, enc nil, kept as the
// delta coding left it. enc is used only through EncodeAll (safe for concurrent use).
func SealChunk(dst, raw []byte, enc *zstd.Encoder) []byte {
	if len(raw) == 0 {
		return dst
	}
	start := len(dst)
	var hdr [4 + binary.MaxVarintLen64]byte
	copy(hdr[:], chunkMagic)
	hdr[3] = chunkDelta
	n := 4 + binary.PutUvarint(hdr[4:], uint64(len(raw)))
	dst = append(dst, hdr[:n]...)
	// The body's length is not known yet: reserve its uvarint at the size of a bound
	// (a literal adds at most 1/8 to an item of 16 bytes or more, a delta item is
	// chosen only with a word equal, so at most 9/8 of its item plus 11).
	lenAt, lenSize := len(dst), uvarintLen(2*uint64(len(raw))+64)
	dst = append(dst, make([]byte, lenSize)...)
	bodyAt := len(dst)
	limit, ok := -1, false
	if enc != nil {
		limit = 2 * len(raw) / 5
	}
	if enc == nil || !payloadChunk(raw) {
		dst, ok = appendDelta(dst, raw, limit)
	}
	if !ok {
		// zstd straight into dst, its length reserved at the size of zstd's bound for
		// incompressible input.
		dst = dst[:start]
		hdr[3] = chunkZstd
		dst = append(dst, hdr[:n]...)
		lenAt, lenSize = len(dst), uvarintLen(uint64(len(raw))+uint64(len(raw))/64+1024)
		dst = append(dst, make([]byte, lenSize)...)
		bodyAt = len(dst)
		dst = enc.EncodeAll(raw, dst)
	}
	body := len(dst) - bodyAt
	if uvarintLen(uint64(body)) > lenSize { // never, by the bounds; kept total
		b := append([]byte(nil), dst[bodyAt:]...)
		return append(binary.AppendUvarint(dst[:lenAt], uint64(body)), b...)
	}
	putUvarintPadded(dst[lenAt:lenAt+lenSize], uint64(body))
	return dst
}

// payloadChunk reports whether raw's items are on average longer than deltaPayload
// bytes: frames with their payload (--keep-rtp full), which go to zstd straight away.
// The delta coding compares bytes at the same place only, where zstd also finds audio
// that repeats at other offsets (a generated tone: 3.9:1 delta-coded, half the size of
// zstd's).
func payloadChunk(raw []byte) bool {
	items := 0
	for p := 0; p < len(raw); items++ {
		p += itemLen(raw[p:])
	}
	return len(raw) > deltaPayload*items
}

// uvarintLen is the length of v's uvarint.
func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// putUvarintPadded writes v as a uvarint of exactly len(b) bytes (continuation bits on
// leading zero groups: a uvarint decoder reads the same value). v must fit.
func putUvarintPadded(b []byte, v uint64) {
	for i := range b {
		c := byte(v & 0x7f)
		v >>= 7
		if i < len(b)-1 {
			c |= 0x80
		}
		b[i] = c
	}
}

// appendDelta appends the delta items of raw to dst. With limit >= 0 it gives up
// (false) once the items grow past limit bytes plus a little slack for the first items.
func appendDelta(dst, raw []byte, limit int) ([]byte, bool) {
	// The last 2*deltaRefs items: their place, length and words (the current item's
	// slot never holds a candidate).
	var refs [2 * deltaRefs]struct{ n int }
	var words [2 * deltaRefs][deltaMaxWord]uint64
	start := len(dst)
	items := 0
	for p := 0; p < len(raw); {
		l := itemLen(raw[p:])
		slot := items & (2*deltaRefs - 1)
		refs[slot].n = l
		best, back := -1, 0
		if l <= deltaMaxLen {
			nw := (l + 7) / 8
			cur := &words[slot]
			for w := 0; w < nw; w++ {
				cur[w] = loadWord(raw, p+8*w)
			}
			if r := l & 7; r != 0 {
				cur[nw-1] &= 1<<(8*r) - 1
			}
			// The candidate with the fewest differing words; the first within about
			// half of them wins (in practice the same stream's previous packet).
			bestd := nw
			for i := 1; i <= deltaRefs && i <= items; i++ {
				s := (items - i) & (2*deltaRefs - 1)
				if refs[s].n != l {
					continue
				}
				rw := &words[s]
				d := 0
				for w := 0; w < nw && d < bestd; w++ {
					if rw[w] != cur[w] {
						d++
					}
				}
				if d < bestd {
					best, bestd, back = s, d, i-1
					if 2*d <= nw+1 {
						break
					}
				}
			}
			if best >= 0 {
				dst = appendDeltaItem(dst, byte(back), &words[best], cur, nw)
			}
		}
		if best < 0 {
			dst = append(dst, itemLiteral)
			dst = binary.AppendUvarint(dst, uint64(l))
			dst = append(dst, raw[p:p+l]...)
		}
		items++
		p += l
		if limit >= 0 && len(dst)-start > 2*p/5+3*72 {
			return dst, false // payload bytes: this will not get under the limit
		}
	}
	if limit >= 0 && len(dst)-start > limit {
		return dst, false
	}
	return dst, true
}

// appendDeltaItem appends the delta item of cur against ref (nw words), naming the
// reference back items back.
func appendDeltaItem(dst []byte, back byte, ref, cur *[deltaMaxWord]uint64, nw int) []byte {
	var wm uint64
	for w := 0; w < nw; w++ {
		if ref[w] != cur[w] {
			wm |= 1 << w
		}
	}
	dst = append(dst, back)
	dst = binary.AppendUvarint(dst, wm)
	need := 9 * bits.OnesCount64(wm)
	if cap(dst)-len(dst) < need {
		dst = append(dst[:len(dst):len(dst)], make([]byte, need)...)[:len(dst)]
	}
	o := len(dst)
	out := dst[:cap(dst)]
	for m := wm; m != 0; m &= m - 1 {
		w := bits.TrailingZeros64(m)
		v := cur[w]
		bm := nonZeroBytes(ref[w] ^ v)
		out[o] = bm
		o++
		for b := bm; b != 0; b &= b - 1 {
			out[o] = byte(v >> (8 * bits.TrailingZeros8(b)))
			o++
		}
	}
	return out[:o]
}

// itemLen is the length of the item at the start of b (a frame stream from a record or
// file header on): a file header where the pcap magic is (always at the stream's
// start), else a record with its data, else, for bytes that do not parse, all of b.
func itemLen(b []byte) int {
	if len(b) >= pcapFileHeader && binary.LittleEndian.Uint32(b) == pcapMagicNS {
		return pcapFileHeader
	}
	if len(b) < pcapRecHeader {
		return len(b)
	}
	n := pcapRecHeader + int(binary.LittleEndian.Uint32(b[8:]))
	if n > len(b) || n < pcapRecHeader {
		return len(b)
	}
	return n
}

// loadWord reads the little-endian word at b[i:], zero beyond b's end.
func loadWord(b []byte, i int) uint64 {
	if i+8 <= len(b) {
		return binary.LittleEndian.Uint64(b[i:])
	}
	var t [8]byte
	copy(t[:], b[i:])
	return binary.LittleEndian.Uint64(t[:])
}

// nonZeroBytes is the mask of x's non-zero bytes (bit i: byte i, little-endian).
func nonZeroBytes(x uint64) byte {
	const lo7, hi = 0x7f7f7f7f7f7f7f7f, 0x8080808080808080
	y := ((x & lo7) + lo7 | x) & hi                    // the top bit of each non-zero byte
	return byte(((y >> 7) * 0x0102040810204080) >> 56) // gathered into one byte
}

// OpenSegment appends the frame stream of the segment seg (chunks sealed by SealChunk,
// or a segment of zstd frames written before them) to dst. dec (nil: a segment that
// needs it is an error) decodes zstd; limit bounds what the segment may decode to.
func OpenSegment(dst, seg []byte, dec *zstd.Decoder, limit int) ([]byte, error) {
	if len(seg) >= 4 && string(seg[:4]) == string(zstdMagic) {
		if dec == nil {
			return dst, fmt.Errorf("%w: no zstd decoder", ErrBadFrameStream)
		}
		out, err := dec.DecodeAll(seg, dst)
		if err != nil {
			return dst, fmt.Errorf("%w: %w", ErrBadFrameStream, err)
		}
		return out, nil
	}
	// Size the output once from the chunk headers.
	total, err := walkChunks(seg, limit, nil)
	if err != nil {
		return dst, err
	}
	if cap(dst)-len(dst) < total {
		dst = append(make([]byte, 0, len(dst)+total), dst...)
	}
	_, err = walkChunks(seg, limit, func(kind byte, rawLen int, body []byte) error {
		before := len(dst)
		var err error
		switch kind {
		case chunkDelta:
			dst, err = openDelta(dst, body, rawLen)
		default: // chunkZstd
			if dec == nil {
				return fmt.Errorf("%w: no zstd decoder", ErrBadFrameStream)
			}
			if dst, err = dec.DecodeAll(body, dst); err != nil {
				err = fmt.Errorf("%w: %w", ErrBadFrameStream, err)
			}
		}
		if err == nil && len(dst)-before != rawLen {
			err = fmt.Errorf("%w: chunk of %d bytes decodes to %d", ErrBadFrameStream, rawLen, len(dst)-before)
		}
		return err
	})
	return dst, err
}

// walkChunks checks seg's chunk headers, calls f (if not nil) with each chunk, and
// returns the decoded length of them all.
func walkChunks(seg []byte, limit int, f func(kind byte, rawLen int, body []byte) error) (int, error) {
	total := 0
	for off := 0; off < len(seg); {
		b := seg[off:]
		if len(b) < 4 || string(b[:3]) != chunkMagic || (b[3] != chunkDelta && b[3] != chunkZstd) {
			return total, fmt.Errorf("%w: no chunk at offset %d", ErrBadFrameStream, off)
		}
		rawLen, n1 := binary.Uvarint(b[4:])
		if n1 <= 0 {
			return total, fmt.Errorf("%w: chunk length at offset %d", ErrBadFrameStream, off)
		}
		bodyLen, n2 := binary.Uvarint(b[4+n1:])
		if n2 <= 0 {
			return total, fmt.Errorf("%w: chunk body length at offset %d", ErrBadFrameStream, off)
		}
		h := 4 + n1 + n2
		if rawLen > uint64(limit-total) || bodyLen > uint64(len(b)-h) {
			return total, fmt.Errorf("%w: chunk at offset %d: %d bytes from %d (limit %d, %d left)",
				ErrBadFrameStream, off, rawLen, bodyLen, limit-total, len(b)-h)
		}
		if f != nil {
			if err := f(b[3], int(rawLen), b[h:h+int(bodyLen)]); err != nil {
				return total, err
			}
		}
		total += int(rawLen)
		off += h + int(bodyLen)
	}
	return total, nil
}

// openDelta appends the items of a 'D' body to dst; they must come to rawLen bytes.
func openDelta(dst, body []byte, rawLen int) ([]byte, error) {
	base := len(dst)
	var refs [deltaRefs]struct{ off, n int } // the last items, most recent at items-1
	items := 0
	bad := func(what string, at int) ([]byte, error) {
		return dst, fmt.Errorf("%w: %s at body offset %d", ErrBadFrameStream, what, at)
	}
	for p := 0; p < len(body); {
		at := p
		tag := body[p]
		p++
		off := len(dst)
		var n int
		switch {
		case tag == itemLiteral:
			v, k := binary.Uvarint(body[p:])
			if k <= 0 || v == 0 || v > uint64(len(body)-p-k) || v > uint64(rawLen-(len(dst)-base)) {
				return bad("literal", at)
			}
			p += k
			n = int(v)
			dst = append(dst, body[p:p+n]...)
			p += n
		case int(tag) < deltaRefs && int(tag) < items:
			ref := refs[(items-1-int(tag))%deltaRefs]
			n = ref.n
			if n > deltaMaxLen || n > rawLen-(len(dst)-base) {
				return bad("delta item", at)
			}
			wm, k := binary.Uvarint(body[p:])
			nw := (n + 7) / 8
			if k <= 0 || (nw < 64 && wm>>nw != 0) {
				return bad("word mask", at)
			}
			p += k
			dst = append(dst, dst[ref.off:ref.off+n]...)
			item := dst[off:]
			for m := wm; m != 0; m &= m - 1 {
				w := bits.TrailingZeros64(m)
				if p >= len(body) || body[p] == 0 {
					return bad("byte mask", p)
				}
				bm := body[p]
				p++
				if bits.OnesCount8(bm) > len(body)-p {
					return bad("bytes", p)
				}
				for b := bm; b != 0; b &= b - 1 {
					i := 8*w + bits.TrailingZeros8(b)
					if i >= n {
						return bad("byte past the item", p)
					}
					item[i] = body[p]
					p++
				}
			}
		default:
			return bad(fmt.Sprintf("item tag %#x", tag), at)
		}
		refs[items%deltaRefs] = struct{ off, n int }{off, n}
		items++
	}
	return dst, nil
}
