package store

// The write-ahead log of the Writer: every finished call and registration is appended
// and fsynced here (group commit) before the writer counts it as accepted, and stays
// until the store has committed it or the spool has taken it. A SIGKILL at any moment
// then loses nothing accepted: the next NewWriter hands the WAL's segments to the spool
// (Spool.Adopt, same framing), which replays them into the store; inserts are
// idempotent by Call.ID (DuckDB deletes and rewrites the call in one transaction,
// ClickHouse's ReplacingMergeTree keeps one row per key), so an entry the store had
// already committed before the kill is rewritten, not duplicated.
//
// Layout: a directory of wal-NNNNNNNNNNNNNNNN.log segments, records framed exactly like
// the spool's (uint32 length | uint32 CRC-32C | JSON payload with the call's frames as
// one compressed segment), so a call's media frames are durable in the same fsync as its
// record. Entries get sequence numbers in append order; Done(seq) marks one committed
// elsewhere, and a segment whose entries are all done is deleted, or cut to zero when it
// is the open tail (truncation is by whole segment: no record is ever rewritten). The byte cap counts live segments; what does
// not fit is refused (ErrWALFull) and the caller spools it instead.
//
// A WAL is safe for concurrent use; the Writer appends from one goroutine (its
// committer) and marks entries done from another (its loop).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// ErrWALFull is returned by Append for the entries that would put the WAL past its cap.
var ErrWALFull = errors.New("store: write-ahead log full")

// WAL is the writer's write-ahead log (see the comment at the top of wal.go).
type WAL struct {
	dir      string
	maxBytes int64
	segBytes int64
	codec    *FrameCodec

	mu       sync.Mutex
	segs     []*walSeg // oldest first; the last one is appended to while f is open
	f        *os.File
	bytes    int64
	pending  int
	nextSeq  uint64 // sequence number of the next entry (starts at 1)
	nextFile uint64
	syncs    uint64
	closed   bool
	dirty    bool // the tail has writes not yet fsynced
}

type walSeg struct {
	path    string
	first   uint64 // seq of its first entry
	count   int
	pending int
	size    int64
}

// OpenWAL opens (creating) the WAL in dir with a cap of maxBytes (0: 1 GiB). It returns
// the paths of the segments a previous run left, oldest first: their entries were
// accepted but maybe never stored; the caller moves them into the spool (Spool.Adopt)
// before appending. The WAL itself starts empty.
func OpenWAL(dir string, maxBytes int64) (*WAL, []string, error) {
	if maxBytes <= 0 {
		maxBytes = 1 << 30
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("store: wal: %w", err)
	}
	codec, err := NewFrameCodec()
	if err != nil {
		return nil, nil, err
	}
	names, err := filepath.Glob(filepath.Join(dir, "wal-*.log"))
	if err != nil {
		return nil, nil, fmt.Errorf("store: wal: %w", err)
	}
	sort.Strings(names)
	w := &WAL{dir: dir, maxBytes: maxBytes, segBytes: max(min(maxBytes/64, 16<<20), 4096), codec: codec, nextSeq: 1}
	for _, p := range names {
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "wal-"), ".log"), 10, 64)
		if err == nil && n >= w.nextFile {
			w.nextFile = n + 1
		}
	}
	return w, names, nil
}

// Append encodes es, writes them at the tail and fsyncs once (group commit). The first
// n entries are durable under sequence numbers first, first+1, …; the rest (n < len(es))
// were refused: err is ErrWALFull when the cap was the reason, another error when the
// disk was. When segs has len(es) elements, segs[i] is set to the frame segment encoded
// for es[i] (nil without media), for the store to reuse (SegmentWriter); when raw has
// len(es) elements, raw[i] is set to the framed record written for es[i], for the spool
// to copy (Spool.AppendRaw) when the queue has no room; when refs has len(es) elements,
// refs[i] is set to where es[i]'s record lies (ReadRefs reads it back while it is not
// done).
func (w *WAL) Append(es []SpoolEntry, segs [][]byte, raw []rawRecord, refs []walRef) (first uint64, n int, err error) {
	frames := make([]rawRecord, len(es))
	for i := range es {
		if frames[i], err = encodeEntryRaw(w.codec, &es[i], nil); err != nil {
			return 0, 0, fmt.Errorf("store: wal encode: %w", err)
		}
		if len(segs) == len(es) {
			segs[i] = frames[i].seg
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, 0, ErrSpoolClosed
	}
	first = w.nextSeq
	var tail *walSeg
	if w.f != nil {
		tail = w.segs[len(w.segs)-1]
	}
	var werr error
	for i, b := range frames {
		sz := b.size()
		if w.bytes+sz > w.maxBytes {
			err = ErrWALFull
			break
		}
		if tail == nil || (tail.size > 0 && tail.size+sz > w.segBytes) {
			if tail, err = w.rotate(); err != nil {
				break
			}
		}
		if werr = b.write(w.f); werr != nil {
			werr = fmt.Errorf("store: wal write: %w", werr)
			break
		}
		if len(refs) == len(es) {
			refs[i] = walRef{path: tail.path, off: tail.size, size: int(sz), segLen: len(b.seg)}
		}
		if len(raw) == len(es) {
			raw[i] = b
		} else {
			frames[i] = rawRecord{} // written: let the GC have it while the rest is written
		}
		w.dirty = true
		tail.size += sz
		tail.count++
		tail.pending++
		w.bytes += sz
		w.pending++
		w.nextSeq++
		n++
	}
	if werr == nil && err == nil || errors.Is(err, ErrWALFull) {
		werr = w.syncTail()
	} else if werr == nil {
		werr = err // rotate failed
	}
	if werr != nil {
		// The segment's content is uncertain: close it; its entries are not acknowledged
		// (the caller spools them), a next start replays whatever reached the disk.
		w.abandonTail()
		for seq := first; seq < first+uint64(n); seq++ {
			w.doneLocked(seq) // the caller spools them: nothing to replay from here
		}
		w.dropDone()
		return first, 0, werr
	}
	if n > 0 {
		w.syncs++
	}
	return first, n, err
}

// walRef is where an appended entry's framed record lies in the WAL: its segment file,
// the record's offset and size there, and the length of the frame segment that ends it
// (0 without media).
type walRef struct {
	path   string
	off    int64
	size   int
	segLen int
}

// segment is the frame segment that ends r's record, as a file Segment (zero without
// media).
func (r walRef) segment() Segment {
	if r.path == "" || r.segLen == 0 {
		return Segment{}
	}
	return Segment{File: r.path, Off: r.off + int64(r.size-r.segLen), Len: int64(r.segLen)}
}

// ReadRefs reads back the records refs point at: out[i] is refs[i]'s bytes (nil for a
// zero ref). The writer copies a call's frame segment from the file
// instead (walRef.segment). The entries must not be done yet (their
// segment files are kept until then); a read is checked only for its length: the bytes
// were fsynced by this process, and the spool checks a record's CRC when it reads it.
func (w *WAL) ReadRefs(refs []walRef) ([][]byte, error) {
	var files SegmentFiles
	defer files.Close()
	out := make([][]byte, len(refs))
	for i, r := range refs {
		if r.path == "" || r.size == 0 {
			continue
		}
		b, err := files.Bytes(Segment{File: r.path, Off: r.off, Len: int64(r.size)})
		if err != nil {
			return nil, fmt.Errorf("store: wal read: %w", err)
		}
		out[i] = b
	}
	return out, nil
}

// rotate syncs and closes the tail and starts a new segment; the caller holds mu.
func (w *WAL) rotate() (*walSeg, error) {
	if err := w.syncTail(); err != nil {
		return nil, err
	}
	if w.f != nil {
		w.f.Close()
		w.f = nil
		w.dropDone()
	}
	sg := &walSeg{path: filepath.Join(w.dir, fmt.Sprintf("wal-%016d.log", w.nextFile)), first: w.nextSeq}
	w.nextFile++
	f, err := os.OpenFile(sg.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: wal: %w", err)
	}
	syncDir(w.dir)
	w.f = f
	w.segs = append(w.segs, sg)
	return sg, nil
}

// syncTail fsyncs what was written to the tail since the last sync; the caller holds mu.
func (w *WAL) syncTail() error {
	if !w.dirty || w.f == nil {
		return nil
	}
	w.dirty = false
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("store: wal sync: %w", err)
	}
	return nil
}

func (w *WAL) abandonTail() {
	w.dirty = false
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// Done marks the entries with these sequence numbers as committed by the store or taken
// by the spool; segments left with nothing pending are deleted.
func (w *WAL) Done(seqs ...uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, seq := range seqs {
		w.doneLocked(seq)
	}
	w.dropDone()
}

func (w *WAL) doneLocked(seq uint64) {
	// Entries are done in about append order: the segment is near the head.
	for _, sg := range w.segs {
		if seq >= sg.first && seq < sg.first+uint64(sg.count) {
			if sg.pending > 0 {
				sg.pending--
				w.pending--
			}
			return
		}
	}
}

// dropDone deletes segments without pending entries (the open tail too: the next
// Append starts a new one); the caller holds mu.
func (w *WAL) dropDone() {
	keep := w.segs[:0]
	for i, sg := range w.segs {
		isTail := w.f != nil && i == len(w.segs)-1
		if sg.pending > 0 || (isTail && w.dirty) {
			keep = append(keep, sg)
			continue
		}
		if isTail {
			// Keep the open tail (no new file and directory fsync per group when the
			// store keeps up); cut it so a crash does not replay what is done. The cut
			// needs no fsync: if it is lost, the replay is idempotent.
			if sg.size > 0 && w.f.Truncate(0) == nil {
				w.bytes -= sg.size
				sg.size, sg.count, sg.first = 0, 0, w.nextSeq
			}
			keep = append(keep, sg)
			continue
		}
		os.Remove(sg.path)
		w.bytes -= sg.size
	}
	clear(w.segs[len(keep):])
	w.segs = keep
}

// Pending is the number of entries appended and not yet done.
func (w *WAL) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending
}

// Bytes is the size of the WAL's live segments.
func (w *WAL) Bytes() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bytes
}

// Syncs is the number of group commits (fsyncs of appended entries).
func (w *WAL) Syncs() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.syncs
}

// Close closes the tail; entries not done stay on disk for the next OpenWAL.
func (w *WAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.f != nil {
		err := w.f.Close()
		w.f = nil
		return err
	}
	return nil
}
