package quality

import (
	"fmt"
	"io"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// clockFor maps tshark's payload column to the RTP clock rate (RFC 3551 Table 4/5 and
// the SDP of the captures: Opus is 48000, G.722 uses 8000).
func clockFor(payload string) (uint32, string) {
	p := strings.ToLower(payload)
	switch {
	case strings.Contains(p, "g711u"):
		return 8000, "PCMU"
	case strings.Contains(p, "g711a"):
		return 8000, "PCMA"
	case strings.Contains(p, "g722"):
		return 8000, "G722"
	case strings.Contains(p, "g729"):
		return 8000, "G729"
	case strings.Contains(p, "opus"):
		return 48000, "OPUS"
	case strings.Contains(p, "h26"), strings.Contains(p, "mp4v"):
		return 90000, "video"
	case strings.Contains(p, "16k"):
		return 16000, "DVI4"
	case strings.HasPrefix(p, "rtptype-"), strings.HasPrefix(p, "rtpevent"):
		return 0, "unknown" // tshark knows no clock rate: no jitter
	}
	return 8000, strings.ToUpper(strings.Fields(strings.TrimSuffix(p, ","))[0])
}

// feedRow feeds the packets of one tshark stream into a fresh Stream.
func feedRow(pkts []rtpPkt, frames map[int]bool, row tsharkRow) *Stream {
	clock, name := clockFor(row.payload)
	tevent := strings.Contains(row.payload, "telephone-event")
	var s Stream
	cfg := DefaultConfig()
	cfg.WiresharkStats = true
	s.Init(&cfg, row.ssrc, clock, LookupCodec([]byte(name), clock))
	for i := range pkts {
		p := &pkts[i]
		if p.ssrc != row.ssrc || p.src != row.src || p.dst != row.dst || (frames != nil && !frames[p.frame]) {
			continue
		}
		kind := Audio
		switch {
		case p.pt == 13 || p.pt == 19:
			kind = ComfortNoise
		case tevent && p.pt >= 96 && len(p.payload) == 4:
			kind = Event
		}
		s.Packet(p.ts, p.seq, p.rtpTS, p.marker, kind, p.payload)
	}
	s.Finish(0)
	return &s
}

func close3(a, b float64) bool {
	d := math.Abs(a - b)
	return d <= 0.05 || d <= 0.03*math.Abs(b)
}

// TestTsharkOracle compares per-stream packets, lost and jitter with tshark's RTP
// stream analysis on real captures read in place from ../../shared/testdata.
func TestTsharkOracle(t *testing.T) {
	bin := needTshark(t)
	files := []struct {
		name      string
		heuristic bool
	}{
		{"wswiki__sip-rtp-g711.pcap", false},
		{"wswiki__sip-rtp-g722.pcap", false},
		{"wswiki__sip-rtp-g729a.pcap", false},
		{"wswiki__sip-rtp-gsm.pcap", false},
		{"wswiki__sip-rtp-ilbc.pcap", false},
		{"wswiki__sip-rtp-dvi4.pcap", false},
		{"wswiki__sip-rtp-lpc.pcap", false},
		{"wswiki__sip-rtp-opus-hybrid.pcap", false},
		{"wswiki__SIP_DTMF2.cap", false},
		{"wswiki__nb6-telephone.pcap", false},
		{"wswiki__1filtered.cap", false},
		{"wswiki__LtoZ_rtpFilter_fail_2.pcap", false},
		{"goffinet__RTP-Protocol.pcap", false},
		{"goffinet__Forensic_challenge_4.pcap", false},
		{"goffinet__test_voip.pcap.pcapng", false},
		{"goffinet__voip1b.pcapng", false},
		{"goffinet__sip-flow-private-2.pcapng", false},
		{"goffinet__sip-flow-private-3.pcapng", false},
		{"goffinet__sip-2phones-B2BUA-Asterisk.pcapng", false},
		{"goffinet__private-test-sip-2.pcapng", false},
		{"eim-lab09__sip.pcap", false},
		{"isa__sip.pcapng", false},
		{"isa__i_was_called_by_another_pc.pcap", false},
		{"sngrep__aaa.pcap", false},
		{"sipp__g711a.pcap", true},
		{"ndpi__rtp.pcapng", true},
	}
	var streams atomic.Int64
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			path := testdataPath(f.name)
			rows := tsharkStreams(t, bin, path, f.heuristic)
			if len(rows) == 0 {
				t.Skip("tshark finds no RTP stream")
			}
			pkts := readCapture(t, path)
			frames := tsharkRTPFrames(t, bin, path, f.heuristic)
			for _, row := range rows {
				s := feedRow(pkts, frames, row)
				sum := s.Summary()
				ws := sum.Wireshark
				id := row.src.String() + "->" + row.dst.String() + " " + row.payload
				streams.Add(1)
				if sum.Packets != row.pkts {
					t.Errorf("%s: packets %d, tshark %d", id, sum.Packets, row.pkts)
				}
				if ws.Lost != row.lost {
					t.Errorf("%s: wireshark-style lost %d, tshark %d", id, ws.Lost, row.lost)
				}
				if sum.Duplicates == 0 && int64(sum.Lost) != max(row.lost, 0) {
					t.Errorf("%s: lost %d, tshark %d (no duplicates)", id, sum.Lost, row.lost)
				}
				// Known deviation: with RFC 4733 events or video frames (several packets per
				// RTP timestamp) Wireshark 4.0's jitter differs from our reconstruction.
				known := strings.Contains(row.payload, "telephone-event") || strings.Contains(row.payload, "h26")
				if !close3(ws.JitterMeanMs, row.meanJitter) || !close3(ws.JitterMaxMs, row.maxJitter) {
					report := t.Errorf
					if known {
						report = t.Logf
					}
					report("%s: wireshark-style jitter mean/max %.3f/%.3f, tshark %.3f/%.3f",
						id, ws.JitterMeanMs, ws.JitterMaxMs, row.meanJitter, row.maxJitter)
				}
				if !close3(ws.MaxDeltaMs, row.maxDelta) {
					t.Errorf("%s: wireshark-style max delta %.3f, tshark %.3f", id, ws.MaxDeltaMs, row.maxDelta)
				}
				// Our RFC 3550 jitter equals tshark's when every packet is plain audio.
				if sum.Events == 0 && sum.CN == 0 && sum.Problems.TimestampJumps == 0 && !known {
					if !close3(sum.JitterMaxMs, row.maxJitter) || !close3(sum.JitterMeanMs, row.meanJitter) {
						t.Errorf("%s: rfc3550 jitter mean/max %.3f/%.3f, tshark %.3f/%.3f",
							id, sum.JitterMeanMs, sum.JitterMaxMs, row.meanJitter, row.maxJitter)
					}
				}
			}
		})
	}
	t.Cleanup(func() { t.Logf("%d streams compared", streams.Load()) })
}

// tsharkStalls derives network stalls (docs/quality.md: consecutive audio packets in
// arrival order, sequence +1, arrival gap ≥ 300 ms, RTP timestamp step under half the
// gap) from tshark's own dissection of one stream's packets.
func tsharkStalls(t *testing.T, bin, path string, row tsharkRow, clock uint32) (n int, longestMs float64) {
	t.Helper()
	filter := fmt.Sprintf("rtp.ssrc==0x%08x && udp.srcport==%d && udp.dstport==%d && !icmp && !icmpv6", row.ssrc, row.src.Port(), row.dst.Port())
	cmd := exec.Command(bin, "-n", "-r", path, "-Y", filter, "-T", "fields", "-e", "frame.time_epoch", "-e", "rtp.seq", "-e", "rtp.timestamp", "-e", "rtp.p_type")
	cmd.Stderr = io.Discard
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark fields: %v", err)
	}
	tevent := strings.Contains(row.payload, "telephone-event")
	var prevT float64
	var prevSeq, prevTS uint32
	have := false
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) != 4 {
			continue
		}
		pt, _ := strconv.Atoi(f[3])
		if pt == 13 || pt == 19 || tevent && pt >= 96 {
			continue // audio only, as feedRow classifies: no CN, no RFC 4733 events
		}
		tm, _ := strconv.ParseFloat(f[0], 64)
		seq, _ := strconv.ParseUint(f[1], 10, 16)
		ts, _ := strconv.ParseUint(f[2], 10, 32)
		if have {
			gap := (tm - prevT) * 1000
			media := float64(int32(uint32(ts)-prevTS)) * 1000 / float64(clock)
			if uint16(seq)-uint16(prevSeq) == 1 && gap >= 300 && media < gap/2 {
				n++
				longestMs = math.Max(longestMs, gap)
			}
		}
		prevT, prevSeq, prevTS, have = tm, uint32(seq), uint32(ts), true
	}
	return n, longestMs
}

// TestTsharkJitterAcrossStalls checks RFC 3550 jitter on real streams whose packets
// stopped for ≥ 300 ms (tshark's max delta): tshark computes A.8 over every packet,
// stalls included, and so must we. Tolerance: max and mean within 0.05 ms or 3 %; on
// streams with RFC 4733 events the mean within 5 % (Wireshark feeds event packets into
// its jitter, we keep them out; the max is unaffected). Streams with comfort noise are
// logged only (Wireshark feeds CN packets too). The stall count and longest stall are
// derived independently from tshark's per-packet fields.
func TestTsharkJitterAcrossStalls(t *testing.T) {
	bin := needTshark(t)
	compared := 0
	for _, name := range []string{
		"goffinet__Forensic_challenge_4.pcap", // 0xA254E017: a 420 ms stall and a 1.94 s gap (D = 1.82 s)
		"wswiki__FAX-Call-t38-CA-TDM-SIP-FB-1.pcap",
		"wswiki__sip-rtp-opus-hybrid.pcap",
		"wswiki__1filtered.cap",
	} {
		path := testdataPath(name)
		rows := tsharkStreams(t, bin, path, false)
		pkts := readCapture(t, path)
		frames := tsharkRTPFrames(t, bin, path, false)
		for _, row := range rows {
			if row.maxDelta < 300 {
				continue
			}
			clock, _ := clockFor(row.payload)
			if clock == 0 {
				continue
			}
			sum := feedRow(pkts, frames, row).Summary()
			id := fmt.Sprintf("%s %08x %s", name, row.ssrc, row.payload)
			n, longest := tsharkStalls(t, bin, path, row, clock)
			if sum.Problems.NetworkStalls != uint64(n) || math.Abs(sum.LongestStallMs-longest) > 1 {
				t.Errorf("%s: stalls %d longest %.0f ms, from tshark's fields %d, %.1f ms", id, sum.Problems.NetworkStalls, sum.LongestStallMs, n, longest)
			}
			if sum.CN > 0 || sum.Problems.TimestampJumps > 0 {
				t.Logf("%s: CN %d jumps %d: rfc3550 jitter mean/max %.3f/%.3f, tshark %.3f/%.3f (not compared)",
					id, sum.CN, sum.Problems.TimestampJumps, sum.JitterMeanMs, sum.JitterMaxMs, row.meanJitter, row.maxJitter)
				continue
			}
			compared++
			meanOK := close3(sum.JitterMeanMs, row.meanJitter)
			if sum.Events > 0 {
				meanOK = math.Abs(sum.JitterMeanMs-row.meanJitter) <= 0.05*row.meanJitter
			}
			if !close3(sum.JitterMaxMs, row.maxJitter) || !meanOK {
				t.Errorf("%s: rfc3550 jitter mean/max %.3f/%.3f, tshark %.3f/%.3f (max delta %.0f ms)",
					id, sum.JitterMeanMs, sum.JitterMaxMs, row.meanJitter, row.maxJitter, row.maxDelta)
			}
		}
	}
	if compared == 0 {
		t.Fatal("no stream with a ≥ 300 ms gap compared")
	}
	t.Logf("%d streams with gaps ≥ 300 ms compared", compared)
}
