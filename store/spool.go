package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/callscope/callscope/correlate"
)

// SpoolEntry is one spooled item: a finished call or a registration.
type SpoolEntry struct {
	Rec *correlate.Record
	Reg *correlate.Registration
	// seg is Rec's frame segment as read from the spool when the spool keeps segments
	// (KeepSegments): Rec then holds only the frame count (Pack.Frames).
	seg []byte
}

// Spool is an append-only, bounded queue of entries on local disk, used while the store
// is unreachable or slow. It is a directory of segment files named spool-NNNNNNNNNNNNNNNN.log;
// each holds records framed as
//
//	uint32 length (big endian) | uint32 CRC-32C of the payload | payload
//
// The payload is the JSON of the entry plus every correlate.Time in it as exact
// nanoseconds (the JSON form of a Time carries only µs). The bytes of a call are not in
// the JSON but after it, raw, behind a NUL byte (JSON never holds one): first its SIP
// messages' frames and texts as the JSON field "mb" lays them out (a text that is its
// frame's tail is stored once), then its media frames as one compressed frame segment
// (frames.go). Records of older builds carried the segment base64-encoded in the JSON
// field "seg", or the message bytes base64 in the messages; they still decode (an older
// build counts a newer record with messages as corrupt).
//
// Append returns once the records are written and fsynced ("acknowledged as spooled").
// Entries are read back oldest first (Peek) and removed (Commit) only after the store
// accepted them, so a crash between the two replays some entries twice, which idempotent
// inserts absorb. Opening a spool scans every segment, keeps every intact record and
// truncates a torn tail. When the spool would exceed MaxBytes the oldest segments are
// removed and their entries counted as evicted. A Spool is safe for concurrent use.
type Spool struct {
	dir      string
	maxBytes int64
	segBytes int64
	codec    *FrameCodec // never closed: Append may encode while Close runs; the GC frees it
	keepSegs atomic.Bool // KeepSegments

	mu      sync.Mutex
	segs    []*segment // oldest first; the last one is appended to
	f       *os.File   // the open tail segment
	bytes   int64
	entries int
	evicted uint64
	corrupt uint64
	nextSeq uint64
	// read position inside segs[0]
	readOff int64
	readN   int
}

type segment struct {
	seq   uint64
	path  string
	size  int64
	count int
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrSpoolClosed is returned by a closed Spool.
var ErrSpoolClosed = errors.New("store: spool closed")

const spoolHeader = 8

// OpenSpool opens (creating) the spool in dir. maxBytes caps its size (0: 1 GiB).
func OpenSpool(dir string, maxBytes int64) (*Spool, error) {
	if maxBytes <= 0 {
		maxBytes = 1 << 30
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: spool: %w", err)
	}
	codec, err := NewFrameCodec()
	if err != nil {
		return nil, err
	}
	s := &Spool{dir: dir, maxBytes: maxBytes, segBytes: max(min(maxBytes/8, 64<<20), 4096), codec: codec}
	names, err := filepath.Glob(filepath.Join(dir, "spool-*.log"))
	if err != nil {
		return nil, fmt.Errorf("store: spool: %w", err)
	}
	sort.Strings(names)
	for _, p := range names {
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "spool-"), ".log"), 10, 64)
		if err != nil {
			continue
		}
		sg, err := s.scan(p, seq)
		if err != nil {
			return nil, err
		}
		if sg.count == 0 {
			os.Remove(p)
			continue
		}
		s.segs = append(s.segs, sg)
		s.bytes += sg.size
		s.entries += sg.count
		s.nextSeq = seq + 1
	}
	return s, nil
}

// scan counts the intact records of a segment and truncates anything after them.
func (s *Spool) scan(path string, seq uint64) (*segment, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("store: spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	sg := &segment{seq: seq, path: path}
	for {
		_, n, err := readFrame(r)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.corrupt++
			}
			break
		}
		sg.size += n
		sg.count++
	}
	if st, err := f.Stat(); err == nil && st.Size() != sg.size {
		if err := f.Truncate(sg.size); err != nil {
			return nil, fmt.Errorf("store: spool: truncate torn tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("store: spool: %w", err)
		}
	}
	return sg, nil
}

// readFrame reads one framed record; io.EOF at a clean end, another error for a torn or
// corrupt record.
func readFrame(r io.Reader) ([]byte, int64, error) {
	var h [spoolHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, io.EOF
		}
		return nil, 0, fmt.Errorf("torn header: %w", err)
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n > 1<<30 {
		return nil, 0, errors.New("bad record length")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, 0, fmt.Errorf("torn record: %w", err)
	}
	if crc32.Checksum(b, castagnoli) != binary.BigEndian.Uint32(h[4:]) {
		return nil, 0, errors.New("bad checksum")
	}
	return b, int64(spoolHeader + n), nil
}

// spoolWire is the payload of one spool record.
type spoolWire struct {
	Rec *correlate.Record       `json:"rec,omitempty"`
	Reg *correlate.Registration `json:"reg,omitempty"`
	NS  []int64                 `json:"ns"`
	Seg []byte                  `json:"seg,omitempty"` // Rec.Media as a frame segment: after the JSON (encodeEntryRaw); in it in older records
	// Frames is the segment's frame count (Rec.MediaCount()); 0 in older records. With it a
	// replay can hand the segment to the store undecoded (KeepSegments).
	Frames int `json:"frames,omitempty"`
	// MB lays out the SIP messages' bytes, which follow the NUL before the segment: per
	// message its Frame's length (-1: nil), then its Raw: n >= 0 is the frame's last n
	// bytes (the usual case, the text is not stored twice), -1 nil, -2-n n bytes of its
	// own after the frame. Records of older builds carry both in the JSON, base64.
	MB []int `json:"mb,omitempty"`
}

// msgLayout returns the MB layout of msgs and the number of bytes it describes;
// writeLayout writes those bytes.
func msgLayout(msgs []correlate.Message) ([]int, int) {
	mb, n := make([]int, 0, 2*len(msgs)), 0
	for i := range msgs {
		m := &msgs[i]
		if m.Frame == nil {
			mb = append(mb, -1)
		} else {
			mb = append(mb, len(m.Frame))
			n += len(m.Frame)
		}
		switch {
		case m.Raw == nil:
			mb = append(mb, -1)
		case m.RawInFrame():
			mb = append(mb, len(m.Raw))
		default:
			mb = append(mb, -2-len(m.Raw))
			n += len(m.Raw)
		}
	}
	return mb, n
}

func writeLayout(buf *bytes.Buffer, msgs []correlate.Message, mb []int) {
	for i := range msgs {
		buf.Write(msgs[i].Frame)
		if mb[2*i+1] < -1 {
			buf.Write(msgs[i].Raw)
		}
	}
}

// applyLayout sets msgs' Frame and Raw from the bytes after the NUL (rest, laid out by
// mb) and returns what follows them (the segment). The slices alias rest.
func applyLayout(msgs []correlate.Message, mb []int, rest []byte) ([]byte, error) {
	if len(mb) != 2*len(msgs) {
		return nil, errors.New("message layout does not match the messages")
	}
	take := func(n int) ([]byte, bool) {
		if n < 0 || n > len(rest) {
			return nil, false
		}
		b := rest[:n:n]
		rest = rest[n:]
		return b, true
	}
	for i := range msgs {
		m := &msgs[i]
		m.Frame, m.Raw = nil, nil
		if f := mb[2*i]; f != -1 {
			b, ok := take(f)
			if !ok {
				return nil, errors.New("message frame past the record")
			}
			m.Frame = b
		}
		switch r := mb[2*i+1]; {
		case r == -1:
		case r >= 0:
			if r > len(m.Frame) {
				return nil, errors.New("message text longer than its frame")
			}
			m.Raw = m.Frame[len(m.Frame)-r:]
		default:
			b, ok := take(-2 - r)
			if !ok {
				return nil, errors.New("message text past the record")
			}
			m.Raw = b
		}
	}
	return rest, nil
}

// KeepSegments makes the entries read from now on carry their call's frame segment as
// read, undecoded, with only the frame count in Rec.Pack (Segment), instead of Rec.Media
// decoded from it; records of older builds (without the count) are decoded as before.
// The writer sets it for a store.SegmentWriter: a replay then neither decompresses a
// call's frames nor compresses them again (issue 17: that was most of a replay's CPU).
func (s *Spool) KeepSegments(on bool) { s.keepSegs.Store(on) }

// Segment returns e's frame segment kept by a Spool with KeepSegments (nil otherwise).
func (e *SpoolEntry) Segment() []byte { return e.seg }

// eachTime visits every correlate.Time of e in a fixed order.
func eachTime(e *SpoolEntry, fn func(*correlate.Time)) {
	if e.Rec != nil {
		c := &e.Rec.Call
		fn(&c.Start)
		fn(&c.Ringing)
		fn(&c.Answer)
		fn(&c.End)
		for i := range c.Streams {
			st := &c.Streams[i]
			fn(&st.First)
			fn(&st.Last)
			for j := range st.Intervals {
				fn(&st.Intervals[j].Start)
			}
		}
	}
	if e.Reg != nil {
		fn(&e.Reg.Time)
	}
}

// rawRecord is one framed spool/WAL record in two parts: head is the frame header, the
// JSON and (with a segment) the NUL, seg the frame segment that follows it. Written one
// after the other they are the record's bytes; kept apart, the segment (most of a
// record with frames) is never copied: it is the ended call's own pack (EncodeRecord).
type rawRecord struct {
	head, seg []byte
}

func (r rawRecord) size() int64 { return int64(len(r.head) + len(r.seg)) }

// write writes both parts to f.
func (r rawRecord) write(f *os.File) error {
	if _, err := f.Write(r.head); err != nil {
		return err
	}
	if len(r.seg) > 0 {
		if _, err := f.Write(r.seg); err != nil {
			return err
		}
	}
	return nil
}

// encodeEntryRaw frames e as one record (header included) in two parts (rawRecord); the
// spool and the WAL share it. The segment of the call's media (seg when not nil, else
// encoded here; nil without media) is its seg.
func encodeEntryRaw(codec *FrameCodec, e *SpoolEntry, seg []byte) (rawRecord, error) {
	if e.Rec != nil {
		if r, _ := e.Rec.Unpacked(); r != e.Rec { // a queued copy (Writer.commit)
			u := *e
			u.Rec, e = r, &u
		}
	}
	w := spoolWire{Rec: e.Rec, Reg: e.Reg}
	if e.Rec != nil && (e.Rec.MediaCount() > 0 || len(e.Rec.Messages) > 0) {
		rec := *e.Rec
		if rec.MediaCount() > 0 {
			if seg == nil {
				seg, _ = codec.EncodeRecord(nil, nil, &rec)
			}
			w.Seg, w.Frames = seg, rec.MediaCount()
			rec.Media, rec.Pack = nil, correlate.MediaPack{}
		}
		if len(rec.Messages) > 0 {
			// The messages without their bytes (those follow the NUL): base64 in the JSON
			// was most of encoding and decoding a record of a call without media.
			msgs := make([]correlate.Message, len(rec.Messages))
			for i, m := range rec.Messages {
				m.Raw, m.Frame = nil, nil
				msgs[i] = m
			}
			rec.Messages = msgs
		}
		w.Rec = &rec
	}
	eachTime(e, func(t *correlate.Time) { w.NS = append(w.NS, int64(*t)) })
	blobLen := 0
	if e.Rec != nil && len(e.Rec.Messages) > 0 {
		w.MB, blobLen = msgLayout(e.Rec.Messages)
	}
	var buf bytes.Buffer
	buf.Grow(spoolHeader + 2048 + 128*len(w.MB) + blobLen) // the JSON of a message (two MB numbers) is about 250 bytes
	buf.Write(make([]byte, spoolHeader))
	// The messages' bytes and then the segment follow the JSON after a NUL byte, raw
	// (JSON never holds a raw NUL): base64 inside the JSON cost a third more bytes and most
	// of the encoding and decoding time of a record. Records of older builds (the segment
	// as the JSON field "seg", message bytes in the messages) still decode.
	raw := w.Seg
	w.Seg = nil
	if err := json.NewEncoder(&buf).Encode(&w); err != nil {
		return rawRecord{}, err
	}
	if raw != nil || w.MB != nil {
		buf.WriteByte(0)
		if w.MB != nil {
			writeLayout(&buf, e.Rec.Messages, w.MB)
		}
	}
	b := buf.Bytes()
	binary.BigEndian.PutUint32(b[:4], uint32(len(b)-spoolHeader+len(raw)))
	binary.BigEndian.PutUint32(b[4:8], crc32.Update(crc32.Checksum(b[spoolHeader:], castagnoli), castagnoli, raw))
	return rawRecord{head: b, seg: raw}, nil
}

func (s *Spool) decodeEntry(b []byte) (SpoolEntry, error) {
	var w spoolWire
	var rest []byte // what follows the NUL: message bytes, then the segment
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b, rest = b[:i], b[i+1:]
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return SpoolEntry{}, err
	}
	if w.MB != nil {
		if w.Rec == nil {
			return SpoolEntry{}, errors.New("message layout without a call")
		}
		var err error
		if rest, err = applyLayout(w.Rec.Messages, w.MB, rest); err != nil {
			return SpoolEntry{}, err
		}
	}
	if len(rest) > 0 {
		w.Seg = rest
	}
	var keptSeg []byte
	if len(w.Seg) > 0 && w.Rec != nil && w.Frames > 0 && s.keepSegs.Load() {
		w.Rec.Pack = correlate.MediaPack{Frames: w.Frames}
		keptSeg = w.Seg
	} else if len(w.Seg) > 0 && w.Rec != nil {
		media, err := s.codec.Decode(nil, w.Seg)
		if err != nil {
			return SpoolEntry{}, err
		}
		w.Rec.Media = media
	}
	e := SpoolEntry{Rec: w.Rec, Reg: w.Reg, seg: keptSeg}
	i := 0
	eachTime(&e, func(t *correlate.Time) {
		if i < len(w.NS) {
			*t = correlate.Time(w.NS[i])
		}
		i++
	})
	if i != len(w.NS) {
		return SpoolEntry{}, errors.New("time count mismatch")
	}
	return e, nil
}

// AppendRaw appends records already framed by encodeEntryRaw (the WAL's) and fsyncs them:
// a copy, no encoding.
func (s *Spool) AppendRaw(frames []rawRecord) error {
	if len(frames) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		return ErrSpoolClosed
	}
	for _, b := range frames {
		if err := s.appendFrame(b); err != nil {
			return err
		}
	}
	if s.f != nil {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("store: spool sync: %w", err)
		}
	}
	return nil
}

// Append writes entries at the tail and fsyncs them. When it returns nil they survive a
// crash.
func (s *Spool) Append(es ...SpoolEntry) error {
	if len(es) == 0 {
		return nil
	}
	frames := make([]rawRecord, len(es))
	for i := range es {
		r, err := encodeEntryRaw(s.codec, &es[i], nil)
		if err != nil {
			return fmt.Errorf("store: spool encode: %w", err)
		}
		frames[i] = r
	}
	return s.AppendRaw(frames)
}

func (s *Spool) appendFrame(b rawRecord) error {
	n := b.size()
	var tail *segment
	if len(s.segs) > 0 {
		tail = s.segs[len(s.segs)-1]
	}
	if tail == nil || s.f == nil || tail.size+n > s.segBytes {
		if s.f != nil {
			if err := s.f.Sync(); err != nil {
				return fmt.Errorf("store: spool sync: %w", err)
			}
			s.f.Close()
			s.f = nil
		}
		if tail != nil && tail.size+n <= s.segBytes {
			// Reopen an existing tail segment (after OpenSpool).
			f, err := os.OpenFile(tail.path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return fmt.Errorf("store: spool: %w", err)
			}
			s.f = f
		} else {
			tail = &segment{seq: s.nextSeq, path: filepath.Join(s.dir, fmt.Sprintf("spool-%016d.log", s.nextSeq))}
			s.nextSeq++
			f, err := os.OpenFile(tail.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				return fmt.Errorf("store: spool: %w", err)
			}
			s.f = f
			s.segs = append(s.segs, tail)
			syncDir(s.dir)
		}
	}
	if err := b.write(s.f); err != nil {
		return fmt.Errorf("store: spool write: %w", err)
	}
	tail.size += n
	tail.count++
	s.bytes += n
	s.entries++
	// Evict the oldest segments (never the one being written) beyond the cap.
	for s.bytes > s.maxBytes && len(s.segs) > 1 {
		old := s.segs[0]
		left := old.count
		if s.readN > 0 {
			left = old.count - s.readN
		}
		s.evicted += uint64(left)
		s.dropHead()
	}
	return nil
}

// dropHead removes segs[0]; the caller holds mu.
func (s *Spool) dropHead() {
	old := s.segs[0]
	os.Remove(old.path)
	s.bytes -= old.size
	s.entries -= old.count - s.readN
	s.segs = s.segs[1:]
	s.readOff, s.readN = 0, 0
	if len(s.segs) == 0 && s.f != nil {
		s.f.Close()
		s.f = nil
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Peek returns up to n of the oldest entries without removing them. Corrupt records
// (a disk error after they were written) are skipped and counted.
func (s *Spool) Peek(n int) ([]SpoolEntry, error) { return s.PeekLimit(n, 0) }

// PeekLimit is Peek that also stops once the entries read hold maxFrameBytes of media
// frame data (0: no limit); it returns at least one entry when any wait.
func (s *Spool) PeekLimit(n int, maxFrameBytes int64) ([]SpoolEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segs) == 0 {
		return nil, nil
	}
	sg := s.segs[0]
	f, err := os.Open(sg.path)
	if err != nil {
		return nil, fmt.Errorf("store: spool: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(s.readOff, io.SeekStart); err != nil {
		return nil, fmt.Errorf("store: spool: %w", err)
	}
	r := bufio.NewReader(io.LimitReader(f, sg.size-s.readOff))
	var (
		out    []SpoolEntry
		frames int64
	)
	for i := s.readN; i < sg.count && len(out) < n && (maxFrameBytes <= 0 || len(out) == 0 || frames < maxFrameBytes); i++ {
		b, _, err := readFrame(r)
		if err != nil {
			return out, fmt.Errorf("store: spool read %s: %w", sg.path, err)
		}
		e, err := s.decodeEntry(b)
		if err != nil {
			s.corrupt++
		}
		if e.Rec != nil {
			frames += e.Rec.MediaSize() + int64(len(e.seg))
		}
		out = append(out, e)
	}
	return out, nil
}

// Commit removes the n oldest entries (those a Peek returned and the store accepted).
func (s *Spool) Commit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n > 0 && len(s.segs) > 0 {
		sg := s.segs[0]
		left := sg.count - s.readN
		if n < left { // advance inside the segment
			off := s.readOff
			if f, err := os.Open(sg.path); err == nil {
				f.Seek(off, io.SeekStart)
				r := bufio.NewReader(f)
				for i := 0; i < n; i++ {
					_, sz, err := readFrame(r)
					if err != nil {
						break
					}
					off += sz
				}
				f.Close()
			}
			s.readOff = off
			s.readN += n
			s.entries -= n
			return
		}
		n -= left
		s.dropHead()
	}
}

// Len is the number of entries waiting.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entries
}

// Bytes is the spool's size on disk.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Evicted is the number of entries removed unreplayed because of the size cap.
func (s *Spool) Evicted() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evicted
}

// Corrupt is the number of damaged records found (torn tails at open, bad checksums).
func (s *Spool) Corrupt() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.corrupt
}

// Adopt moves a segment file written in the same framing (a WAL segment a crash left
// behind, wal.go) into the spool: its torn tail is cut, it is renamed to the spool's
// next segment name and its entries wait like any spooled entry. It returns the number
// of intact entries taken over (an empty file is removed).
func (s *Spool) Adopt(path string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		return 0, ErrSpoolClosed
	}
	sg, err := s.scan(path, s.nextSeq)
	if err != nil {
		return 0, err
	}
	if sg.count == 0 {
		os.Remove(path)
		return 0, nil
	}
	if s.f != nil { // the adopted segment becomes the tail
		s.f.Close()
		s.f = nil
	}
	sg.path = filepath.Join(s.dir, fmt.Sprintf("spool-%016d.log", s.nextSeq))
	if err := os.Rename(path, sg.path); err != nil {
		return 0, fmt.Errorf("store: spool adopt: %w", err)
	}
	syncDir(s.dir)
	syncDir(filepath.Dir(path))
	s.nextSeq++
	s.segs = append(s.segs, sg)
	s.bytes += sg.size
	s.entries += sg.count
	for s.bytes > s.maxBytes && len(s.segs) > 1 {
		s.evicted += uint64(s.segs[0].count - s.readN)
		s.dropHead()
	}
	return sg.count, nil
}

// Close closes the tail file; the entries stay on disk for the next OpenSpool.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dir = ""
	if s.f != nil {
		err := s.f.Close()
		s.f = nil
		return err
	}
	return nil
}
