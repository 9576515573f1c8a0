package quality

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/pion/rtcp"
)

// pionView flattens what pion/rtcp (the oracle) decodes from a compound into our types.
type pionView struct {
	senders []RTCPSenderInfo
	reports []RTCPReportBlock
	xr      []RTCPXRVoIPBlock
}

func pionParse(b []byte) (pionView, error) {
	var v pionView
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return v, err
	}
	add := func(reporter uint32, rr []rtcp.ReceptionReport) {
		for _, r := range rr {
			lost := int32(r.TotalLost)
			if lost >= 1<<23 {
				lost -= 1 << 24
			}
			v.reports = append(v.reports, RTCPReportBlock{
				Reporter: reporter, SSRC: r.SSRC, FractionLost: r.FractionLost, CumulativeLost: lost,
				ExtHighestSeq: r.LastSequenceNumber, Jitter: r.Jitter, LSR: r.LastSenderReport, DLSR: r.Delay,
			})
		}
	}
	for _, p := range pkts {
		switch r := p.(type) {
		case *rtcp.SenderReport:
			v.senders = append(v.senders, RTCPSenderInfo{SSRC: r.SSRC, NTP: r.NTPTime, RTPTime: r.RTPTime, PacketCount: r.PacketCount, OctetCount: r.OctetCount})
			add(r.SSRC, r.Reports)
		case *rtcp.ReceiverReport:
			add(r.SSRC, r.Reports)
		case *rtcp.ExtendedReport:
			for _, blk := range r.Reports {
				if m, ok := blk.(*rtcp.VoIPMetricsReportBlock); ok {
					v.xr = append(v.xr, RTCPXRVoIPBlock{Reporter: r.SenderSSRC, SSRC: m.SSRC, Metrics: XRVoIP{
						LossRate: m.LossRate, DiscardRate: m.DiscardRate, BurstDensity: m.BurstDensity, GapDensity: m.GapDensity,
						BurstDuration: m.BurstDuration, GapDuration: m.GapDuration, RoundTripDelay: m.RoundTripDelay, EndSystemDelay: m.EndSystemDelay,
						SignalLevel: int8(m.SignalLevel), NoiseLevel: int8(m.NoiseLevel), RERL: m.RERL, Gmin: m.Gmin,
						RFactor: m.RFactor, ExtRFactor: m.ExtRFactor, MOSLQ: m.MOSLQ, MOSCQ: m.MOSCQ, RXConfig: m.RXConfig,
						JBNominal: m.JBNominal, JBMaximum: m.JBMaximum, JBAbsMax: m.JBAbsMax,
					}})
				}
			}
		}
	}
	return v, nil
}

// samePion reports how c differs from pion's decode of the same datagram ("" if not).
func samePion(c *RTCPCompound, v pionView) string {
	eq := func(a, b any) bool {
		ra, rb := reflect.ValueOf(a), reflect.ValueOf(b)
		return ra.Len() == 0 && rb.Len() == 0 || reflect.DeepEqual(a, b)
	}
	switch {
	case !eq(c.Senders(), v.senders):
		return "senders differ"
	case !eq(c.Reports(), v.reports):
		return "report blocks differ"
	case !eq(c.XRVoIP(), v.xr):
		return "XR VoIP blocks differ"
	}
	return ""
}

func marshal(t testing.TB, pkts ...rtcp.Packet) []byte {
	t.Helper()
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func reports(n int, base uint32) []rtcp.ReceptionReport {
	out := make([]rtcp.ReceptionReport, n)
	for i := range out {
		u := base + uint32(i)
		out[i] = rtcp.ReceptionReport{SSRC: 0x1000 + u, FractionLost: uint8(u * 7), TotalLost: (u * 977) & 0xFFFFFF,
			LastSequenceNumber: 70000 + u, Jitter: 80 + u, LastSenderReport: 0x45678900 + u, Delay: 13107 * u}
	}
	return out
}

func voip(ssrc uint32) *rtcp.VoIPMetricsReportBlock {
	return &rtcp.VoIPMetricsReportBlock{SSRC: ssrc, LossRate: 12, DiscardRate: 3, BurstDensity: 40, GapDensity: 2,
		BurstDuration: 120, GapDuration: 5000, RoundTripDelay: 180, EndSystemDelay: 60, SignalLevel: 0xEC, NoiseLevel: 0xBA,
		RERL: 127, Gmin: 16, RFactor: 85, ExtRFactor: 127, MOSLQ: 41, MOSCQ: 40, RXConfig: 0x28, JBNominal: 40, JBMaximum: 80, JBAbsMax: 200}
}

// padded sets the padding bit of the last packet of b and appends n padding octets
// (RFC 3550 §6.4.1: the last octet counts them, length includes them).
func padded(b []byte, last int, n int) []byte {
	out := append([]byte(nil), b...)
	out[last] |= 0x20
	out = append(out, make([]byte, n)...)
	out[len(out)-1] = byte(n)
	l := binary.BigEndian.Uint16(out[last+2:])
	binary.BigEndian.PutUint16(out[last+2:], l+uint16(n/4))
	return out
}

// TestRTCPCompoundVsPion parses a table of compounds with our parser and with
// pion/rtcp; where pion decodes, both must agree field by field; where pion rejects
// the datagram (malformed), ours must report an error too.
func TestRTCPCompoundVsPion(t *testing.T) {
	sdes := &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 0xA, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "alice@192.0.2.1"}}}}}
	sr := &rtcp.SenderReport{SSRC: 0xA, NTPTime: 0xE1234567_89ABCDEF, RTPTime: 160000, PacketCount: 1000, OctetCount: 160000, Reports: reports(1, 0)}
	rr := &rtcp.ReceiverReport{SSRC: 0xB, Reports: reports(3, 10)}
	bye := &rtcp.Goodbye{Sources: []uint32{0xB}, Reason: "bye"}
	xr := &rtcp.ExtendedReport{SenderSSRC: 0xB, Reports: []rtcp.ReportBlock{
		&rtcp.ReceiverReferenceTimeReportBlock{NTPTimestamp: 0xE1234567_00000000}, voip(0xA)}}
	full := &rtcp.ReceiverReport{SSRC: 0xC, Reports: reports(31, 100)}
	srRR := marshal(t, sr, sdes)
	rrBye := marshal(t, rr, bye)
	cases := []struct {
		name  string
		b     []byte
		bad   bool   // pion rejects it; ours must return an error
		as    []byte // compare with pion's decode of this instead (pion rejects b, ours is lenient)
		nRep  int
		nSend int
		nXR   int
	}{
		{"SR+SDES", srRR, false, nil, 1, 1, 0},
		{"RR with 3 reports", marshal(t, rr), false, nil, 3, 0, 0},
		{"RR+BYE", rrBye, false, nil, 3, 0, 0},
		{"SR+RR+SDES+BYE", marshal(t, sr, rr, sdes, bye), false, nil, 4, 1, 0},
		{"RR+XR VoIP", marshal(t, rr, xr), false, nil, 3, 0, 1},
		{"RR 31 reports twice + SR", marshal(t, full, full, sr), false, nil, 62 + 1, 1, 0},
		{"SR with no reports", marshal(t, &rtcp.SenderReport{SSRC: 9, NTPTime: 1}), false, nil, 0, 1, 0},
		{"RR padded (last packet)", padded(marshal(t, rr), 0, 8), false, nil, 3, 0, 0},
		{"SR+RR padded", padded(marshal(t, sr, rr), len(marshal(t, sr)), 12), false, nil, 4, 1, 0},
		// pion's SDES decoder rejects padding; ours skips SDES, so it still has the SR.
		{"SR+SDES padded", padded(srRR, len(marshal(t, sr)), 4), false, srRR, 1, 1, 0},
		{"empty", nil, true, nil, 0, 0, 0},
		{"3 bytes", srRR[:3], true, nil, 0, 0, 0},
		{"version 1", append([]byte{0x41}, srRR[1:]...), true, nil, 0, 0, 0},
		{"truncated in first packet", srRR[:20], true, nil, 0, 0, 0},
		{"truncated in SDES", srRR[:len(srRR)-4], true, nil, 1, 1, 0},
		{"RR count past length", func() []byte { b := marshal(t, rr); b[0] = b[0]&^0x1f | 5; return b }(), true, nil, 3, 0, 0},
		{"SR shorter than sender info", []byte{0x80, 200, 0, 1, 0, 0, 0, 1}, true, nil, 0, 0, 0},
		{"length 0 RR", []byte{0x80, 201, 0, 0}, true, nil, 0, 0, 0},
		{"trailing garbage", append(marshal(t, rr), 0xde, 0xad), true, nil, 3, 0, 0},
	}
	var c RTCPCompound
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Parse(tc.b)
			oracle := tc.b
			if tc.as != nil {
				oracle = tc.as
			}
			v, perr := pionParse(oracle)
			if tc.bad {
				if perr == nil {
					t.Fatalf("pion accepts the malformed case (fix the table)")
				}
				if err == nil {
					t.Errorf("ours accepts what pion rejects (%v)", perr)
				}
			} else {
				if perr != nil {
					t.Fatalf("pion rejects: %v", perr)
				}
				if err != nil {
					t.Errorf("ours: %v", err)
				}
				if d := samePion(&c, v); d != "" {
					t.Errorf("%s:\nours %+v %+v %+v\npion %+v", d, c.Senders(), c.Reports(), c.XRVoIP(), v)
				}
			}
			if len(c.Reports()) != tc.nRep || len(c.Senders()) != tc.nSend || len(c.XRVoIP()) != tc.nXR {
				t.Errorf("decoded %d reports, %d senders, %d XR; want %d, %d, %d", len(c.Reports()), len(c.Senders()), len(c.XRVoIP()), tc.nRep, tc.nSend, tc.nXR)
			}
		})
	}
	t.Run("counts", func(t *testing.T) {
		if err := c.Parse(marshal(t, sr, rr, sdes, bye, xr)); err != nil {
			t.Fatal(err)
		}
		if c.Packets != 5 || c.SDES != 1 || c.BYE != 1 || c.XR != 1 || c.Cut != 0 {
			t.Errorf("%+v", c)
		}
		if r := c.Reports()[0]; r.Reporter != 0xA || r.CumulativeLost != 0 {
			t.Errorf("first block %+v", r)
		}
	})
	t.Run("cut at capacity", func(t *testing.T) {
		// 3 × 31 = 93 report blocks: 64 kept, 29 counted as cut.
		if err := c.Parse(marshal(t, full, full, full)); err != nil {
			t.Fatal(err)
		}
		if len(c.Reports()) != MaxRTCPReports || c.Cut != 93-MaxRTCPReports {
			t.Errorf("kept %d cut %d", len(c.Reports()), c.Cut)
		}
	})
	t.Run("negative cumulative lost", func(t *testing.T) {
		b := marshal(t, &rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: 2, TotalLost: 0xFFFFFF}}})
		if err := c.Parse(b); err != nil || c.Reports()[0].CumulativeLost != -1 {
			t.Errorf("err %v lost %d, want -1 (24-bit two's complement)", err, c.Reports()[0].CumulativeLost)
		}
	})
	t.Run("errors are sentinels", func(t *testing.T) {
		if err := c.Parse(srRR[:20]); !errors.Is(err, ErrRTCPShort) {
			t.Errorf("%v", err)
		}
		if err := c.Parse(append([]byte{0x41}, srRR[1:]...)); !errors.Is(err, ErrRTCPVersion) {
			t.Errorf("%v", err)
		}
	})
}

// rtcpPayloads returns the UDP payloads of the frames tshark dissects as RTCP.
func rtcpPayloads(t testing.TB, bin, path string) [][]byte {
	t.Helper()
	cmd := exec.Command(bin, "-n", "-r", path, "-Y", "rtcp && !icmp && !icmpv6", "-T", "fields", "-e", "udp.payload")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var ps [][]byte
	for _, l := range strings.Fields(string(out)) {
		b, err := hex.DecodeString(strings.ReplaceAll(l, ":", ""))
		if err != nil {
			t.Fatalf("payload %q: %v", l, err)
		}
		ps = append(ps, b)
	}
	return ps
}

// TestRTCPCompoundCaptures cross-checks every RTCP datagram of real captures (as tshark
// dissects them) against pion/rtcp, and checks the report counts against tshark's.
func TestRTCPCompoundCaptures(t *testing.T) {
	bin := needTshark(t)
	var c RTCPCompound
	for _, name := range []string{
		"ndpi__rtcp_multiple_pkts_in_the_same_datagram.pcap",
		"goffinet__Forensic_challenge_4.pcap",
		"eim-lab09__sip.pcap",
		"goffinet__RTP-Protocol.pcap",
		"goffinet__test_voip.pcap.pcapng",
		"isa__i_was_called_by_another_pc.pcap",
		"sngrep__aaa.pcap",
		"voipshark__SIP-over-TLS-RTP-Normal_Call_two_parties.pcap",
		"wswiki__sip-tls-1.3-and-rtcp_sip.pcap",
	} {
		t.Run(name, func(t *testing.T) {
			path := testdataPath(name)
			ps := rtcpPayloads(t, bin, path)
			if len(ps) == 0 {
				t.Fatal("no RTCP in capture")
			}
			// tshark's count of report blocks over the capture (one extended highest
			// sequence number per block).
			cmd := exec.Command(bin, "-n", "-r", path, "-Y", "rtcp && !icmp && !icmpv6", "-T", "fields", "-e", "rtcp.ssrc.high_seq")
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			wantBlocks := len(strings.FieldsFunc(string(out), func(r rune) bool { return r == ',' || r == '\n' }))
			blocks := 0
			for i, p := range ps {
				err := c.Parse(p)
				v, perr := pionParse(p)
				blocks += len(c.Reports())
				if err != nil { // tshark dissects every one of them without complaint
					t.Errorf("datagram %d: %v (pion: %v)", i, err, perr)
				}
				if perr == nil {
					if d := samePion(&c, v); d != "" {
						t.Errorf("datagram %d: %s", i, d)
					}
				}
			}
			if blocks != wantBlocks {
				t.Errorf("%d report blocks, tshark %d", blocks, wantBlocks)
			}
		})
	}
}

func TestRTCPCompoundAllocs(t *testing.T) {
	b := marshal(t, &rtcp.SenderReport{SSRC: 0xA, NTPTime: 1, Reports: reports(2, 0)},
		&rtcp.ReceiverReport{SSRC: 0xB, Reports: reports(3, 5)},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 0xA, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "a"}}}}},
		&rtcp.ExtendedReport{SenderSSRC: 0xB, Reports: []rtcp.ReportBlock{voip(0xA)}})
	bad := b[:len(b)-3]
	c := new(RTCPCompound)
	n := testing.AllocsPerRun(1000, func() {
		_ = c.Parse(b)
		_ = c.Parse(bad) // the error path does not allocate either
		_ = c.Parse([]byte{0x40, 0, 0, 0})
	})
	if n != 0 {
		t.Fatalf("Parse allocates %.1f per run", n)
	}
}

func benchCompound(b *testing.B) []byte {
	return marshal(b, &rtcp.SenderReport{SSRC: 0xA, NTPTime: 0xE1234567_89ABCDEF, RTPTime: 16000, Reports: reports(1, 0)},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 0xA, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "alice@192.0.2.1"}}}}})
}

func BenchmarkRTCPCompound(b *testing.B) {
	p := benchCompound(b)
	var c RTCPCompound
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Parse(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRTCPPion is the same SR+SDES datagram through pion/rtcp, for comparison.
func BenchmarkRTCPPion(b *testing.B) {
	p := benchCompound(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := rtcp.Unmarshal(p); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzRTCPCompound: never panics, decodes only in-bounds data, and agrees with pion/rtcp
// wherever pion decodes the datagram. The corpus holds the datagrams of
// ndpi__rtcp_multiple_pkts_in_the_same_datagram.pcap (tshark udp.payload) and the
// table above.
func FuzzRTCPCompound(f *testing.F) {
	f.Add([]byte{0x80, 201, 0, 1, 0, 0, 0, 1})
	var c RTCPCompound
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		err := c.Parse(b)
		if !bytes.Equal(orig, b) {
			t.Fatal("Parse wrote to its input")
		}
		if len(c.Reports()) > MaxRTCPReports || len(c.Senders()) > MaxRTCPSenders || len(c.XRVoIP()) > MaxRTCPXRVoIP {
			t.Fatal("over capacity")
		}
		// Every decoded item needs its bytes: 24 per block, 28 per SR, 36 per XR block.
		if 24*len(c.Reports())+28*len(c.Senders())+36*len(c.XRVoIP()) > len(b) {
			t.Fatalf("decoded more than the datagram holds")
		}
		v, perr := pionParse(b)
		if perr != nil {
			return
		}
		if err != nil {
			t.Fatalf("ours %v, pion decodes it", err)
		}
		if c.Cut == 0 {
			if d := samePion(&c, v); d != "" {
				t.Fatalf("%s: ours %+v %+v %+v, pion %+v", d, c.Senders(), c.Reports(), c.XRVoIP(), v)
			}
		}
	})
}
