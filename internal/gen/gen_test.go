package gen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/pion/rtcp"
)

type record struct {
	ci   gopacket.CaptureInfo
	lt   layers.LinkType
	data []byte
}

// readBack reads a written capture with gopacket's readers (independent of
// our writer) and returns its records with the link type of their interface.
func readBack(t testing.TB, f Format, b []byte) []record {
	t.Helper()
	var out []record
	if f == Pcapng || f == PcapngMultiIface {
		r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			t.Fatalf("NgReader: %v", err)
		}
		for {
			data, ci, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			intf, err := r.Interface(ci.InterfaceIndex)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, record{ci, intf.LinkType, data})
		}
		return out
	}
	r, err := pcapgo.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("pcap reader: %v", err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		out = append(out, record{ci, r.LinkType(), data})
	}
	return out
}

func write(t testing.TB, s Scenario) ([]byte, Truth) {
	t.Helper()
	var buf bytes.Buffer
	tr, err := s.Write(&buf)
	if err != nil {
		t.Fatalf("%s: Write: %v", s.Name, err)
	}
	return buf.Bytes(), tr
}

func TestDeterministic(t *testing.T) {
	for _, s := range Catalogue() {
		t.Run(s.Name, func(t *testing.T) {
			a, ta := write(t, s)
			b, tb := write(t, s)
			if !bytes.Equal(a, b) {
				t.Fatal("two writes of the same scenario differ")
			}
			if fmt.Sprint(ta) != fmt.Sprint(tb) {
				t.Fatal("two writes gave different truth")
			}
			s.Seed++
			c, _ := write(t, s)
			if bytes.Equal(a, c) {
				t.Fatal("a different seed gave the same bytes")
			}
		})
	}
	if fmt.Sprint(Catalogue()) != fmt.Sprint(Catalogue()) {
		t.Fatal("Catalogue is not deterministic")
	}
}

var kebab = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func TestCatalogueCoverage(t *testing.T) {
	seen := map[string]bool{}
	formats, linksSeen, encaps, transports := map[Format]bool{}, map[Link]bool{}, map[Encap]bool{}, map[Transport]bool{}
	var modes TCPMode
	names := map[string]bool{}
	for _, s := range Catalogue() {
		if !kebab.MatchString(s.Name) || names[s.Name] {
			t.Errorf("bad or duplicate name %q", s.Name)
		}
		names[s.Name] = true
		formats[s.Format], linksSeen[s.Link], encaps[s.Encap], transports[s.Transport] = true, true, true, true
		modes |= s.TCPMode
		for _, c := range s.Calls {
			if c.Outcome != Answered {
				seen[fmt.Sprint("outcome", c.Outcome)] = true
			}
		}
	}
	for f := PcapMicro; f <= PcapngMultiIface; f++ {
		if !formats[f] {
			t.Errorf("no scenario for format %d", f)
		}
	}
	for l := Ethernet; l <= Loop; l++ {
		if !linksSeen[l] {
			t.Errorf("no scenario for link %d", l)
		}
	}
	for e := None; e <= GTPU; e++ {
		if !encaps[e] {
			t.Errorf("no scenario for encap %d", e)
		}
	}
	for tr := UDP; tr <= HEP; tr++ {
		if !transports[tr] {
			t.Errorf("no scenario for transport %d", tr)
		}
	}
	if modes != Split|Coalesce|Retransmit|Reorder {
		t.Errorf("TCP modes covered: %b", modes)
	}
	for o := Busy; o <= Failed; o++ {
		if !seen[fmt.Sprint("outcome", o)] {
			t.Errorf("no scenario for outcome %d", o)
		}
	}
	for _, n := range []string{"call-busy", "call-cancel", "call-404", "call-480", "call-503", "call-redirect",
		"call-retransmit-invite", "call-proxy-hops", "call-fork", "call-reinvite-hold", "call-port-move",
		"call-early-media", "call-b2bua", "call-drop-q850", "call-rtp-timeout", "call-nat-media",
		"call-orphan-rtp", "call-registration", "link-sll2", "encap-erspan3", "tcp-split-coalesce"} {
		if !names[n] {
			t.Errorf("catalogue lacks %s", n)
		}
	}
}

func wantLinkType(l Link) layers.LinkType { return linkType(l) }

// TestCatalogueReadBack re-reads every scenario with pcapgo and decodes every
// record with gopacket; the record count must equal the truth.
func TestCatalogueReadBack(t *testing.T) {
	for _, s := range Catalogue() {
		t.Run(s.Name, func(t *testing.T) {
			b, tr := write(t, s)
			recs := readBack(t, s.Format, b)
			if len(recs) != tr.Packets || tr.Packets == 0 {
				t.Fatalf("read %d records, truth says %d", len(recs), tr.Packets)
			}
			if s.Format == PcapBigEndian && binary.BigEndian.Uint32(b) != 0xa1b2c3d4 {
				t.Fatalf("not a big-endian pcap: % x", b[:4])
			}
			if s.Format == PcapNano && binary.LittleEndian.Uint32(b) != 0xa1b23c4d {
				t.Fatalf("not a nanosecond pcap: % x", b[:4])
			}
			ifaceLinks := map[layers.LinkType]int{}
			var last time.Time
			for i, r := range recs {
				ifaceLinks[r.lt]++
				if r.ci.Timestamp.Before(last) {
					t.Fatalf("record %d goes back in time", i)
				}
				last = r.ci.Timestamp
				p := gopacket.NewPacket(r.data, r.lt, gopacket.Default)
				if el := p.ErrorLayer(); el != nil && s.Encap != ERSPAN3 {
					t.Fatalf("record %d: gopacket decode error: %v", i, el.Error())
				}
			}
			if s.Format == PcapngMultiIface {
				if len(ifaceLinks) != 2 || ifaceLinks[wantLinkType(s.Link)] == 0 {
					t.Fatalf("interfaces used: %v", ifaceLinks)
				}
			} else if len(ifaceLinks) != 1 || ifaceLinks[wantLinkType(s.Link)] == 0 {
				t.Fatalf("link types %v, want %v", ifaceLinks, wantLinkType(s.Link))
			}
		})
	}
}

// TestTruthAgainstWire checks the truth against the packets as gopacket
// decodes them: RTP per stream counted from the wire, SIP start lines counted.
func TestTruthAgainstWire(t *testing.T) {
	tests := []string{"format-pcap-us", "rtp-loss", "rtp-dup-reorder", "call-port-move", "call-nat-media", "call-reinvite-hold", "call-orphan-rtp", "encap-vxlan", "link-loop", "call-early-media", "codec-opus",
		"pptp", "gtpu", "gtpu-ipv6"}
	cat := map[string]Scenario{}
	for _, s := range Catalogue() {
		cat[s.Name] = s
	}
	for _, name := range tests {
		t.Run(name, func(t *testing.T) {
			s := cat[name]
			b, tr := write(t, s)
			type key struct {
				ssrc     uint32
				src, dst netip.AddrPort
			}
			type acc struct {
				n    uint64
				seqs map[uint16]int
			}
			got := map[key]*acc{}
			sipLines := 0
			for _, r := range readBack(t, s.Format, b) {
				p := gopacket.NewPacket(r.data, r.lt, gopacket.Default)
				var src, dst netip.Addr
				// innermost network layer
				for _, l := range p.Layers() {
					switch ip := l.(type) {
					case *layers.IPv4:
						src, dst = netip.AddrFrom4([4]byte(ip.SrcIP.To4())), netip.AddrFrom4([4]byte(ip.DstIP.To4()))
					case *layers.IPv6:
						src, dst = netip.AddrFrom16([16]byte(ip.SrcIP)), netip.AddrFrom16([16]byte(ip.DstIP))
					}
				}
				var udp *layers.UDP
				for _, l := range p.Layers() {
					if u, ok := l.(*layers.UDP); ok {
						udp = u // innermost
					}
				}
				if udp == nil {
					continue
				}
				pl := udp.Payload
				if bytes.Contains(pl, []byte(" SIP/2.0\r\n")) || bytes.HasPrefix(pl, []byte("SIP/2.0 ")) {
					sipLines++
					continue
				}
				if len(pl) < 12 || pl[0]>>6 != 2 || udp.DstPort == vxlanPort || (pl[1] >= 200 && pl[1] <= 204) {
					continue
				}
				k := key{binary.BigEndian.Uint32(pl[8:]), netip.AddrPortFrom(src, uint16(udp.SrcPort)), netip.AddrPortFrom(dst, uint16(udp.DstPort))}
				a := got[k]
				if a == nil {
					a = &acc{seqs: map[uint16]int{}}
					got[k] = a
				}
				a.n++
				a.seqs[binary.BigEndian.Uint16(pl[2:])]++
			}
			var want []StreamTruth
			sip := 0
			for _, c := range tr.Calls {
				want = append(want, c.Streams...)
				sip += c.SIPMessages
			}
			want = append(want, tr.Orphans...)
			if sip != sipLines {
				t.Errorf("SIP messages on the wire %d, truth %d", sipLines, sip)
			}
			if len(got) != len(want) {
				t.Fatalf("streams on the wire %d, truth %d", len(got), len(want))
			}
			for _, w := range want {
				a := got[key{w.SSRC, w.Src, w.Dst}]
				if a == nil {
					t.Fatalf("truth stream %08x %v→%v not on the wire", w.SSRC, w.Src, w.Dst)
				}
				var dups uint64
				for _, c := range a.seqs {
					dups += uint64(c - 1)
				}
				if a.n != w.Packets || dups != w.Duplicates || uint64(len(a.seqs))+w.Lost != w.Expected {
					t.Errorf("%08x: wire packets %d dups %d unique %d; truth %+v", w.SSRC, a.n, dups, len(a.seqs), w)
				}
			}
		})
	}
}

// TestRTCPRoundTrip parses the generated RTCP with pion/rtcp and recomputes
// RTT = arrival - LSR - DLSR (RFC 3550 section 6.4.1) at the capture point.
func TestRTCPRoundTrip(t *testing.T) {
	var s Scenario
	for _, c := range Catalogue() {
		if c.Name == "rtp-rtcp" {
			s = c
		}
	}
	b, _ := write(t, s)
	srAt := map[uint32]time.Time{} // middle 32 bits of NTP → capture time
	n := 0
	for _, r := range readBack(t, s.Format, b) {
		p := gopacket.NewPacket(r.data, r.lt, gopacket.Default)
		u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok || u.SrcPort%2 == 0 {
			continue
		}
		pkts, err := rtcp.Unmarshal(u.Payload)
		if err != nil {
			t.Fatalf("pion/rtcp: %v", err)
		}
		sr, ok := pkts[0].(*rtcp.SenderReport)
		if !ok {
			t.Fatalf("first packet %T", pkts[0])
		}
		srAt[uint32(sr.NTPTime>>16)] = r.ci.Timestamp
		for _, rr := range sr.Reports {
			if rr.LastSenderReport == 0 {
				continue
			}
			sent, ok := srAt[rr.LastSenderReport]
			if !ok {
				t.Fatalf("LSR %08x refers to no SR seen", rr.LastSenderReport)
			}
			rtt := r.ci.Timestamp.Sub(sent) - time.Duration(rr.Delay)*time.Second/65536
			if d := rtt - time.Duration(s.Calls[0].RTTMs*float64(time.Millisecond)); d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("RTT %v, want %vms", rtt, s.Calls[0].RTTMs)
			}
			n++
		}
	}
	if n < 3 {
		t.Fatalf("only %d report blocks with LSR", n)
	}
}

// TestHEP checks the HEPv3 framing by hand (tshark 4.0 has no HEP dissector):
// chunk lengths add up, the payload chunk holds SIP or RTCP.
func TestHEP(t *testing.T) {
	s := one("hep-check", func(s *Scenario) { s.Transport = HEP; s.Calls[0].RTCP = true; s.Calls[0].TalkMs = 6000 })
	b, tr := write(t, s)
	sip, rtcpN := 0, 0
	for _, r := range readBack(t, s.Format, b) {
		p := gopacket.NewPacket(r.data, r.lt, gopacket.Default)
		u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok || u.DstPort != hepPort {
			continue
		}
		pl := u.Payload
		if string(pl[:4]) != "HEP3" || int(binary.BigEndian.Uint16(pl[4:])) != len(pl) {
			t.Fatalf("bad HEP header % x", pl[:6])
		}
		var typ byte
		var payload []byte
		for off := 6; off < len(pl); {
			if off+6 > len(pl) {
				t.Fatal("truncated chunk")
			}
			ct, cl := binary.BigEndian.Uint16(pl[off+2:]), int(binary.BigEndian.Uint16(pl[off+4:]))
			if cl < 6 || off+cl > len(pl) {
				t.Fatalf("chunk length %d", cl)
			}
			switch ct {
			case 11:
				typ = pl[off+6]
			case 15:
				payload = pl[off+6 : off+cl]
			}
			off += cl
		}
		switch typ {
		case 1:
			if !bytes.Contains(payload, []byte("SIP/2.0")) {
				t.Fatalf("HEP SIP chunk: %q", payload)
			}
			sip++
		case 5:
			if _, err := rtcp.Unmarshal(payload); err != nil {
				t.Fatal(err)
			}
			rtcpN++
		default:
			t.Fatalf("HEP type %d", typ)
		}
	}
	if sip != tr.Calls[0].SIPMessages || rtcpN == 0 {
		t.Fatalf("HEP SIP %d (truth %d), RTCP %d", sip, tr.Calls[0].SIPMessages, rtcpN)
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Scenario)
	}{
		{"vlan-on-raw", func(s *Scenario) { s.Encap, s.Link = VLAN, RawIP }},
		{"mpls-on-null", func(s *Scenario) { s.Encap, s.Link = MPLS, Null }},
		{"no-callid", func(s *Scenario) { s.Calls[0].CallID = "" }},
		{"bad-codec", func(s *Scenario) { s.Calls[0].Codec = "speex" }},
		{"no-address", func(s *Scenario) { s.Calls[0].Callee = netip.AddrPort{} }},
		{"ipip-v6", func(s *Scenario) {
			s.Encap = IPIP
			s.Calls[0].Caller = netip.MustParseAddrPort("[2001:db8::1]:5060")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := one("invalid", tc.mod)
			if _, err := s.Write(io.Discard); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// --- tshark as an oracle ---

func tshark(t *testing.T) string {
	p, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark not installed")
		}
		t.Skip("tshark not installed")
	}
	return p
}

var rtpRow = regexp.MustCompile(`^\s*[\d.]+\s+[\d.]+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+0x([0-9A-F]+)\s+.*?\s(\d+)\s+(-?\d+) \(`)

func TestTshark(t *testing.T) {
	bin := tshark(t)
	dir := t.TempDir()
	for _, s := range Catalogue() {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			b, tr := write(t, s)
			file := filepath.Join(dir, s.Name+".pcap")
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"-n", "-r", file, "-o", "rtp.heuristic_rtp:TRUE", "-o", "tcp.reassemble_out_of_order:TRUE"}
			if s.Transport == WS {
				args = append(args, "-d", "tcp.port==5060,http")
			}
			// SIP: every message decoded (HEP has no dissector in tshark 4.0).
			want := 0
			for _, c := range tr.Calls {
				want += c.SIPMessages
			}
			want += 4 * tr.Registrations
			want += tr.BurstMessages
			// A SPAN session delivers every frame twice; tshark shows both copies.
			copies := 1
			if s.SpanDuplicates {
				copies = 2
			}
			want *= copies
			// One run: a CSeq field line per packet, then the RTP stream table.
			out, err := exec.Command(bin, append(args, "-T", "fields", "-e", "sip.CSeq", "-z", "rtp,streams")...).Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			fields, table, _ := strings.Cut(string(out), "========================= RTP Streams")
			if s.Transport != HEP {
				got := 0
				for _, line := range strings.Split(fields, "\n") {
					if line = strings.TrimSpace(line); line != "" {
						got += len(strings.Split(line, ","))
					}
				}
				if got != want {
					t.Errorf("tshark decoded %d SIP messages, truth %d", got, want)
				}
			}
			type row struct{ pkts, lost int }
			rows := map[string]row{}
			for _, line := range strings.Split(table, "\n") {
				m := rtpRow.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				pk, _ := strconv.Atoi(m[6])
				lost, _ := strconv.Atoi(m[7])
				rows[fmt.Sprintf("%s:%s>%s:%s/%s", m[1], m[2], m[3], m[4], strings.ToUpper(m[5]))] = row{pk, lost}
			}
			var streams []StreamTruth
			for _, c := range tr.Calls {
				streams = append(streams, c.Streams...)
			}
			streams = append(streams, tr.Orphans...)
			for _, st := range streams {
				k := fmt.Sprintf("%s:%d>%s:%d/%08X", st.Src.Addr(), st.Src.Port(), st.Dst.Addr(), st.Dst.Port(), st.SSRC)
				r, ok := rows[k]
				if !ok {
					t.Errorf("tshark has no stream %s; has %v", k, rows)
					continue
				}
				if r.pkts != copies*int(st.Packets) || r.lost != int(st.Expected)-copies*int(st.Packets) {
					t.Errorf("stream %s: tshark packets %d lost %d; truth %+v", k, r.pkts, r.lost, st)
				}
			}
			if len(rows) != len(streams) {
				t.Errorf("tshark found %d RTP streams, truth %d", len(rows), len(streams))
			}
		})
	}
}

// TestLoadStreams writes Load(600, 60, 1) (about 3.6 M packets) to
// io.Discard and checks that the heap stays small while it does.
func TestLoadStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	s := Load(600, 60, 1)
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	}()
	start := time.Now()
	tr, err := s.Write(io.Discard)
	close(done)
	<-stopped
	if err != nil {
		t.Fatal(err)
	}
	if tr.Packets < 3_500_000 {
		t.Fatalf("only %d packets", tr.Packets)
	}
	t.Logf("%d packets in %v, peak HeapInuse %d MB", tr.Packets, time.Since(start), peak.Load()>>20)
	if peak.Load() > 200<<20 {
		t.Fatalf("HeapInuse peaked at %d MB", peak.Load()>>20)
	}
}

func BenchmarkWriteLoad(b *testing.B) {
	s := Load(50, 10, 1)
	cw := &countWriter{}
	tr, err := s.Write(cw)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(cw.n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Write(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(tr.Packets)*float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// FuzzWrite drives Write with arbitrary call parameters: it must not fail or
// panic, and what it writes must read back with the packet count it reports.
func FuzzWrite(f *testing.F) {
	f.Add(int64(1), uint8(0), uint8(0), uint8(0), uint8(0), uint16(0), uint16(400), uint16(500), uint8(0), uint8(20), "")
	f.Add(int64(2), uint8(3), uint8(4), uint8(1), uint8(15), uint16(0xffff), uint16(0), uint16(1000), uint8(3), uint8(30), "12#")
	f.Fuzz(func(t *testing.T, seed int64, format, encap, transport, mode uint8, flags uint16, ring, talk uint16, outcome, ptime uint8, dtmf string) {
		s := one("fuzz", nil)
		s.Seed = seed
		s.Format = Format(format % 5)
		s.Encap = Encap(encap % 11)
		s.Transport = Transport(transport % 5)
		s.TCPMode = TCPMode(mode & 15)
		s.Fragment = flags&1 != 0
		c := &s.Calls[0]
		c.RingMs, c.TalkMs = int(ring%3000), int(talk%3000)
		c.Outcome = Outcome(outcome % 7)
		c.PtimeMs = []int{10, 20, 30, 40, 60}[int(ptime)%5]
		c.RetransmitInvite, c.ProxyHop, c.EarlyMedia = flags&2 != 0, flags&4 != 0, flags&8 != 0
		c.NoBye, c.ReInviteHold, c.PortMove, c.NATMedia = flags&16 != 0, flags&32 != 0, flags&64 != 0, flags&128 != 0
		c.Fork, c.RTCP, c.ByeFromCallee = flags&256 != 0, flags&512 != 0, flags&1024 != 0
		if flags&2048 != 0 {
			c.Loss, c.LossBack, c.Duplicates, c.Reorder = []int{0, 3, 4}, []int{1}, []int{2, 5}, []int{0, 6, 7}
		}
		c.JitterMs = float64(flags >> 12)
		c.MediaStopEarlyMs = int(flags>>12) * 100
		if len(dtmf) > 8 {
			dtmf = dtmf[:8]
		}
		var d []byte
		for i := 0; i < len(dtmf); i++ {
			if _, ok := dtmfCode(dtmf[i]); ok {
				d = append(d, dtmf[i])
			}
		}
		c.DTMF = string(d)
		c.Codec = []string{"PCMU", "PCMA", "G729", "G722", "opus"}[int(outcome)%5]
		if flags&0x4000 != 0 {
			s.Link = LinuxSLL2
		}
		var buf bytes.Buffer
		tr, err := s.Write(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(readBack(t, s.Format, buf.Bytes())); n != tr.Packets {
			t.Fatalf("read %d, truth %d", n, tr.Packets)
		}
		for _, c := range tr.Calls {
			for _, st := range c.Streams {
				if st.Expected < st.Packets-st.Duplicates || st.Lost > st.Expected {
					t.Fatalf("inconsistent stream truth %+v", st)
				}
			}
		}
	})
}
