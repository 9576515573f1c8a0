package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

var (
	errNegativeTS = errors.New("capture: timestamp before 1970 cannot be written")
	errTSRange    = errors.New("capture: timestamp beyond 2106 cannot be written to pcap")
	errNoIface    = errors.New("capture: pcapng write to undefined interface")
	errTooLarge   = errors.New("capture: packet too large for a pcapng block")
	errSnaplen    = errors.New("capture: snaplen out of range")
)

// PcapWriter writes a classic little-endian pcap file (draft-ietf-opsawg-pcap
// §4-§5). It writes straight to w: wrap w in a bufio.Writer for throughput.
type PcapWriter struct {
	w       io.Writer
	snaplen int
	nanos   bool
	hdr     [pcapRecordHeaderLen]byte
}

// NewPcapWriter writes the file header. snaplen 0 means MaxSnaplen; nanos
// selects nanosecond timestamps (magic 0xa1b23c4d) instead of microseconds.
func NewPcapWriter(w io.Writer, linkType uint32, snaplen int, nanos bool) (*PcapWriter, error) {
	if snaplen == 0 {
		snaplen = MaxSnaplen
	}
	if snaplen < 0 || snaplen > MaxSnaplen {
		return nil, errSnaplen
	}
	var h [pcapFileHeaderLen]byte
	magic := uint32(0xa1b2c3d4)
	if nanos {
		magic = 0xa1b23c4d
	}
	le := binary.LittleEndian
	le.PutUint32(h[0:], magic)
	le.PutUint16(h[4:], 2)
	le.PutUint16(h[6:], 4)
	le.PutUint32(h[16:], uint32(snaplen))
	le.PutUint32(h[20:], linkType)
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &PcapWriter{w: w, snaplen: snaplen, nanos: nanos}, nil
}

// WritePacket writes one record. data longer than the snaplen is cut;
// origLen smaller than len(data) is raised to it.
func (w *PcapWriter) WritePacket(ts int64, data []byte, origLen int) error {
	if ts < 0 {
		return errNegativeTS
	}
	sec := ts / 1e9
	if sec > 0xFFFFFFFF {
		return errTSRange
	}
	frac := ts % 1e9
	if !w.nanos {
		frac /= 1e3
	}
	origLen = max(origLen, len(data))
	if len(data) > w.snaplen {
		data = data[:w.snaplen]
	}
	le := binary.LittleEndian
	le.PutUint32(w.hdr[0:], uint32(sec))
	le.PutUint32(w.hdr[4:], uint32(frac))
	le.PutUint32(w.hdr[8:], uint32(len(data)))
	le.PutUint32(w.hdr[12:], uint32(origLen))
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		return err
	}
	_, err := w.w.Write(data)
	return err
}

// PcapngWriter writes a little-endian pcapng file with one section
// (draft-ietf-opsawg-pcapng §4.1-§4.3). The Section Header Block is written
// lazily, before the first interface or packet. Output is buffered: call
// Flush at the end.
type PcapngWriter struct {
	bw      *bufio.Writer
	started bool
	snaps   []int
	scratch [32]byte
}

// NewPcapngWriter returns a writer on w.
func NewPcapngWriter(w io.Writer) *PcapngWriter {
	return &PcapngWriter{bw: bufio.NewWriterSize(w, 64<<10)}
}

func (w *PcapngWriter) start() error {
	if w.started {
		return nil
	}
	w.started = true
	b := w.scratch[:shbMinLen]
	le := binary.LittleEndian
	le.PutUint32(b[0:], blockSHB)
	le.PutUint32(b[4:], shbMinLen)
	le.PutUint32(b[8:], byteOrderMagic)
	le.PutUint16(b[12:], 1)
	le.PutUint16(b[14:], 0)
	le.PutUint64(b[16:], ^uint64(0)) // section length unknown
	le.PutUint32(b[24:], shbMinLen)
	_, err := w.bw.Write(b)
	return err
}

// AddInterface writes an Interface Description Block with if_tsresol = 9
// (nanoseconds) and, if name is not empty, if_name. snaplen 0 means
// unlimited. It returns the interface index to pass to WritePacket.
func (w *PcapngWriter) AddInterface(linkType uint32, snaplen int, name string) (int, error) {
	if snaplen < 0 || int64(snaplen) > 0xFFFFFFFF || len(name) > 0xFFFF {
		return 0, errSnaplen
	}
	if err := w.start(); err != nil {
		return 0, err
	}
	nameOpt := 0
	if name != "" {
		nameOpt = 4 + pad4(len(name))
	}
	blen := idbMinLen + nameOpt + 8 + 4 // options: [if_name] if_tsresol opt_endofopt
	le := binary.LittleEndian
	b := w.scratch[:16]
	le.PutUint32(b[0:], blockIDB)
	le.PutUint32(b[4:], uint32(blen))
	le.PutUint16(b[8:], uint16(linkType))
	le.PutUint16(b[10:], 0)
	le.PutUint32(b[12:], uint32(snaplen))
	w.bw.Write(b)
	if name != "" {
		le.PutUint16(b[0:], 2) // if_name
		le.PutUint16(b[2:], uint16(len(name)))
		w.bw.Write(b[:4])
		w.bw.WriteString(name)
		w.bw.Write(zeros[:pad4(len(name))-len(name)])
	}
	le.PutUint16(b[0:], optTSResol)
	le.PutUint16(b[2:], 1)
	b[4], b[5], b[6], b[7] = 9, 0, 0, 0
	le.PutUint32(b[8:], 0) // opt_endofopt
	le.PutUint32(b[12:], uint32(blen))
	if _, err := w.bw.Write(b[:16]); err != nil {
		return 0, err
	}
	w.snaps = append(w.snaps, snaplen)
	return len(w.snaps) - 1, nil
}

// WritePacket writes an Enhanced Packet Block with a nanosecond timestamp.
// data longer than the interface snaplen is cut; origLen smaller than
// len(data) is raised to it.
func (w *PcapngWriter) WritePacket(iface int, ts int64, data []byte, origLen int) error {
	if iface < 0 || iface >= len(w.snaps) {
		return errNoIface
	}
	if ts < 0 {
		return errNegativeTS
	}
	origLen = max(origLen, len(data))
	if sl := w.snaps[iface]; sl > 0 && len(data) > sl {
		data = data[:sl]
	}
	if len(data) > maxPacketBlock-epbMinLen-4 {
		return errTooLarge
	}
	blen := epbMinLen + pad4(len(data))
	le := binary.LittleEndian
	b := w.scratch[:28]
	le.PutUint32(b[0:], blockEPB)
	le.PutUint32(b[4:], uint32(blen))
	le.PutUint32(b[8:], uint32(iface))
	le.PutUint32(b[12:], uint32(uint64(ts)>>32))
	le.PutUint32(b[16:], uint32(ts))
	le.PutUint32(b[20:], uint32(len(data)))
	le.PutUint32(b[24:], uint32(origLen))
	w.bw.Write(b)
	w.bw.Write(data)
	w.bw.Write(zeros[:pad4(len(data))-len(data)])
	le.PutUint32(b[0:], uint32(blen))
	_, err := w.bw.Write(b[:4])
	return err
}

// Flush writes buffered data to the underlying writer.
func (w *PcapngWriter) Flush() error {
	if err := w.start(); err != nil {
		return err
	}
	return w.bw.Flush()
}

var zeros [4]byte

func pad4(n int) int { return (n + 3) &^ 3 }
