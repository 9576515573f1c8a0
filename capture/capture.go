package capture

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Link types (LINKTYPE_* numbers from the tcpdump.org registry) that the
// decoder understands. Files may carry any other value; it is passed through.
const (
	LinkNull      uint32 = 0   // BSD loopback, 4-byte host-order address family
	LinkEthernet  uint32 = 1   // IEEE 802.3 Ethernet
	LinkRaw       uint32 = 101 // raw IPv4 or IPv6, version from the first nibble
	LinkLoop      uint32 = 108 // OpenBSD loopback, 4-byte network-order family
	LinkLinuxSLL  uint32 = 113 // Linux cooked capture v1
	LinkIPv4      uint32 = 228 // raw IPv4
	LinkIPv6      uint32 = 229 // raw IPv6
	LinkLinuxSLL2 uint32 = 276 // Linux cooked capture v2
)

// MaxSnaplen is the largest captured length accepted in a pcap record
// (the libpcap maximum); larger values mean the record header is garbage.
const MaxSnaplen = 262144

const (
	bufSize        = 1 << 20  // bufio size; every packet record/block fits in it
	maxPacketBlock = bufSize  // pcapng packet and interface blocks
	maxOtherBlock  = 64 << 20 // pcapng blocks we skip
)

// Packet is one captured frame. Data is a view into the reader's buffer,
// valid until the next call to Next on the reader that filled it.
type Packet struct {
	TS       int64  // Unix nanoseconds
	LinkType uint32 // LINKTYPE_* of the interface the frame was captured on
	Data     []byte // captured bytes; a VIEW valid until the next Next call
	OrigLen  int    // original wire length, as recorded in the file
	Iface    int    // pcapng interface index within its section (0 for pcap)
	File     int    // index of the file in the list given to OpenFiles
	Offset   int64  // byte offset of this record in its (decompressed) file
}

// Reader is a source of packets. Next returns io.EOF at a clean end.
type Reader interface {
	Next(p *Packet) error
	Close() error
}

// Sentinel errors wrapped by every *FileError that reports damage.
var (
	// ErrTruncated means the file ends inside a header, record or block.
	ErrTruncated = errors.New("truncated")
	// ErrCorrupt means a magic number or length cannot be right.
	ErrCorrupt = errors.New("corrupt")
)

// FileError reports damage in a capture file at a byte offset.
type FileError struct {
	File   string
	Offset int64
	Err    error
}

func (e *FileError) Error() string {
	return "capture: " + e.File + ": offset " + strconv.FormatInt(e.Offset, 10) + ": " + e.Err.Error()
}

// Unwrap returns the underlying error (which wraps ErrTruncated or ErrCorrupt
// for damage).
func (e *FileError) Unwrap() error { return e.Err }

var (
	_ Reader = (*FileReader)(nil)
	_ Reader = (*Merger)(nil)
)

type format uint8

const (
	formatPcap format = iota + 1
	formatPcapng
)

// FileReader reads one pcap or pcapng file (optionally gzip-compressed).
// It implements Reader. Not safe for concurrent use.
type FileReader struct {
	name string
	br   *bufio.Reader
	// win is what br had buffered at the last slow peek, from the position then, and used
	// the bytes of it consumed since (not yet discarded from br): peek and consume serve
	// records from win without a call into bufio, two of which per record cost more than
	// the rest of reading it (callgrind: 67 instructions a peek). sync hands used back.
	win   []byte
	used  int
	gz    *gzip.Reader
	f     io.Closer // file opened by OpenFile, nil otherwise
	off   int64     // bytes consumed from the (decompressed) stream
	err   error     // sticky
	file  int       // index in a Merger
	kind  format
	be    bool // big-endian file (pcap) or section (pcapng)
	nanos bool // pcap: nanosecond timestamps
	link  uint32

	// pcapng
	ifaces []ngIface
	lastTS int64
}

// OpenFile opens a capture file by path. The format is sniffed from the
// content: pcap (µs or ns, either byte order), pcapng, each possibly gzip
// compressed.
func OpenFile(path string) (*FileReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	r, err := NewFileReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.f = f
	return r, nil
}

// NewFileReader reads a capture from rd; name is used in errors. Close does
// not close rd. The file header (pcap) or first Section Header Block
// (pcapng) is read before returning.
func NewFileReader(rd io.Reader, name string) (*FileReader, error) {
	r := &FileReader{name: name, br: bufio.NewReaderSize(rd, readBufSize(rd))}
	magic, err := r.br.Peek(4)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, gerr := gzip.NewReader(r.br)
		if gerr != nil {
			return nil, r.ioErr(0, gerr, "gzip header")
		}
		r.gz = gz
		r.br = bufio.NewReaderSize(gz, bufSize)
		magic, err = r.br.Peek(4)
	}
	if err != nil {
		if len(magic) == 0 && err == io.EOF {
			return nil, r.damage(0, ErrTruncated, "empty file")
		}
		return nil, r.ioErr(0, err, "file magic")
	}
	switch m := binary.LittleEndian.Uint32(magic); m {
	case 0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1:
		r.kind = formatPcap
		r.be = m == 0xd4c3b2a1 || m == 0x4d3cb2a1
		r.nanos = m == 0xa1b23c4d || m == 0x4d3cb2a1
		err = r.readPcapHeader()
	case blockSHB:
		r.kind = formatPcapng
		err = r.readSHB()
	default:
		err = r.damage(0, ErrCorrupt, "unknown file magic 0x"+strconv.FormatUint(uint64(m), 16)+" (not pcap or pcapng)")
	}
	if err != nil {
		r.closeGzip()
		return nil, err
	}
	return r, nil
}

// readBufSize picks the read buffer size: bufSize, or less for an
// in-memory input (bytes.Reader, bytes.Buffer, strings.Reader) known to be
// smaller, since every record then fits in the whole input anyway. Files
// always get bufSize: one may still be growing while we read it.
func readBufSize(rd io.Reader) int {
	if v, ok := rd.(interface{ Len() int }); ok && v.Len() < bufSize {
		return max(v.Len()+1, 64)
	}
	return bufSize
}

// Name returns the name given to NewFileReader or the path given to OpenFile.
func (r *FileReader) Name() string { return r.name }

// Next fills p with the next packet. p.Data is valid until the next call.
// It returns io.EOF at a clean end and a *FileError for damage; both are
// sticky.
func (r *FileReader) Next(p *Packet) error {
	if r.err != nil {
		return r.err
	}
	var err error
	if r.kind == formatPcap {
		err = r.nextPcap(p)
	} else {
		err = r.nextPcapng(p)
	}
	if err != nil {
		r.err = err
	}
	return err
}

// Close releases the reader and closes the file opened by OpenFile.
func (r *FileReader) Close() error {
	if r.err == nil {
		r.err = io.EOF
	}
	r.closeGzip()
	if r.f != nil {
		f := r.f
		r.f = nil
		return f.Close()
	}
	return nil
}

func (r *FileReader) closeGzip() {
	if r.gz != nil {
		r.gz.Close()
		r.gz = nil
	}
}

func (r *FileReader) u16(b []byte) uint16 {
	if r.be {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *FileReader) u32(b []byte) uint32 {
	if r.be {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *FileReader) u64(b []byte) uint64 {
	if r.be {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// damage builds a *FileError wrapping kind. Only called on the error path.
func (r *FileReader) damage(off int64, kind error, what string) error {
	return &FileError{File: r.name, Offset: off, Err: fmt.Errorf("%w: %s", kind, what)}
}

// ioErr classifies an error from the underlying reader at offset off.
func (r *FileReader) ioErr(off int64, err error, what string) error {
	var ce flate.CorruptInputError
	switch {
	case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF):
		return r.damage(off, ErrTruncated, what+": file ends early")
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.As(err, &ce):
		return &FileError{File: r.name, Offset: off, Err: fmt.Errorf("%w: %s: gzip: %w", ErrCorrupt, what, err)}
	case err == bufio.ErrBufferFull:
		return r.damage(off, ErrCorrupt, what+": larger than the read buffer")
	}
	return &FileError{File: r.name, Offset: off, Err: fmt.Errorf("%s: %w", what, err)}
}

// peek returns the next n bytes without consuming them; a short read is
// reported as damage at off. A clean io.EOF is returned only if nothing at
// all is left and eofOK is set. The bytes stay valid until the next peek that
// does not fit in what is buffered (peekSlow), as with bufio.Reader.Peek.
func (r *FileReader) peek(off int64, n int, eofOK bool, what string) ([]byte, error) {
	if r.used+n <= len(r.win) {
		return r.win[r.used : r.used+n : r.used+n], nil
	}
	return r.peekSlow(off, n, eofOK, what)
}

// peekSlow is peek through br: the bytes consumed from win are discarded first, and on
// success win becomes all of br's buffered bytes.
func (r *FileReader) peekSlow(off int64, n int, eofOK bool, what string) ([]byte, error) {
	r.sync()
	b, err := r.br.Peek(n)
	if err == nil {
		r.win, _ = r.br.Peek(r.br.Buffered()) // at least n bytes, all buffered: no error
		return b, nil
	}
	if len(b) == 0 && err == io.EOF && eofOK {
		return nil, io.EOF
	}
	if err == io.EOF || (err == bufio.ErrBufferFull && r.br.Size() < bufSize) {
		// A buffer smaller than bufSize holds the whole input: a record
		// that does not fit in it is cut short by the end of the input.
		return nil, r.damage(off, ErrTruncated, what+": "+strconv.Itoa(len(b))+" of "+strconv.Itoa(n)+" bytes present")
	}
	return nil, r.ioErr(off, err, what)
}

// consume discards n bytes that were just peeked.
func (r *FileReader) consume(n int) {
	r.used += n
	r.off += int64(n)
}

// sync discards from br the bytes consumed from win and forgets win: before any direct
// use of br.
func (r *FileReader) sync() {
	if r.used > 0 {
		r.br.Discard(r.used) //nolint:errcheck // they were buffered: peeked from win
	}
	r.win, r.used = nil, 0
}

// mapLink normalizes a link-type field: FCS bits masked off, DLT_RAW
// variants mapped to LinkRaw.
func mapLink(l uint32) uint32 {
	l &= 0x0FFFFFFF
	if l == 12 || l == 14 {
		return LinkRaw
	}
	return l
}
