package gen

import (
	"encoding/binary"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

const snaplen = 262144

// fileWriter writes records of one capture file format.
type fileWriter interface {
	links() []Link
	write(ts time.Time, iface int, data []byte) error
	flush() error
}

func linkType(l Link) layers.LinkType {
	switch l {
	case LinuxSLL:
		return layers.LinkTypeLinuxSLL
	case LinuxSLL2:
		return layers.LinkTypeLinuxSLL2
	case RawIP:
		return layers.LinkTypeRaw
	case Null:
		return layers.LinkTypeNull
	case Loop:
		return layers.LinkTypeLoop
	}
	return layers.LinkTypeEthernet
}

func newFileWriter(w io.Writer, sc Scenario) (fileWriter, error) {
	switch sc.Format {
	case PcapMicro, PcapNano:
		pw := pcapgo.NewWriter(w)
		if sc.Format == PcapNano {
			pw = pcapgo.NewWriterNanos(w)
		}
		if err := pw.WriteFileHeader(snaplen, linkType(sc.Link)); err != nil {
			return nil, err
		}
		return &pcapWriter{w: pw, l: []Link{sc.Link}}, nil
	case PcapBigEndian:
		b := &bePcap{w: w, l: []Link{sc.Link}}
		return b, b.header(linkType(sc.Link))
	case Pcapng, PcapngMultiIface:
		ls := []Link{sc.Link}
		if sc.Format == PcapngMultiIface {
			second := Ethernet
			if sc.Link == Ethernet {
				second = LinuxSLL2
			}
			ls = append(ls, second)
		}
		opts := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "callscope-gen"}}
		ng, err := pcapgo.NewNgWriterInterface(w, pcapgo.NgInterface{Name: "gen0", LinkType: linkType(ls[0]), SnapLength: snaplen, TimestampResolution: 9}, opts)
		if err != nil {
			return nil, err
		}
		if len(ls) > 1 {
			if _, err := ng.AddInterface(pcapgo.NgInterface{Name: "gen1", LinkType: linkType(ls[1]), SnapLength: snaplen, TimestampResolution: 9}); err != nil {
				return nil, err
			}
		}
		return &ngWriter{w: ng, l: ls}, nil
	}
	return nil, ErrInvalid
}

type pcapWriter struct {
	w *pcapgo.Writer
	l []Link
}

func (p *pcapWriter) links() []Link { return p.l }
func (p *pcapWriter) flush() error  { return nil }
func (p *pcapWriter) write(ts time.Time, _ int, data []byte) error {
	return p.w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}, data)
}

type ngWriter struct {
	w *pcapgo.NgWriter
	l []Link
}

func (p *ngWriter) links() []Link { return p.l }
func (p *ngWriter) flush() error  { return p.w.Flush() }
func (p *ngWriter) write(ts time.Time, iface int, data []byte) error {
	return p.w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data), InterfaceIndex: iface}, data)
}

// bePcap writes the classic libpcap format in big-endian byte order (as a
// big-endian host would), microsecond timestamps; pcapgo only writes little endian.
type bePcap struct {
	w   io.Writer
	l   []Link
	hdr [16]byte
}

func (p *bePcap) links() []Link { return p.l }
func (p *bePcap) flush() error  { return nil }

func (p *bePcap) header(lt layers.LinkType) error {
	var h [24]byte
	binary.BigEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.BigEndian.PutUint16(h[4:], 2)
	binary.BigEndian.PutUint16(h[6:], 4)
	binary.BigEndian.PutUint32(h[16:], snaplen)
	binary.BigEndian.PutUint32(h[20:], uint32(lt))
	_, err := p.w.Write(h[:])
	return err
}

func (p *bePcap) write(ts time.Time, _ int, data []byte) error {
	binary.BigEndian.PutUint32(p.hdr[0:], uint32(ts.Unix()))
	binary.BigEndian.PutUint32(p.hdr[4:], uint32(ts.Nanosecond()/1000))
	binary.BigEndian.PutUint32(p.hdr[8:], uint32(len(data)))
	binary.BigEndian.PutUint32(p.hdr[12:], uint32(len(data)))
	if _, err := p.w.Write(p.hdr[:]); err != nil {
		return err
	}
	_, err := p.w.Write(data)
	return err
}
