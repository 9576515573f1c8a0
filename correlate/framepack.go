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
// most packChunk bytes. The open chunk is raw; a full one is sealed (framecodec.go:
// delta-coded against the chunk's earlier records, or zstd where that does not shrink
// it) and appended to the call's sealed bytes, and a new open chunk is started.
// Sealing runs off the correlator's goroutine (packSealer, below): the full chunk
// waits as the call's pending chunk until the sealer's result is applied, by the
// correlator, which remains the only writer of a call's pack. A segment is a
// concatenation of sealed chunks, so a call's segment is its sealed bytes followed by
// its open chunk sealed: the store writes it without expanding a frame.
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
	"os"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
)

const (
	pcapMagicNS    = 0xa1b23c4d
	pcapFileHeader = 24
	pcapRecHeader  = 16
	pcapSnaplen    = 262144
	// packChunk is the size at which an open chunk is sealed. Every open call holds one
	// raw chunk, so a small one keeps memory per call low; the delta coding's ratio
	// hardly depends on it (each chunk starts with one literal record per stream; with
	// zstd, which sealed chunks before it, 2 KiB gave 2.6:1 and 8 KiB 4:1). 2 KiB gave
	// the least memory per kept frame (BenchmarkMemoryKeptFrames; docs/architecture.md,
	// "Media frames").
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
// sealed chunks (framecodec.go), Open the raw pcap stream that follows them; together they
// decompress to the call's segment stream. A MediaPack in a Record is immutable and
// safe to read from any goroutine.
type MediaPack struct {
	Sealed []byte
	Open   []byte
	Frames int // frames in the stream
	dec    *zstd.Decoder
	// pieces, in a live view of a call whose chunks are spilled (spill.go): the sealed
	// chunks in order, in spill files or (no file) in Sealed; read by AppendFrames. A
	// Record of an ended call never has pieces.
	pieces []spillPiece
	// file, in a record whose frames were handed to a store (FileMediaPack): where the
	// whole compressed segment lies; read when the pack is decoded.
	file *packFile
}

// packFile is where a pack's compressed segment lies in a file.
type packFile struct {
	path   string
	off, n int64
}

// FileMediaPack is the pack of frames frames whose compressed segment (the store's
// segment format, above) is the n bytes at off in the file at path: it holds no frame
// bytes in memory (Size 0) and reads them when decoded. The store writer gives the
// dashboard's copy of a waiting call this pack once its frames are durable in the
// write-ahead log, so the call's frames are not held twice. The file must stay until
// the pack is no longer read; decoding a pack whose file went is ErrBadFrameStream.
func FileMediaPack(frames int, path string, off, n int64) MediaPack {
	if frames == 0 || n <= 0 {
		return MediaPack{}
	}
	return MediaPack{Frames: frames, file: &packFile{path: path, off: off, n: n}}
}

// fileDecoder decodes file-backed packs (FileMediaPack): one zstd decoder for all, made
// on first use (DecodeAll is safe for concurrent use).
var fileDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxPackDecoded))
})

// read reads a file-backed pack's compressed segment.
func (f *packFile) read() ([]byte, error) {
	if f.n > maxPackDecoded {
		return nil, fmt.Errorf("%w: segment of %d bytes in %s", ErrBadFrameStream, f.n, f.path)
	}
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFrameStream, err)
	}
	defer fh.Close()
	b := make([]byte, f.n)
	if _, err := fh.ReadAt(b, f.off); err != nil {
		return nil, fmt.Errorf("%w: %s at %d: %w", ErrBadFrameStream, f.path, f.off, err)
	}
	return b, nil
}

// Size is the memory the pack's bytes take (what the caps and budgets count).
func (p *MediaPack) Size() int64 { return int64(len(p.Sealed) + len(p.Open)) }

// AppendFrames decodes the pack and appends its frames to out. The frames' Data share
// one new backing array.
func (p *MediaPack) AppendFrames(out []Frame) ([]Frame, error) {
	if p.Frames == 0 {
		return out, nil
	}
	raw, sealed, dec := p.Open, p.Sealed, p.dec
	if p.file != nil {
		var err error
		if sealed, err = p.file.read(); err != nil {
			return out, err
		}
		if dec, err = fileDecoder(); err != nil {
			return out, fmt.Errorf("%w: %w", ErrBadFrameStream, err)
		}
	}
	if len(p.pieces) > 0 {
		var err error
		if sealed, err = readPieces(nil, p.pieces, p.Sealed); err != nil {
			// The call ended and its spill file went since the view was taken: its
			// frames are in its record now.
			return out, fmt.Errorf("%w: spilled chunks: %w", ErrBadFrameStream, err)
		}
	}
	if len(sealed) > 0 {
		b, err := OpenSegment(make([]byte, 0, 4*len(sealed)+len(p.Open)), sealed, dec, maxPackDecoded)
		if err != nil {
			return out, err
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

// packCodec is the correlator's one zstd encoder (for the chunks the delta coding does
// not shrink; EncodeAll, safe from any goroutine) and the decoder its packs carry
// (DecodeAll, the same). Neither starts a goroutine. A nil codec (the encoder could not
// be made) never seals: packs stay raw.
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
	sealed  []byte       // the sealed chunks of the full chunks
	pending []byte       // a full raw chunk the sealer is compressing; it follows sealed
	open    []byte       // the raw chunk being filled
	pieces  []spillPiece // with a frame spill (spill.go): every sealed chunk in order
	spilled int          // bytes of the pieces in spill files
	frames  int
	link    uint32 // link type of the last frame (a change starts a new file header)
}

// packView returns a view of what k holds, each slice cut at its current length. A pending
// chunk is copied in front of the open one (a call has it for a moment per 2 KiB);
// spilled chunks are read when the view is decoded (AppendFrames).
func (c *Correlator) packView(k *mediaKeep) MediaPack {
	p := MediaPack{Sealed: k.sealed[:len(k.sealed):len(k.sealed)], Open: k.open[:len(k.open):len(k.open)], Frames: k.frames}
	if len(k.pieces) > 0 {
		// Read only if the view is decoded: the live pages publish views of every
		// active call each second. The pieces array is only appended to.
		p.pieces = k.pieces[:len(k.pieces):len(k.pieces)]
	}
	if len(k.pending) > 0 {
		p.Open = append(append(make([]byte, 0, len(k.pending)+len(k.open)), k.pending...), k.open...)
	}
	if c.pack != nil {
		p.dec = c.pack.dec
	}
	return p
}

// final returns what k holds for the Record of an ended call: the open chunk sealed
// too and the sealed bytes (read back from the spill, whose pieces it releases) in one
// array of their exact length, so what waits for the store holds no raw chunk and no
// growth slack, and the store only copies it. k's own arrays are left as they were (a
// published view may still read them). A spilled chunk that cannot be read back loses
// the call's frames (counted), never the call. The caller (emit) has settled k: no
// chunk is pending.
func (c *Correlator) final(k *mediaKeep) MediaPack {
	pc := c.pack
	if len(k.pieces) > 0 { // pieces exist only with a sealer, so pc is set
		defer releasePieces(k)
		pc.scratch = pc.scratch[:0]
		if len(k.open) > 0 {
			pc.scratch = SealChunk(pc.scratch, k.open, pc.enc)
		}
		b, err := readPieces(make([]byte, 0, len(k.sealed)+k.spilled+len(pc.scratch)), k.pieces, k.sealed)
		if err != nil {
			c.spillReadFailed()
			return MediaPack{dec: pc.dec}
		}
		return MediaPack{Sealed: append(b, pc.scratch...), Frames: k.frames, dec: pc.dec}
	}
	if pc == nil || len(k.open) == 0 {
		return c.packView(k)
	}
	pc.scratch = SealChunk(pc.scratch[:0], k.open, pc.enc)
	b := make([]byte, len(k.sealed)+len(pc.scratch))
	copy(b, k.sealed)
	copy(b[len(k.sealed):], pc.scratch)
	return MediaPack{Sealed: b, Frames: k.frames, dec: pc.dec}
}

// releasePieces lets go of k's spilled chunks.
func releasePieces(k *mediaKeep) {
	for i := range k.pieces {
		if f := k.pieces[i].f; f != nil {
			f.release()
		}
	}
	k.pieces, k.spilled = nil, 0
}

func (c *Correlator) spillReadFailed() {
	if c.sealer != nil && c.sealer.spill != nil {
		c.sealer.spill.errors.Add(1)
	}
}

// appendFrame packs one frame (data, cut or whole, of a frame origLen bytes long on the
// wire) into k: it reports why not when a per-call cap or the retained budget says no.
func (c *Correlator) appendFrame(cl *call, k *mediaKeep, ts int64, link uint32, origLen int, data []byte) (capped, budget bool) {
	n := pcapRecHeader + len(data)
	if k.frames == 0 || link != k.link {
		n += pcapFileHeader
	}
	if k.frames >= c.cfg.MaxMediaFramesPerCall || len(k.sealed)+k.spilled+len(k.pending)+len(k.open)+n > c.cfg.MaxMediaBytesPerCall {
		return true, false
	}
	if len(k.open)+n > packChunk && len(k.open) > 0 && c.pack != nil {
		if !c.sealAsync(cl, k) {
			return false, true
		}
	}
	if cap(k.open)-len(k.open) < n {
		size := max(min(max(2*cap(k.open), packFirstChunk), packChunk), len(k.open)+n)
		switch {
		case c.pack == nil: // never sealed: grow as append does
			size = max(2*cap(k.open), len(k.open)+n)
		case len(k.open) == 0 && k.frames > 0:
			// A chunk was sealed (or is pending, or spilled): the call is long enough for
			// a whole one. (Testing the sealed bytes only, as before, started every chunk
			// of a spilling call at 512 B and grew it twice.)
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

// seal compresses k's open chunk onto its sealed bytes on the correlator's goroutine and
// leaves k without an open chunk (the next frame starts one): the fallback when the
// sealer cannot take the chunk. It reports false, changing nothing, when the sealed
// bytes cannot grow within the retained budget.
func (c *Correlator) seal(cl *call, k *mediaKeep) bool {
	pc := c.pack
	pc.scratch = SealChunk(pc.scratch[:0], k.open, pc.enc)
	if !c.appendSealed(cl, k, nil, 0, pc.scratch, cap(k.open), true) {
		return false
	}
	k.open = nil
	return true
}

// appendSealed adds the compressed chunk z to k: as a piece of spill file f at off, or
// (f nil) appended to its sealed bytes; and releases the raw chunk's rawCap bytes. With
// refusable, growth past the retained budget is refused (false, nothing changed); a
// sealer's result is always applied (its frames are already kept), going past the
// budget by at most the growth slack.
func (c *Correlator) appendSealed(cl *call, k *mediaKeep, f *spillFile, off int64, z []byte, rawCap int, refusable bool) bool {
	delta := -int64(rawCap)
	spill := c.sealer != nil && c.sealer.spill != nil
	if spill && len(k.pieces) == cap(k.pieces) {
		delta += int64(max(4, cap(k.pieces))) * int64(unsafeSizeofPiece)
	}
	var grown []byte
	if f == nil {
		need := len(k.sealed) + len(z)
		if need > cap(k.sealed) {
			// Grow by a quarter: sealed bytes only grow, so a doubling's slack would stay
			// unused for much of a call's life.
			size := max(need, len(k.sealed)+len(k.sealed)/4+len(z)+256)
			delta += int64(size - cap(k.sealed))
			grown = make([]byte, len(k.sealed), size)
			copy(grown, k.sealed)
		}
	}
	if refusable && delta > 0 {
		if !c.retain(cl, delta) {
			return false
		}
	} else {
		c.charge(cl, delta) // a release, or a sealer's result: never refused
	}
	if f != nil {
		k.pieces = append(k.pieces, spillPiece{f: f, off: off, n: int32(len(z))})
		k.spilled += len(z)
		return true
	}
	if grown != nil {
		k.sealed = grown
	}
	if spill {
		k.pieces = append(k.pieces, spillPiece{off: int64(len(k.sealed)), n: int32(len(z))})
	}
	k.sealed = append(k.sealed, z...)
	return true
}

const unsafeSizeofPiece = 24 // spillPiece: a pointer, an int64, an int32 (padded)

// sealAsync hands k's full open chunk to the sealer and leaves k without an open chunk.
// A call has at most one chunk pending: a second full chunk first waits for the
// first's result. Without a sealer it seals in place.
func (c *Correlator) sealAsync(cl *call, k *mediaKeep) bool {
	ps := c.sealer
	if ps == nil {
		return c.seal(cl, k)
	}
	c.applySealed(false)
	if len(k.pending) > 0 {
		c.settle(k)
	}
	j := ps.job()
	if j == nil {
		c.applySealed(true) // every job is in flight: take the oldest result first
		j = ps.job()
	}
	j.cl, j.k, j.raw = cl, k, k.open
	k.pending, k.open = k.open, nil
	ps.submit(j)
	return true
}

// settle waits until k has no pending chunk, applying the sealer's results in order.
func (c *Correlator) settle(k *mediaKeep) {
	for len(k.pending) > 0 {
		c.applySealed(true)
	}
}

// applySealed applies the sealer's finished results: all that are ready, or with wait
// at least one (blocking until the oldest is done).
func (c *Correlator) applySealed(wait bool) {
	ps := c.sealer
	if ps == nil || ps.inflight == 0 {
		return
	}
	if wait {
		ps.flush() // the result waited for may not have been sent yet
	}
	for {
		var j *sealJob
		if wait {
			j = <-ps.results
			wait = false
		} else {
			select {
			case j = <-ps.results:
			default:
				return
			}
		}
		ps.inflight--
		k := j.k
		c.appendSealed(j.cl, k, j.file, j.off, j.out, cap(j.raw), false)
		k.pending = nil
		j.cl, j.k, j.raw, j.file = nil, nil, nil, nil
		ps.free = append(ps.free, j)
		if ps.inflight == 0 {
			return
		}
	}
}

// packSealer seals full chunks on its own goroutine so that sealing (zstd was about a
// sixth of serve's CPU with --keep-rtp headers, all of it on the correlator's
// goroutine) runs beside correlation. Jobs and results are two channels of sealJobs (one sealer:
// results come back in submission order); a fixed pool of sealJobs, owned by the
// correlator while not in flight, bounds what is in flight (sealJobs chunks) and the
// memory of their results. The goroutine runs only while there is work: it exits when
// the job channel is empty and is started again by the next submit, so a Correlator
// that is dropped leaves no goroutine behind.
type packSealer struct {
	jobs, results chan *sealJob
	free          []*sealJob // jobs not in flight (the correlator's)
	queued        []*sealJob // submitted, not yet sent (the correlator's)
	inflight      int        // submitted and not yet applied
	running       atomic.Bool
	enc           *packCodec  // the sealer goroutine's own encoder
	spill         *frameSpill // nil: sealed chunks come back to memory
	batch         []*sealJob  // the running goroutine's
}

type sealJob struct {
	cl   *call
	k    *mediaKeep
	raw  []byte     // the chunk (the call's pending chunk, not written while in flight)
	out  []byte     // its sealed chunk, written by the sealer
	file *spillFile // where the sealer wrote out (nil: it stays in memory)
	off  int64
}

const (
	sealJobs  = 64
	sealBatch = 16
)

func newPackSealer(spill *frameSpill) *packSealer {
	enc := newPackCodec()
	if enc == nil {
		return nil
	}
	ps := &packSealer{jobs: make(chan *sealJob, sealJobs), results: make(chan *sealJob, sealJobs), enc: enc, spill: spill,
		batch: make([]*sealJob, 0, sealBatch)}
	for range sealJobs {
		ps.free = append(ps.free, &sealJob{out: make([]byte, 0, packChunk)})
	}
	return ps
}

// job takes a free job from the pool, or nil when all are in flight.
func (ps *packSealer) job() *sealJob {
	n := len(ps.free)
	if n == 0 {
		return nil
	}
	j := ps.free[n-1]
	ps.free = ps.free[:n-1]
	return j
}

// submit queues j; jobs go to the sealer sealBatch at a time, because handing over
// each chunk alone woke the idle sealer (a futex call on the correlator's thread) for
// every 12 µs of work.
func (ps *packSealer) submit(j *sealJob) {
	ps.inflight++
	ps.queued = append(ps.queued, j)
	if len(ps.queued) >= sealBatch {
		ps.flush()
	}
}

// flush sends the queued jobs (never blocks: the channel holds the whole pool) and
// makes sure a sealer goroutine runs.
func (ps *packSealer) flush() {
	if len(ps.queued) == 0 {
		return
	}
	for i, j := range ps.queued {
		ps.jobs <- j
		ps.queued[i] = nil
	}
	ps.queued = ps.queued[:0]
	if ps.running.CompareAndSwap(false, true) {
		go ps.loop()
	}
}

// loop seals jobs until the channel is empty, up to sealBatch at a time: with a spill,
// a batch's chunks are written in one write before their results go back (so a result
// the correlator has names bytes already in the file). Before exiting it clears running
// and looks again: a job sent after that look starts a new goroutine (flush's CAS
// succeeds), and one sent before it is seen here (so whichever CAS wins, exactly one
// goroutine runs).
func (ps *packSealer) loop() {
	for {
		b := ps.batch[:0]
	take:
		for len(b) < sealBatch {
			select {
			case j := <-ps.jobs:
				b = append(b, j)
			default:
				break take
			}
		}
		if len(b) == 0 {
			ps.running.Store(false)
			if len(ps.jobs) == 0 || !ps.running.CompareAndSwap(false, true) {
				return
			}
			continue
		}
		for _, j := range b {
			j.out = SealChunk(j.out[:0], j.raw, ps.enc.enc)
			if ps.spill != nil {
				ps.spill.place(j)
			}
		}
		if ps.spill != nil {
			ps.spill.write()
		}
		for i, j := range b {
			ps.results <- j
			b[i] = nil
		}
	}
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
