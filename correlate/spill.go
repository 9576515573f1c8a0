package correlate

// Frame spill: with Config.FrameSpillDir set, the sealer writes each sealed chunk to an
// append-only scratch file instead of handing its bytes back, and an open call holds
// only where its chunks are (spillPiece, 24 bytes per 2 KiB chunk) and its open chunk.
// Kept frames then cost memory for the open chunk only, whatever a call's length: at
// 20,000 concurrent calls with --keep-rtp headers the sealed chunks were ~220 MiB of
// heap, and a one-hour call kept whole holds tens of MiB. When the call ends its pieces
// are read back (page cache, one pread per chunk) into the one exact-size array its
// Record carries, as before, and released; a file is removed once the sealer has moved
// past it and no call holds a piece of it. The files are scratch: a call's frames
// become durable in its Record (the store writer's WAL), never here, so they are
// neither synced nor read after a restart (serve clears the directory at start).
//
// Concurrency: the sealer goroutine creates, writes and rotates files; the correlator
// reads pieces of calls it holds and releases them. A file's refs (pieces not yet
// released, taken by the sealer when it places a piece) and rotated flag are atomics,
// and whichever side sees both refs zero and rotated removes the file (once).

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
)

// spillFile is one scratch file of sealed chunks.
type spillFile struct {
	f       *os.File
	path    string
	size    int64 // bytes placed (the sealer's)
	refs    atomic.Int64
	rotated atomic.Bool
	removed atomic.Bool
	owner   *frameSpill
}

// release drops one piece's reference.
func (f *spillFile) release() {
	if f.refs.Add(-1) == 0 && f.rotated.Load() {
		f.remove()
	}
}

func (f *spillFile) remove() {
	if f.removed.CompareAndSwap(false, true) {
		f.f.Close()
		os.Remove(f.path)
		f.owner.bytes.Add(-f.size)
		f.owner.removed.Add(1)
	}
}

// spillPiece is where one sealed chunk of a call is: in a spill file, or (f nil) at
// off in the call's in-memory sealed bytes.
type spillPiece struct {
	f   *spillFile
	off int64
	n   int32
}

// frameSpill is the sealer's side of the spill: the current file and the batch of
// chunks placed in it but not yet written.
type frameSpill struct {
	dir      string
	maxFile  int64 // a file is rotated past this size
	maxBytes int64 // cap on the bytes in files not yet removed; past it chunks stay in memory
	seq      int
	cur      *spillFile
	buf      []byte // chunks placed in cur from bufOff on, not yet written
	bufOff   int64
	bufJobs  []*sealJob
	failed   bool // a write failed: spill no more (counted in errors)

	bytes   atomic.Int64  // in files not yet removed
	written atomic.Int64  // chunk bytes written, ever
	full    atomic.Uint64 // chunks kept in memory because maxBytes was reached
	errors  atomic.Uint64 // failed creates, writes or reads
	removed atomic.Uint64 // files removed
}

const spillFileBytes = 64 << 20

func newFrameSpill(dir string, maxBytes int64) (*frameSpill, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	d, err := os.MkdirTemp(dir, "c")
	if err != nil {
		return nil, err
	}
	return &frameSpill{dir: d, maxFile: spillFileBytes, maxBytes: maxBytes}, nil
}

// place assigns j's sealed chunk (j.out) a place in the current file, rotating it when
// full, or leaves j.file nil (memory) when the cap is reached or spilling failed.
func (s *frameSpill) place(j *sealJob) {
	n := int64(len(j.out))
	if s.failed || s.bytes.Load()+n > s.maxBytes {
		if !s.failed {
			s.full.Add(1)
		}
		return
	}
	if s.cur != nil && s.cur.size+n > s.maxFile {
		s.write()
		s.rotate()
	}
	if s.cur == nil {
		s.seq++
		path := filepath.Join(s.dir, fmt.Sprintf("%06d.zst", s.seq))
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			s.errors.Add(1)
			s.failed = true
			return
		}
		s.cur = &spillFile{f: f, path: path, owner: s}
		s.bufOff = 0
	}
	j.file, j.off = s.cur, s.cur.size
	s.cur.size += n
	s.cur.refs.Add(1)
	s.bytes.Add(n)
	s.buf = append(s.buf, j.out...)
	s.bufJobs = append(s.bufJobs, j)
}

// write writes the placed chunks to the current file. On a failure the chunks go back
// to memory (their bytes are still in j.out) and spilling stops.
func (s *frameSpill) write() {
	if len(s.buf) == 0 {
		return
	}
	if _, err := s.cur.f.WriteAt(s.buf, s.bufOff); err != nil {
		s.errors.Add(1)
		s.failed = true
		for _, j := range s.bufJobs {
			j.file = nil
			s.cur.release()
		}
	} else {
		s.written.Add(int64(len(s.buf)))
	}
	s.bufOff += int64(len(s.buf))
	s.buf = s.buf[:0]
	clear(s.bufJobs)
	s.bufJobs = s.bufJobs[:0]
}

// rotate closes the current file to new pieces.
func (s *frameSpill) rotate() {
	f := s.cur
	s.cur = nil
	f.rotated.Store(true)
	if f.refs.Load() == 0 {
		f.remove()
	}
}

// close rotates the current file (removed once its pieces are released) and removes
// the directory when it is empty; called when the Correlator finishes.
func (s *frameSpill) close() {
	if s.cur != nil {
		s.rotate()
	}
	os.Remove(s.dir) // fails while a file is still held: that file goes with its last piece
}

// readPieces appends the call's sealed chunks, in order, to dst: from the spill files
// or from mem (the call's in-memory sealed bytes).
func readPieces(dst []byte, pieces []spillPiece, mem []byte) ([]byte, error) {
	for _, p := range pieces {
		if p.f == nil {
			dst = append(dst, mem[p.off:p.off+int64(p.n)]...)
			continue
		}
		n := len(dst)
		dst = append(dst, make([]byte, p.n)...)
		if _, err := p.f.f.ReadAt(dst[n:], p.off); err != nil {
			return dst[:n], err
		}
	}
	return dst, nil
}
