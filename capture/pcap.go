package capture

import "strconv"

// Classic pcap layout (draft-ietf-opsawg-pcap §4 file header, §5 record).
const (
	pcapFileHeaderLen   = 24
	pcapRecordHeaderLen = 16
)

func (r *FileReader) readPcapHeader() error {
	h, err := r.peek(0, pcapFileHeaderLen, false, "pcap file header")
	if err != nil {
		return err
	}
	// h[4:8] version, h[8:16] thiszone/sigfigs (always 0 in practice),
	// h[16:20] snaplen: none of them is needed to read records.
	r.link = mapLink(r.u32(h[20:24]))
	r.consume(pcapFileHeaderLen)
	return nil
}

func (r *FileReader) nextPcap(p *Packet) error {
	off := r.off
	h, err := r.peek(off, pcapRecordHeaderLen, true, "pcap record header")
	if err != nil {
		return err
	}
	sec := r.u32(h[0:4])
	frac := r.u32(h[4:8])
	incl := r.u32(h[8:12])
	orig := r.u32(h[12:16])
	if incl > MaxSnaplen {
		return r.damage(off, ErrCorrupt, "pcap record captured length "+strconv.FormatUint(uint64(incl), 10)+" exceeds "+strconv.Itoa(MaxSnaplen))
	}
	n := pcapRecordHeaderLen + int(incl)
	b, err := r.peek(off, n, false, "pcap record data")
	if err != nil {
		return err
	}
	r.consume(n)
	ts := int64(sec) * 1e9
	if r.nanos {
		ts += int64(frac)
	} else {
		ts += int64(frac) * 1e3
	}
	p.TS = ts
	p.LinkType = r.link
	p.Data = b[pcapRecordHeaderLen:n:n]
	p.OrigLen = int(orig)
	p.Iface = 0
	p.File = r.file
	p.Offset = off
	return nil
}
