package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func payload(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*7 + j)
	}
	return b
}

func TestPcapWriterRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		nanos bool
		link  uint32
	}{
		{"micro-ethernet", false, LinkEthernet},
		{"nano-raw", true, LinkRaw},
		{"nano-sll2", true, LinkLinuxSLL2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewPcapWriter(&buf, tt.link, 0, tt.nanos)
			if err != nil {
				t.Fatal(err)
			}
			base := int64(1_700_000_000_123_456_789)
			sizes := []int{0, 1, 60, 1514, 9000}
			for i, n := range sizes {
				if err := w.WritePacket(base+int64(i)*1_000_001, payload(i, n), n+i); err != nil {
					t.Fatal(err)
				}
			}
			got, err := readBytes(t, buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(sizes) {
				t.Fatalf("got %d packets, want %d", len(got), len(sizes))
			}
			off := int64(24)
			for i, n := range sizes {
				ts := base + int64(i)*1_000_001
				if !tt.nanos {
					ts = ts / 1000 * 1000 // microsecond file: sub-µs digits are dropped
				}
				g := got[i]
				if g.TS != ts || g.Link != tt.link || !bytes.Equal(g.Data, payload(i, n)) || g.Orig != n+i || g.Offset != off {
					t.Errorf("packet %d: got ts=%d link=%d len=%d orig=%d off=%d; want ts=%d link=%d len=%d orig=%d off=%d",
						i, g.TS, g.Link, len(g.Data), g.Orig, g.Offset, ts, tt.link, n, n+i, off)
				}
				off += 16 + int64(n)
			}
		})
	}
}

func TestPcapWriterSnaplen(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, LinkEthernet, 64, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(1e9, payload(1, 100), 0); err != nil {
		t.Fatal(err)
	}
	got, err := readBytes(t, buf.Bytes())
	if err != nil || len(got) != 1 {
		t.Fatalf("got %d packets, err %v", len(got), err)
	}
	if len(got[0].Data) != 64 || got[0].Orig != 100 {
		t.Fatalf("snaplen not applied: caplen %d orig %d", len(got[0].Data), got[0].Orig)
	}
	for _, bad := range []int{-1, MaxSnaplen + 1} {
		if _, err := NewPcapWriter(io.Discard, 1, bad, false); err == nil {
			t.Errorf("snaplen %d accepted", bad)
		}
	}
	if err := w.WritePacket(-1, nil, 0); err == nil {
		t.Error("negative timestamp accepted")
	}
}

func TestPcapngWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewPcapngWriter(&buf)
	eth, err := w.AddInterface(LinkEthernet, 0, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := w.AddInterface(LinkRaw, 128, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(7, 1, nil, 0); err == nil {
		t.Error("write to undefined interface accepted")
	}
	type in struct {
		iface int
		ts    int64
		n     int
	}
	ins := []in{{eth, 1_700_000_000_000_000_001, 60}, {raw, 1_700_000_000_000_000_002, 200}, {eth, 1_600_000_000_999_999_999, 3}, {raw, 5, 0}}
	for i, p := range ins {
		if err := w.WritePacket(p.iface, p.ts, payload(i, p.n), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, variant := range []string{"ours", "pcapgo"} {
		t.Run(variant, func(t *testing.T) {
			var got []rec
			if variant == "ours" {
				got, err = readBytes(t, buf.Bytes())
				if err != nil {
					t.Fatal(err)
				}
			} else {
				// Independent reader: pcapgo must agree on what we wrote.
				r, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.NgReaderOptions{WantMixedLinkType: true})
				if err != nil {
					t.Fatal(err)
				}
				for {
					data, ci, err := r.ReadPacketData()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					intf, _ := r.Interface(ci.InterfaceIndex)
					got = append(got, rec{TS: ci.Timestamp.UnixNano(), Link: uint32(intf.LinkType), Data: data, Orig: ci.Length, Iface: ci.InterfaceIndex})
				}
			}
			if len(got) != len(ins) {
				t.Fatalf("got %d packets, want %d", len(got), len(ins))
			}
			for i, p := range ins {
				want := payload(i, p.n)
				if p.iface == raw && len(want) > 128 {
					want = want[:128]
				}
				link := LinkEthernet
				if p.iface == raw {
					link = LinkRaw
				}
				g := got[i]
				if g.TS != p.ts || g.Iface != p.iface || g.Link != link || !bytes.Equal(g.Data, want) || g.Orig != p.n {
					t.Errorf("packet %d: got ts=%d iface=%d link=%d len=%d orig=%d", i, g.TS, g.Iface, g.Link, len(g.Data), g.Orig)
				}
			}
		})
	}
}

// TestPcapgoWriters reads files written by gopacket's pcapgo, an
// independent implementation of both formats.
func TestPcapgoWriters(t *testing.T) {
	type pkt struct {
		ts    time.Time
		iface int
		data  []byte
		orig  int
	}
	base := time.Unix(1_650_000_000, 987_654_321)
	pkts := []pkt{
		{base, 0, payload(1, 42), 42},
		{base.Add(1500 * time.Microsecond), 1, payload(2, 1400), 1500},
		{base.Add(-3 * time.Second), 0, payload(3, 1), 1}, // backwards: passed through
		{base.Add(time.Hour), 1, payload(4, 333), 333},
	}
	t.Run("pcap-micro", func(t *testing.T) {
		var buf bytes.Buffer
		w := pcapgo.NewWriter(&buf)
		if err := w.WriteFileHeader(65536, layers.LinkTypeLinuxSLL); err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: p.orig}
			if err := w.WritePacket(ci, p.data); err != nil {
				t.Fatal(err)
			}
		}
		got, err := readBytes(t, buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(pkts) {
			t.Fatalf("got %d packets", len(got))
		}
		for i, p := range pkts {
			want := p.ts.Truncate(time.Microsecond).UnixNano()
			if got[i].TS != want || got[i].Link != LinkLinuxSLL || !bytes.Equal(got[i].Data, p.data) || got[i].Orig != p.orig {
				t.Errorf("packet %d: ts %d want %d, link %d", i, got[i].TS, want, got[i].Link)
			}
		}
	})
	t.Run("pcap-nano", func(t *testing.T) {
		var buf bytes.Buffer
		w := pcapgo.NewWriterNanos(&buf)
		if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: p.orig}
			if err := w.WritePacket(ci, p.data); err != nil {
				t.Fatal(err)
			}
		}
		got, err := readBytes(t, buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(pkts) {
			t.Fatalf("got %d packets", len(got))
		}
		for i, p := range pkts {
			if got[i].TS != p.ts.UnixNano() || got[i].Link != LinkEthernet || !bytes.Equal(got[i].Data, p.data) {
				t.Errorf("packet %d: ts %d want %d", i, got[i].TS, p.ts.UnixNano())
			}
		}
	})
	t.Run("pcapng-two-interfaces", func(t *testing.T) {
		var buf bytes.Buffer
		w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535},
			pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "test", Comment: "two interfaces"}})
		if err != nil {
			t.Fatal(err)
		}
		id, err := w.AddInterface(pcapgo.NgInterface{Name: "any", LinkType: layers.LinkTypeLinuxSLL2, SnapLength: 262144})
		if err != nil || id != 1 {
			t.Fatalf("AddInterface: %d %v", id, err)
		}
		for i, p := range pkts {
			ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: p.orig, InterfaceIndex: p.iface}
			if err := w.WritePacket(ci, p.data); err != nil {
				t.Fatal(err)
			}
			if i == 1 { // an Interface Statistics Block in the middle: must be skipped
				if err := w.WriteInterfaceStats(1, pcapgo.NgInterfaceStatistics{LastUpdate: p.ts, PacketsReceived: 2, PacketsDropped: 0}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		got, err := readBytes(t, buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(pkts) {
			t.Fatalf("got %d packets", len(got))
		}
		links := []uint32{LinkEthernet, LinkLinuxSLL2}
		for i, p := range pkts {
			g := got[i]
			if g.TS != p.ts.UnixNano() || g.Iface != p.iface || g.Link != links[p.iface] || !bytes.Equal(g.Data, p.data) || g.Orig != p.orig {
				t.Errorf("packet %d: got ts=%d iface=%d link=%d orig=%d; want ts=%d iface=%d link=%d orig=%d",
					i, g.TS, g.Iface, g.Link, g.Orig, p.ts.UnixNano(), p.iface, links[p.iface], p.orig)
			}
		}
	})
}

func TestHandWrittenPcap(t *testing.T) {
	tests := []struct {
		name     string
		order    binary.AppendByteOrder
		nanos    bool
		linkIn   uint32
		wantLink uint32
		frac     uint32
		wantFrac int64
	}{
		{"big-endian-micro", binary.BigEndian, false, 1, LinkEthernet, 123456, 123456000},
		{"big-endian-nano", binary.BigEndian, true, 113, LinkLinuxSLL, 123456789, 123456789},
		{"little-endian-fcs-bits-masked", binary.LittleEndian, false, 0x10000000 | 1, LinkEthernet, 1, 1000},
		{"dlt-raw-12", binary.BigEndian, false, 12, LinkRaw, 0, 0},
		{"dlt-raw-14", binary.LittleEndian, true, 14, LinkRaw, 999999999, 999999999},
		{"raw-ipv4-228", binary.LittleEndian, false, 228, LinkIPv4, 999999, 999999000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newPcapBuilder(tt.order, tt.nanos, tt.linkIn)
			b.rec(0xFFFFFFFF, tt.frac, []byte{1, 2, 3}, 1500) // year 2106: sec is unsigned
			b.rec(1, tt.frac, nil, 0)
			got, err := readBytes(t, b.b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("got %d packets", len(got))
			}
			if want := int64(0xFFFFFFFF)*1e9 + tt.wantFrac; got[0].TS != want {
				t.Errorf("ts %d, want %d", got[0].TS, want)
			}
			if want := 1e9 + tt.wantFrac; got[1].TS != want {
				t.Errorf("ts %d, want %d", got[1].TS, want)
			}
			if got[0].Link != tt.wantLink || !bytes.Equal(got[0].Data, []byte{1, 2, 3}) || got[0].Orig != 1500 || got[0].Offset != 24 {
				t.Errorf("got %+v", got[0])
			}
			if got[1].Offset != 24+16+3 || len(got[1].Data) != 0 {
				t.Errorf("second record %+v", got[1])
			}
		})
	}
}

func TestHandWrittenPcapng(t *testing.T) {
	for _, order := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		name := "little-endian"
		if order == binary.BigEndian {
			name = "big-endian"
		}
		t.Run(name, func(t *testing.T) {
			g := &ngBuilder{o: order}
			tsres := func(v byte) []byte { return g.opt(9, []byte{v}) }
			tsoff := func(s int64) []byte { return g.opt(14, order.AppendUint64(nil, uint64(s))) }
			g.shb()
			g.idb(1, 0)                                                   // 0: default µs
			g.idb(101, 0, g.opt(2, []byte("lo")), tsres(9))               // 1: ns, name before tsresol
			g.idb(113, 0, tsres(0x80|20))                                 // 2: 2^-20 s
			g.idb(276, 0, tsres(0x80|32), tsoff(1000))                    // 3: 2^-32 s, +1000 s
			g.idb(228, 0, tsres(12))                                      // 4: picoseconds
			g.idb(229, 0, tsres(3), g.opt(0xBEEF, []byte{1, 2, 3, 4, 5})) // 5: ms, unknown option
			g.epb(0, 1_234_567_890_123_456, []byte("a"), 1)
			g.block(4, []byte{0, 0, 0, 0}) // Name Resolution Block: skipped
			g.epb(1, 1_234_567_890_123_456_789, []byte("bb"), 2)
			g.spb(3, []byte("ccc")) // SPB: iface 0, previous timestamp, caplen = min(orig, snaplen)
			g.epb(2, 5<<20|1<<19, []byte("dddd"), 4)
			g.block(5, make([]byte, 20))                   // Interface Statistics Block: skipped
			g.block(0x0BAD, []byte("custom block body..")) // unknown: skipped
			g.epb(3, 7<<32|1<<31, []byte("eeeee"), 5)
			g.opb(4, 1_234_567_890_123_456_789, []byte("ffffff"), 6)
			g.epb(5, 1_234_567_890_123, nil, 0)
			// A second section in the other byte order: the interface list restarts.
			g2 := &ngBuilder{o: binary.LittleEndian}
			if order == binary.LittleEndian {
				g2.o = binary.BigEndian
			}
			g2.shb().idb(276, 0, g2.opt(9, []byte{6})).epb(0, 42, []byte("g"), 1)
			file := append(g.b, g2.b...)

			got, err := readBytes(t, file)
			if err != nil {
				t.Fatal(err)
			}
			want := []struct {
				ts    int64
				link  uint32
				iface int
				data  string
				orig  int
			}{
				{1_234_567_890_123_456_000, 1, 0, "a", 1},
				{1_234_567_890_123_456_789, 101, 1, "bb", 2},
				{1_234_567_890_123_456_789, 1, 0, "ccc", 3},
				{5_500_000_000, 113, 2, "dddd", 4},
				{1007_500_000_000, 276, 3, "eeeee", 5},
				{1_234_567_890_123_456, 228, 4, "ffffff", 6},
				{1_234_567_890_123 * 1_000_000, 229, 5, "", 0},
				{42_000, 276, 0, "g", 1},
			}
			if len(got) != len(want) {
				t.Fatalf("got %d packets, want %d", len(got), len(want))
			}
			for i, w := range want {
				g := got[i]
				if g.TS != w.ts || g.Link != w.link || g.Iface != w.iface || string(g.Data) != w.data || g.Orig != w.orig {
					t.Errorf("packet %d: got ts=%d link=%d iface=%d data=%q orig=%d; want %+v", i, g.TS, g.Link, g.Iface, g.Data, g.Orig, w)
				}
			}
		})
	}
}

func TestSPBSnaplen(t *testing.T) {
	g := &ngBuilder{o: binary.LittleEndian}
	g.shb().idb(1, 2).spb(5, []byte("hello")) // snaplen 2 wins over room in the block
	got, err := readBytes(t, g.b)
	if err != nil || len(got) != 1 || string(got[0].Data) != "he" || got[0].Orig != 5 {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestTimestampResolutions(t *testing.T) {
	tests := []struct {
		name  string
		resol byte
		ts    uint64
		want  int64
	}{
		{"seconds", 0, 3, 3e9},
		{"micro", 6, 1_000_001, 1_000_001_000},
		{"nano", 9, 1<<63 - 1, 1<<63 - 1},
		{"10ns", 8, 12, 120},
		{"pico-truncates", 12, 1999, 1},
		{"1e-29-everything-zero", 29, 1 << 60, 0},
		{"1e-28", 28, 1e19, 1},
		{"2^0", 0x80, 2, 2e9},
		{"2^-1", 0x81, 3, 1_500_000_000},
		{"2^-10-floor", 0x80 | 10, 1, 976_562},
		{"2^-30", 0x80 | 30, 1<<30 + 1<<29, 1_500_000_000},
		{"2^-63", 0x80 | 63, 1 << 62, 500_000_000},
		{"2^-64", 0x80 | 64, 1 << 63, 500_000_000},
		{"2^-127", 0x80 | 127, 1 << 63, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var i ngIface
			i.setResolution(tt.resol)
			if got := i.toNs(tt.ts); got != tt.want {
				t.Fatalf("toNs(%d) at resolution 0x%x = %d, want %d", tt.ts, tt.resol, got, tt.want)
			}
		})
	}
}

// boundaries walks a capture file's records or blocks with the simplest
// possible loop (no validation) and returns the start offset of each one
// and the offsets where a packet record/block starts.
func boundaries(t *testing.T, b []byte) (starts []int, packet map[int]bool) {
	t.Helper()
	packet = map[int]bool{}
	le := binary.LittleEndian
	if le.Uint32(b) == 0x0A0D0D0A {
		for off := 0; off < len(b); {
			starts = append(starts, off)
			typ := le.Uint32(b[off:])
			packet[off] = typ == 6 || typ == 3 || typ == 2
			off += int(le.Uint32(b[off+4:]))
		}
		return starts, packet
	}
	starts = append(starts, 0)
	for off := 24; off < len(b); {
		starts = append(starts, off)
		packet[off] = true
		off += 16 + int(le.Uint32(b[off+8:]))
	}
	return starts, packet
}

// TestTruncatedEveryOffset cuts real files at every byte: no panic, every
// complete packet before the cut is returned, then ErrTruncated at the
// offset of the record or block that was cut (or a clean EOF on a boundary).
func TestTruncatedEveryOffset(t *testing.T) {
	dir := sharedTestdata(t)
	for _, name := range []string{"pcapplusplus__sip_reqs.pcap", "goffinet__sip-register-dns-srv.pcapng", "ndpi__http_on_sip_port.pcap"} {
		t.Run(name, func(t *testing.T) {
			full, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			all, err := readBytes(t, full)
			if err != nil {
				t.Fatal(err)
			}
			starts, isPacket := boundaries(t, full)
			headerEnd := starts[1]
			for cut := 0; cut < len(full); cut++ {
				got, err := readBytes(t, full[:cut])
				// Expected: the block containing byte 'cut' (or none if cut is a boundary).
				complete, damaged := 0, -1
				for _, s := range starts {
					if s >= cut {
						break
					}
					damaged = s
				}
				onBoundary := false
				for _, s := range starts {
					if s == cut {
						onBoundary = true
					}
				}
				for _, s := range starts {
					if isPacket[s] && s < cut && !(s == damaged && !onBoundary) {
						complete++
					}
				}
				if cut < headerEnd {
					if got != nil {
						t.Fatalf("cut %d: packets from a file without a complete header", cut)
					}
					wantFileError(t, err, ErrTruncated, 0)
					continue
				}
				if len(got) != complete {
					t.Fatalf("cut %d: got %d packets, want %d", cut, len(got), complete)
				}
				for i := range got {
					if !bytes.Equal(got[i].Data, all[i].Data) || got[i].TS != all[i].TS {
						t.Fatalf("cut %d: packet %d differs", cut, i)
					}
				}
				if onBoundary {
					if err != nil {
						t.Fatalf("cut %d on a boundary: %v", cut, err)
					}
					continue
				}
				wantFileError(t, err, ErrTruncated, int64(damaged))
			}
		})
	}
}

func TestDamageTable(t *testing.T) {
	le := binary.LittleEndian
	ng := func() *ngBuilder { return (&ngBuilder{o: le}).shb().idb(1, 0) } // 28 + 20 bytes
	const pktOff = 48
	good := ng().epb(0, 1, []byte("x"), 1).b
	setU32 := func(b []byte, off int, v uint32) []byte {
		b = bytes.Clone(b)
		le.PutUint32(b[off:], v)
		return b
	}
	pcap := newPcapBuilder(le, false, 1).rec(1, 2, []byte("abc"), 3).b
	tests := []struct {
		name    string
		in      []byte
		kind    error // nil: no error
		offset  int64
		packets int
	}{
		{"empty", nil, ErrTruncated, 0, 0},
		{"one byte", []byte{0xd4}, ErrTruncated, 0, 0},
		{"gzip magic only", []byte{0x1f, 0x8b}, ErrTruncated, 0, 0},
		{"unknown magic", []byte("GET / HTTP/1.1\r\n\r\n................"), ErrCorrupt, 0, 0},
		{"pcap header short", pcap[:23], ErrTruncated, 0, 0},
		{"pcap record header short", pcap[:24+15], ErrTruncated, 24, 0},
		{"pcap record data short", pcap[:len(pcap)-1], ErrTruncated, 24, 0},
		{"pcap caplen too large", setU32(pcap, 24+8, MaxSnaplen+1), ErrCorrupt, 24, 0},
		{"pcap caplen at max, data missing", setU32(pcap, 24+8, MaxSnaplen), ErrTruncated, 24, 0},
		{"pcap good", pcap, nil, 0, 1},
		{"pcapng good", good, nil, 0, 1},
		{"pcapng SHB short", good[:11], ErrTruncated, 0, 0},
		{"pcapng SHB bad byte-order magic", setU32(good, 8, 0x01020304), ErrCorrupt, 8, 0},
		{"pcapng SHB length not multiple of 4", setU32(good, 4, 30), ErrCorrupt, 0, 0},
		{"pcapng SHB length below minimum", setU32(good, 4, 24), ErrCorrupt, 0, 0},
		{"pcapng SHB trailing length differs", setU32(good, 24, 32), ErrCorrupt, 0, 0},
		{"pcapng SHB major version 2", func() []byte { b := bytes.Clone(good); b[12] = 2; return b }(), ErrCorrupt, 0, 0},
		{"pcapng IDB length 8", setU32(good, 28+4, 8), ErrCorrupt, 28, 0},
		{"pcapng IDB length 13", setU32(good, 28+4, 13), ErrCorrupt, 28, 0},
		{"pcapng IDB length 16 (too short for an IDB)", setU32(setU32(good, 28+4, 16), 28+12, 16), ErrCorrupt, 28, 0},
		{"pcapng EPB length huge", setU32(good, pktOff+4, 0xFFFFFFF0), ErrCorrupt, pktOff, 0},
		{"pcapng EPB trailing length differs", setU32(good, len(good)-4, 40), ErrCorrupt, pktOff, 0},
		{"pcapng EPB caplen exceeds block", setU32(good, pktOff+20, 5), ErrCorrupt, pktOff, 0},
		{"pcapng EPB undefined interface", setU32(good, pktOff+8, 1), ErrCorrupt, pktOff, 0},
		{"pcapng EPB cut", good[:len(good)-1], ErrTruncated, pktOff, 0},
		{"pcapng block header cut", good[:pktOff+5], ErrTruncated, pktOff, 0},
		{"pcapng SPB before IDB", (&ngBuilder{o: le}).shb().spb(1, []byte("x")).b, ErrCorrupt, 28, 0},
		{"pcapng SPB too short", setU32(setU32(ng().spb(0, nil).b, pktOff+4, 12), pktOff+8, 12), ErrCorrupt, pktOff, 0},
		{"pcapng EPB too short", ng().block(6, make([]byte, 12)).b, ErrCorrupt, pktOff, 0},
		{"pcapng unknown block huge", setU32(ng().block(0x99, nil).b, pktOff+4, 0x7FFFFFF0), ErrCorrupt, pktOff, 0},
		{"pcapng unknown block trailing differs", setU32(ng().block(0x99, []byte("abcd")).b, pktOff+12, 99), ErrCorrupt, pktOff, 0},
		{"pcapng packet then damage", append(bytes.Clone(good), 6, 0, 0, 0, 9, 0, 0, 0), ErrCorrupt, int64(len(good)), 1},
		{"pcapng second SHB bad", append(bytes.Clone(good), (&ngBuilder{o: le}).block(0x0A0D0D0A, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}).b...), ErrCorrupt, int64(len(good)) + 8, 1},
		{"pcapng IDB malformed option is ignored", ng().idb(1, 0, []byte{9, 0, 200, 0}).epb(1, 1, []byte("y"), 1).b, nil, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readBytes(t, tt.in)
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
			} else {
				wantFileError(t, err, tt.kind, tt.offset)
				want := fmt.Sprintf("capture: mem: offset %d: ", tt.offset)
				if s := err.Error(); len(s) < len(want) || s[:len(want)] != want {
					t.Errorf("message %q does not start with %q", s, want)
				}
			}
			if len(got) != tt.packets {
				t.Fatalf("got %d packets, want %d", len(got), tt.packets)
			}
		})
	}
}

func TestStickyError(t *testing.T) {
	b := newPcapBuilder(binary.LittleEndian, false, 1).rec(1, 0, []byte("a"), 1).b
	r, err := NewFileReader(bytes.NewReader(b[:len(b)-1]), "x")
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	e1 := r.Next(&p)
	e2 := r.Next(&p)
	if e1 == nil || e1 != e2 {
		t.Fatalf("errors not sticky: %v / %v", e1, e2)
	}
	r.Close()
	if err := r.Next(&p); err != e1 {
		t.Fatalf("after Close: %v", err)
	}
}

func TestGzip(t *testing.T) {
	dir := sharedTestdata(t)
	src := filepath.Join(dir, "goffinet__sip-phone-to-phone.pcapng")
	plain, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(plain)
	zw.Close()
	tmp := filepath.Join(t.TempDir(), "x.pcapng.gz")
	if err := os.WriteFile(tmp, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := readBytes(t, plain)
	if err != nil || len(want) != 24 {
		t.Fatalf("plain: %d packets, %v", len(want), err)
	}
	t.Run("OpenFile", func(t *testing.T) {
		r, err := OpenFile(tmp)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, err := readAll(t, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d packets, want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i].Data, want[i].Data) || got[i].TS != want[i].TS || got[i].Offset != want[i].Offset {
				t.Fatalf("packet %d differs", i)
			}
		}
	})
	t.Run("truncated gzip stream", func(t *testing.T) {
		got, err := readBytes(t, z.Bytes()[:z.Len()/2])
		var fe *FileError
		if !errors.As(err, &fe) || !errors.Is(err, ErrTruncated) {
			t.Fatalf("err = %v", err)
		}
		if len(got) == 0 || len(got) >= len(want) {
			t.Fatalf("got %d packets from half a file", len(got))
		}
	})
	t.Run("corrupt gzip checksum", func(t *testing.T) {
		b := bytes.Clone(z.Bytes())
		b[len(b)-8] ^= 0xFF // CRC-32 in the gzip trailer
		got, err := readBytes(t, b)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err = %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d packets before the checksum error, want %d", len(got), len(want))
		}
	})
}

func TestOpenFileMissing(t *testing.T) {
	if _, err := OpenFile(filepath.Join(t.TempDir(), "nope.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

func TestDataIsBoundedView(t *testing.T) {
	b := newPcapBuilder(binary.LittleEndian, false, 1).rec(1, 0, []byte("abc"), 3).rec(2, 0, []byte("def"), 3).b
	r, err := NewFileReader(bytes.NewReader(b), "x")
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	if err := r.Next(&p); err != nil {
		t.Fatal(err)
	}
	if cap(p.Data) != len(p.Data) {
		t.Fatalf("Data has spare capacity %d: appending would overwrite the next record", cap(p.Data))
	}
}

// hideLen hides a bytes.Reader's Len, so NewFileReader gives it the full bufSize buffer
// as for a file, and delivers at most half of each read (iotest.HalfReader): records then
// cross refills of the buffer at every offset the sizes below produce.
type hideLen struct{ r io.Reader }

func (h hideLen) Read(p []byte) (int, error) { return h.r.Read(p) }

// TestRecordsAcrossRefills: a pcap and a pcapng file of several read buffers, with
// records of 1 to 9,000 bytes and (pcapng) skipped blocks larger than the buffer, read
// through a file-sized buffer refilled in half reads, return every record exactly as
// written: the expectation is the builder's own list of records, not another read.
func TestRecordsAcrossRefills(t *testing.T) {
	type rec struct {
		ts   int64
		data []byte
	}
	var want []rec
	pb := newPcapBuilder(binary.LittleEndian, true, 1)
	ng := &ngBuilder{o: binary.BigEndian}
	ng.shb().idb(1, 0, ng.opt(9, []byte{9})) // ns timestamps
	for i, size := 0, 0; size < 3*bufSize; i++ {
		n := 1 + (i*7919)%9000
		d := payload(i, n)
		want = append(want, rec{ts: int64(i+1)*1e9 + int64(i), data: d})
		pb.rec(uint32(i+1), uint32(i), d, uint32(n))
		ng.epb(0, uint64(i+1)*1e9+uint64(i), d, uint32(n))
		if i%97 == 0 {
			ng.block(0x0BAD, make([]byte, bufSize+4*i)) // skipped: larger than the buffer
		}
		size += n + 16
	}
	for name, file := range map[string][]byte{"pcap": pb.b, "pcapng": ng.b} {
		r, err := NewFileReader(hideLen{iotest.HalfReader(bytes.NewReader(file))}, name)
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		for i, w := range want {
			if err := r.Next(&p); err != nil {
				t.Fatalf("%s: record %d: %v", name, i, err)
			}
			if p.TS != w.ts || !bytes.Equal(p.Data, w.data) || p.OrigLen != len(w.data) {
				t.Fatalf("%s: record %d: ts %d, %d bytes (orig %d); want ts %d, %d bytes", name, i, p.TS, len(p.Data), p.OrigLen, w.ts, len(w.data))
			}
		}
		if err := r.Next(&p); err != io.EOF {
			t.Fatalf("%s: after the last record: %v, want io.EOF", name, err)
		}
	}
}
