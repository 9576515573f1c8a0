package capture

import (
	"math/bits"
	"strconv"
)

// pcapng block types (draft-ietf-opsawg-pcapng §4, Appendix A).
const (
	blockSHB uint32 = 0x0A0D0D0A // Section Header Block, §4.1 (palindrome)
	blockIDB uint32 = 0x00000001 // Interface Description Block, §4.2
	blockOPB uint32 = 0x00000002 // obsolete Packet Block, Appendix A
	blockSPB uint32 = 0x00000003 // Simple Packet Block, §4.4
	blockEPB uint32 = 0x00000006 // Enhanced Packet Block, §4.3

	byteOrderMagic uint32 = 0x1A2B3C4D

	optEndOfOpt  = 0
	optTSResol   = 9  // if_tsresol, §4.2
	optTSOffset  = 14 // if_tsoffset, §4.2
	shbMinLen    = 28
	idbMinLen    = 20
	epbMinLen    = 32
	spbMinLen    = 16
	blockHdrLen  = 8
	blockTrailer = 4
)

type tsMode uint8

const (
	tsMul  tsMode = iota // ns = ts * k
	tsDiv                // ns = ts / k
	tsBin                // ns = ts * 1e9 / 2^k
	tsZero               // resolution so fine that every value rounds to 0 ns
)

// ngIface is what we keep of an Interface Description Block.
type ngIface struct {
	link     uint32
	snaplen  uint32
	mode     tsMode
	k        uint64
	offsetNs int64 // if_tsoffset in ns
}

var pow10 = [20]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
	1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// setResolution applies an if_tsresol value (§4.2): most significant bit
// clear means 10^-v seconds, set means 2^-(v&0x7f) seconds.
func (i *ngIface) setResolution(v byte) {
	if v&0x80 != 0 {
		i.mode, i.k = tsBin, uint64(v&0x7f)
		return
	}
	switch e := int(v); {
	case e <= 9:
		i.mode, i.k = tsMul, pow10[9-e]
	case e-9 < len(pow10):
		i.mode, i.k = tsDiv, pow10[e-9]
	default:
		i.mode, i.k = tsZero, 0
	}
}

// toNs converts a timestamp in interface units to Unix nanoseconds exactly
// (truncating sub-nanosecond fractions). Out-of-range values wrap rather
// than panic.
func (i *ngIface) toNs(ts uint64) int64 {
	var ns uint64
	switch i.mode {
	case tsMul:
		ns = ts * i.k
	case tsDiv:
		ns = ts / i.k
	case tsBin:
		k := uint(i.k)
		switch {
		case k == 0:
			ns = ts * 1e9
		case k >= 64:
			hi, _ := bits.Mul64(ts, 1e9)
			ns = hi >> (k - 64)
		default:
			sec := ts >> k
			frac := ts & (1<<k - 1)
			hi, lo := bits.Mul64(frac, 1e9)
			ns = sec*1e9 + (lo>>k | hi<<(64-k))
		}
	}
	return int64(ns) + i.offsetNs
}

// readSHB reads a Section Header Block at the current position: it sets the
// byte order for the section and forgets the previous section's interfaces.
func (r *FileReader) readSHB() error {
	off := r.off
	h, err := r.peek(off, 12, false, "pcapng section header")
	if err != nil {
		return err
	}
	switch bom := uint32(h[8])<<24 | uint32(h[9])<<16 | uint32(h[10])<<8 | uint32(h[11]); bom {
	case byteOrderMagic:
		r.be = true
	case 0x4D3C2B1A:
		r.be = false
	default:
		return r.damage(off+8, ErrCorrupt, "pcapng section header: bad byte-order magic 0x"+strconv.FormatUint(uint64(bom), 16))
	}
	blen := r.u32(h[4:8])
	if blen < shbMinLen || blen%4 != 0 || blen > maxOtherBlock {
		return r.damage(off, ErrCorrupt, "pcapng section header: bad block length "+strconv.FormatUint(uint64(blen), 10))
	}
	h, err = r.peek(off, 16, false, "pcapng section header")
	if err != nil {
		return err
	}
	if major := r.u16(h[12:14]); major != 1 {
		return r.damage(off, ErrCorrupt, "pcapng section header: unsupported major version "+strconv.Itoa(int(major)))
	}
	if err := r.skipBlock(off, blen); err != nil {
		return err
	}
	r.ifaces = r.ifaces[:0]
	return nil
}

// skipBlock consumes a block of length blen starting at the current
// position (offset off) and checks its trailing length.
func (r *FileReader) skipBlock(off int64, blen uint32) error {
	n := int(blen)
	if n <= r.br.Size() {
		b, err := r.peek(off, n, false, "pcapng block")
		if err != nil {
			return err
		}
		if t := r.u32(b[n-4:]); t != blen {
			return r.trailerErr(off, blen, t)
		}
		r.consume(n)
		return nil
	}
	r.sync()
	d, err := r.br.Discard(n - blockTrailer)
	r.off += int64(d)
	if err != nil {
		return r.ioErr(off, err, "pcapng block")
	}
	b, err := r.peek(off, blockTrailer, false, "pcapng block trailer")
	if err != nil {
		return err
	}
	if t := r.u32(b); t != blen {
		return r.trailerErr(off, blen, t)
	}
	r.consume(blockTrailer)
	return nil
}

func (r *FileReader) trailerErr(off int64, blen, t uint32) error {
	return r.damage(off, ErrCorrupt, "pcapng block: trailing length "+strconv.FormatUint(uint64(t), 10)+
		" differs from leading length "+strconv.FormatUint(uint64(blen), 10))
}

func (r *FileReader) nextPcapng(p *Packet) error {
	for {
		off := r.off
		h, err := r.peek(off, blockHdrLen, true, "pcapng block header")
		if err != nil {
			return err
		}
		typ := r.u32(h[0:4])
		if typ == blockSHB {
			if err := r.readSHB(); err != nil {
				return err
			}
			continue
		}
		blen := r.u32(h[4:8])
		if blen < 12 || blen%4 != 0 {
			return r.damage(off, ErrCorrupt, "pcapng block type 0x"+strconv.FormatUint(uint64(typ), 16)+
				": bad block length "+strconv.FormatUint(uint64(blen), 10))
		}
		switch typ {
		case blockEPB, blockSPB, blockOPB, blockIDB:
		default:
			if blen > maxOtherBlock {
				return r.damage(off, ErrCorrupt, "pcapng block type 0x"+strconv.FormatUint(uint64(typ), 16)+
					": block length "+strconv.FormatUint(uint64(blen), 10)+" too large")
			}
			if err := r.skipBlock(off, blen); err != nil {
				return err
			}
			continue
		}
		if blen > maxPacketBlock {
			return r.damage(off, ErrCorrupt, "pcapng block type 0x"+strconv.FormatUint(uint64(typ), 16)+
				": block length "+strconv.FormatUint(uint64(blen), 10)+" too large")
		}
		n := int(blen)
		b, err := r.peek(off, n, false, "pcapng block")
		if err != nil {
			return err
		}
		if t := r.u32(b[n-4:]); t != blen {
			return r.trailerErr(off, blen, t)
		}
		if typ == blockIDB {
			if err := r.parseIDB(off, b); err != nil {
				return err
			}
			r.consume(n)
			continue
		}
		if err := r.parsePacket(off, typ, b, p); err != nil {
			return err
		}
		r.consume(n)
		return nil
	}
}

// parseIDB records an Interface Description Block (§4.2); b is the whole block.
func (r *FileReader) parseIDB(off int64, b []byte) error {
	if len(b) < idbMinLen {
		return r.damage(off, ErrCorrupt, "pcapng interface description block too short")
	}
	ifc := ngIface{link: mapLink(uint32(r.u16(b[8:10]))), snaplen: r.u32(b[12:16])}
	ifc.setResolution(6)
	// Options (§3.5): code, length, value padded to 32 bits. A malformed
	// option ends option parsing; the interface is still usable.
	opts := b[16 : len(b)-blockTrailer]
	for len(opts) >= 4 {
		code := r.u16(opts[0:2])
		l := int(r.u16(opts[2:4]))
		if code == optEndOfOpt {
			break
		}
		padded := (l + 3) &^ 3
		if 4+padded > len(opts) {
			break
		}
		v := opts[4 : 4+l]
		switch {
		case code == optTSResol && l >= 1:
			ifc.setResolution(v[0])
		case code == optTSOffset && l >= 8:
			ifc.offsetNs = int64(r.u64(v)) * 1e9
		}
		opts = opts[4+padded:]
	}
	r.ifaces = append(r.ifaces, ifc)
	return nil
}

// parsePacket fills p from an EPB, SPB or OPB; b is the whole block.
func (r *FileReader) parsePacket(off int64, typ uint32, b []byte, p *Packet) error {
	n := uint32(len(b))
	var ifid int
	var data []byte
	var orig uint32
	var ts int64
	switch typ {
	case blockSPB:
		// §4.4: no interface id (always 0), no timestamp; the captured
		// length is the smaller of the original length, the interface
		// snaplen and the space in the block.
		if n < spbMinLen {
			return r.damage(off, ErrCorrupt, "pcapng simple packet block too short")
		}
		if len(r.ifaces) == 0 {
			return r.damage(off, ErrCorrupt, "pcapng simple packet block before any interface description")
		}
		orig = r.u32(b[8:12])
		caplen := n - spbMinLen
		caplen = min(caplen, orig)
		if sl := r.ifaces[0].snaplen; sl != 0 {
			caplen = min(caplen, sl)
		}
		data = b[12 : 12+caplen : 12+caplen]
		ts = r.lastTS
	default: // EPB (§4.3) and OPB (Appendix A) share the layout but for a 16-bit id
		if n < epbMinLen {
			return r.damage(off, ErrCorrupt, "pcapng packet block too short")
		}
		if typ == blockEPB {
			ifid = int(r.u32(b[8:12]))
		} else {
			ifid = int(r.u16(b[8:10]))
		}
		if ifid < 0 || ifid >= len(r.ifaces) {
			return r.damage(off, ErrCorrupt, "pcapng packet block: undefined interface "+strconv.Itoa(ifid))
		}
		caplen := r.u32(b[20:24])
		orig = r.u32(b[24:28])
		if caplen > n-epbMinLen {
			return r.damage(off, ErrCorrupt, "pcapng packet block: captured length "+strconv.FormatUint(uint64(caplen), 10)+
				" exceeds block length "+strconv.FormatUint(uint64(n), 10))
		}
		data = b[28 : 28+caplen : 28+caplen]
		raw := uint64(r.u32(b[12:16]))<<32 | uint64(r.u32(b[16:20]))
		ts = r.ifaces[ifid].toNs(raw)
		r.lastTS = ts
	}
	p.TS = ts
	p.LinkType = r.ifaces[ifid].link
	p.Data = data
	p.OrigLen = int(orig)
	p.Iface = ifid
	p.File = r.file
	p.Offset = off
	return nil
}
