package capture

import "encoding/binary"

// optComment is opt_comment, valid in every block (draft-ietf-opsawg-pcapng §3.5).
const optComment = 1

// StartWithComment writes the Section Header Block now, with comment as its
// opt_comment (Wireshark shows it as the capture's comment; capinfos lists it). It must
// come before the first AddInterface or WritePacket; later it does nothing. A comment
// longer than 64 KiB - 1 is cut.
func (w *PcapngWriter) StartWithComment(comment string) error {
	if w.started {
		return nil
	}
	if len(comment) > 0xFFFF {
		comment = comment[:0xFFFF]
	}
	w.started = true
	blen := shbMinLen + 4 + pad4(len(comment)) + 4 // options: opt_comment opt_endofopt
	le := binary.LittleEndian
	b := w.scratch[:24]
	le.PutUint32(b[0:], blockSHB)
	le.PutUint32(b[4:], uint32(blen))
	le.PutUint32(b[8:], byteOrderMagic)
	le.PutUint16(b[12:], 1)
	le.PutUint16(b[14:], 0)
	le.PutUint64(b[16:], ^uint64(0)) // section length unknown
	w.bw.Write(b)
	le.PutUint16(b[0:], optComment)
	le.PutUint16(b[2:], uint16(len(comment)))
	w.bw.Write(b[:4])
	w.bw.WriteString(comment)
	w.bw.Write(zeros[:pad4(len(comment))-len(comment)])
	le.PutUint32(b[0:], 0) // opt_endofopt
	le.PutUint32(b[4:], uint32(blen))
	_, err := w.bw.Write(b[:8])
	return err
}
