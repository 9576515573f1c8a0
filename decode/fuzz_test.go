package decode

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// fuzzLinks maps the fuzzer's link byte onto the link types we walk (and one unknown).
var fuzzLinks = []uint32{linkEthernet, linkLinuxSLL, linkLinuxSLL2, linkRaw, linkIPv4, linkIPv6, linkNull, linkLoop, linkRawOld1, 9999}

func fuzzLinkIndex(link uint32) byte {
	for i, l := range fuzzLinks {
		if l == link {
			return byte(i)
		}
	}
	return 0
}

// FuzzDecode feeds arbitrary frames to one decoder (state carries over between frames
// of one input: the frame is also split in two to exercise fragment and TCP tables).
func FuzzDecode(f *testing.F) {
	for _, c := range walkCases(f) {
		for _, fr := range c.frames {
			f.Add(fuzzLinkIndex(c.link), fr)
		}
	}
	f.Fuzz(func(t *testing.T, link byte, frame []byte) {
		d := New(DefaultConfig())
		lt := fuzzLinks[int(link)%len(fuzzLinks)]
		n := 0
		fn := func(ev *Event) {
			n++
			if ev.Kind < KindSIP || ev.Kind > KindRTCP {
				t.Fatalf("bad kind %d", ev.Kind)
			}
			if ev.Kind == KindSIP && ev.SIP == nil || ev.Kind == KindRTP && ev.RTP == nil {
				t.Fatal("missing parsed struct")
			}
		}
		d.Decode(lt, 1e9, frame, fn)
		d.Decode(lt, 2e9, frame, fn)
		d.Decode(lt, 2e9+1e6, frame, fn) // a capture duplicate: dropped
		if len(frame) > 2 {
			d.Decode(lt, 3e9, frame[:len(frame)/2], fn)
		}
		d.Expire(100e9)
		d.Flush(fn)
	})
}

// TestPrefixes is the out-of-bounds table: every prefix of every test packet decodes
// without panic, and a prefix never yields more events than the whole packet.
func TestPrefixes(t *testing.T) {
	for _, c := range walkCases(t) {
		t.Run(c.name, func(t *testing.T) {
			for fi, fr := range c.frames {
				for i := 0; i <= len(fr); i++ {
					d := New(DefaultConfig())
					for _, prev := range c.frames[:fi] {
						d.Decode(c.link, testTS, prev, func(*Event) {})
					}
					n := 0
					d.Decode(c.link, testTS, fr[:i], func(*Event) { n++ })
					if n > len(c.want) {
						t.Fatalf("frame %d prefix %d: %d events", fi, i, n)
					}
				}
			}
		})
	}
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzDecode from walkCases when
// CALLSCOPE_WRITE_SEEDS=1 (the corpus is checked in).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("CALLSCOPE_WRITE_SEEDS") != "1" {
		t.Skip("set CALLSCOPE_WRITE_SEEDS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, c := range walkCases(t) {
		for j, fr := range c.frames {
			body := fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", fuzzLinkIndex(c.link), fr)
			name := filepath.Join(dir, fmt.Sprintf("seed-%02d-%d", i, j))
			if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Zero allocations on the plain paths, after warm-up.
func TestZeroAllocs(t *testing.T) {
	ma, mb := ap(ip4A, 40000), ap(ip4B, 40002)
	rtpP := rtpPacket(t, 7, 160, 0)
	vlanRTP := func() []byte {
		ip := ip4L(layers.IPProtocolUDP, ip4A, ip4B)
		return serialize(t, ethL(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4},
			ip, udpOver(ip, 40000, 40002), gopacket.Payload(rtpP))
	}()
	outer := ip4L(layers.IPProtocolUDP, tunA, tunB)
	vx := serialize(t, ethL(layers.EthernetTypeIPv4), outer, udpOver(outer, 51000, 4789),
		&layers.VXLAN{ValidIDFlag: true, VNI: 1}, gopacket.Payload(ethIP4UDP(t, ma, mb, rtpP)))
	rtcpF := ethIP4UDP(t, ma, mb, rtcpSR(t))
	sipF := ethIP4UDP(t, ap(ip4A, 5060), ap(ip4B, 5060), sipInvite("alloc@x"))
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"ethernet/ipv4/udp/rtp", ethIP4UDP(t, ma, mb, rtpP)},
		{"vlan/ipv4/udp/rtp", vlanRTP},
		{"vxlan rtp", vx},
		{"rtcp", rtcpF},
		{"udp sip invite", sipF},
		{"pptp gre/ppp rtp", overIP4(t, layers.IPProtocolGRE, pptpGRE(true, true, pppFrame(true, true, pppIPv4, ip4UDP(t, ma, mb, rtpP))))},
		{"gtpu ext header rtp", gtpFrame(t, 2152, 2152, gtpuHdr(255, true, true, ip4UDP(t, ma, mb, rtpP)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := New(DefaultConfig())
			n := 0
			fn := func(*Event) { n++ }
			ts := testTS
			d.Decode(linkEthernet, ts, tc.frame, fn)
			allocs := testing.AllocsPerRun(1000, func() {
				ts += 20e6 // packet time advances: expiry runs every second too
				d.Decode(linkEthernet, ts, tc.frame, fn)
			})
			if allocs != 0 {
				t.Errorf("%v allocs per packet, want 0", allocs)
			}
			if n < 1000 {
				t.Errorf("only %d events", n)
			}
		})
	}
}

// A dropped capture duplicate allocates nothing either.
func TestZeroAllocsDuplicate(t *testing.T) {
	f := ethIP4UDP(t, ap(ip4A, 40000), ap(ip4B, 40002), rtpPacket(t, 7, 160, 0))
	d := New(DefaultConfig())
	ts := testTS
	n := 0
	fn := func(*Event) { n++ }
	allocs := testing.AllocsPerRun(1000, func() {
		ts += 20e6
		d.Decode(linkEthernet, ts, f, fn)
		d.Decode(linkEthernet, ts+1e6, f, fn) // the SPAN copy
	})
	if allocs != 0 {
		t.Errorf("%v allocs per pair, want 0", allocs)
	}
	if c := d.Counters(); c.DuplicateFrames < 1000 || n < 1000 || uint64(n) != c.RTP {
		t.Errorf("duplicates %d events %d", c.DuplicateFrames, n)
	}
}

func benchFrame(b *testing.B, frame []byte) {
	d := New(DefaultConfig())
	n := 0
	fn := func(*Event) { n++ }
	d.Decode(linkEthernet, testTS, frame, fn)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		d.Decode(linkEthernet, testTS+int64(i)*20e6, frame, fn)
	}
	if n == 0 {
		b.Fatal("no events")
	}
}

func BenchmarkDecodeRTP(b *testing.B) {
	benchFrame(b, ethIP4UDP(b, ap(ip4A, 40000), ap(ip4B, 40002), rtpPacket(b, 7, 160, 0)))
}

func BenchmarkDecodeSIP(b *testing.B) {
	benchFrame(b, ethIP4UDP(b, ap(ip4A, 5060), ap(ip4B, 5060), sipInvite("bench@x")))
}

func BenchmarkDecodeVXLANRTP(b *testing.B) {
	outer := ip4L(layers.IPProtocolUDP, tunA, tunB)
	benchFrame(b, serialize(b, ethL(layers.EthernetTypeIPv4), outer, udpOver(outer, 51000, 4789),
		&layers.VXLAN{ValidIDFlag: true, VNI: 1}, gopacket.Payload(ethIP4UDP(b, ap(ip4A, 40000), ap(ip4B, 40002), rtpPacket(b, 7, 160, 0)))))
}

func BenchmarkDecodePPTPRTP(b *testing.B) {
	benchFrame(b, overIP4(b, layers.IPProtocolGRE, pptpGRE(true, true, pppFrame(true, true, pppIPv4,
		ip4UDP(b, ap(ip4A, 40000), ap(ip4B, 40002), rtpPacket(b, 7, 160, 0))))))
}

func BenchmarkDecodeGTPURTP(b *testing.B) {
	benchFrame(b, gtpFrame(b, 2152, 2152, gtpuHdr(255, true, true, ip4UDP(b, ap(ip4A, 40000), ap(ip4B, 40002), rtpPacket(b, 7, 160, 0)))))
}

// BenchmarkDuplicateTable is the per-frame cost of the capture-duplicate check alone on
// the IP packet of an RTP frame (hash of 200 bytes and one 4-way set lookup).
func BenchmarkDuplicateTable(b *testing.B) {
	var t dupTable
	t.init(1024, 10e6)
	ip := ethIP4UDP(b, ap(ip4A, 40000), ap(ip4B, 40002), rtpPacket(b, 7, 160, 0))[14:]
	b.ReportAllocs()
	b.SetBytes(int64(len(ip)))
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint16(ip[4:], uint16(i)) // a new IP identification: a distinct packet
		if t.seen(ip, testTS+int64(i)*20e3) {
			b.Fatal("distinct packet taken for a duplicate")
		}
	}
}
