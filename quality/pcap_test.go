package quality

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// This file holds a deliberately tiny capture reader for tests only (the capture and
// decode packages are separate); it understands pcap (µs/ns, both byte orders) and
// pcapng EPB/SPB, Ethernet (+802.1Q), Linux SLL, raw IP and BSD loopback, IPv4/IPv6
// without fragments, UDP, and an RTP header.

type rtpPkt struct {
	frame    int // 1-based frame number in the file
	ts       int64
	src, dst netip.AddrPort
	ssrc     uint32
	seq      uint16
	rtpTS    uint32
	pt       uint8
	marker   bool
	payload  []byte
}

func testdataPath(name string) string {
	return filepath.Join("..", "..", "shared", "testdata", name)
}

func readCapture(t testing.TB, path string) []rtpPkt {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var out []rtpPkt
	n := 0
	add := func(link uint32, ts int64, frame []byte) {
		n++
		if p, ok := parseFrame(link, frame); ok {
			p.ts, p.frame = ts, n
			out = append(out, p)
		}
	}
	if len(raw) < 24 {
		t.Fatalf("%s: short file", path)
	}
	switch binary.LittleEndian.Uint32(raw) {
	case 0x0a0d0d0a:
		if err := readPcapng(raw, add); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return out
	}
	var bo binary.ByteOrder = binary.LittleEndian
	nano := false
	switch binary.LittleEndian.Uint32(raw) {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		nano = true
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, nano = binary.BigEndian, true
	default:
		t.Fatalf("%s: not a capture", path)
	}
	link := bo.Uint32(raw[20:]) & 0xffff
	for off := 24; off+16 <= len(raw); {
		sec, frac := int64(bo.Uint32(raw[off:])), int64(bo.Uint32(raw[off+4:]))
		incl := int(bo.Uint32(raw[off+8:]))
		off += 16
		if incl < 0 || off+incl > len(raw) {
			break
		}
		if !nano {
			frac *= 1000
		}
		add(link, sec*1e9+frac, raw[off:off+incl])
		off += incl
	}
	return out
}

func readPcapng(raw []byte, add func(uint32, int64, []byte)) error {
	var bo binary.ByteOrder = binary.LittleEndian
	type iface struct {
		link uint32
		res  int64 // ticks per second
	}
	var ifs []iface
	for off := 0; off+12 <= len(raw); {
		typ := binary.LittleEndian.Uint32(raw[off:])
		if typ == 0x0a0d0d0a {
			if binary.LittleEndian.Uint32(raw[off+8:]) == 0x1a2b3c4d {
				bo = binary.LittleEndian
			} else {
				bo = binary.BigEndian
			}
			ifs = ifs[:0]
		}
		typ = bo.Uint32(raw[off:])
		blen := int(bo.Uint32(raw[off+4:]))
		if blen < 12 || off+blen > len(raw) {
			return errors.New("bad block length")
		}
		body := raw[off+8 : off+blen-4]
		switch typ {
		case 1: // IDB
			if len(body) < 8 {
				return errors.New("short IDB")
			}
			ifc := iface{link: uint32(bo.Uint16(body)), res: 1e6}
			opts := body[8:]
			for len(opts) >= 4 {
				code, l := bo.Uint16(opts), int(bo.Uint16(opts[2:]))
				if 4+l > len(opts) {
					break
				}
				if code == 9 && l >= 1 {
					v := opts[4]
					if v&0x80 == 0 {
						ifc.res = 1
						for i := 0; i < int(v); i++ {
							ifc.res *= 10
						}
					} else {
						ifc.res = 1 << (v & 0x7f)
					}
				}
				if code == 0 {
					break
				}
				opts = opts[4+(l+3)&^3:]
			}
			ifs = append(ifs, ifc)
		case 6: // EPB
			if len(body) < 20 {
				return errors.New("short EPB")
			}
			id := int(bo.Uint32(body))
			if id >= len(ifs) {
				return fmt.Errorf("EPB for unknown interface %d", id)
			}
			ticks := int64(bo.Uint32(body[4:]))<<32 | int64(bo.Uint32(body[8:]))
			capl := int(bo.Uint32(body[12:]))
			if 20+capl > len(body) {
				return errors.New("EPB overflow")
			}
			ifc := ifs[id]
			ns := ticks / ifc.res * 1e9
			ns += (ticks % ifc.res) * 1e9 / ifc.res
			add(ifc.link, ns, body[20:20+capl])
		}
		off += blen
	}
	return nil
}

func parseFrame(link uint32, b []byte) (rtpPkt, bool) {
	var p rtpPkt
	var et uint16
	switch link {
	case 1: // Ethernet
		if len(b) < 14 {
			return p, false
		}
		et, b = binary.BigEndian.Uint16(b[12:]), b[14:]
		for (et == 0x8100 || et == 0x88a8) && len(b) >= 4 {
			et, b = binary.BigEndian.Uint16(b[2:]), b[4:]
		}
	case 113: // Linux SLL
		if len(b) < 16 {
			return p, false
		}
		et, b = binary.BigEndian.Uint16(b[14:]), b[16:]
	case 101, 12, 14: // raw IP
		if len(b) < 1 {
			return p, false
		}
		et = 0x0800
		if b[0]>>4 == 6 {
			et = 0x86dd
		}
	case 0: // BSD loopback
		if len(b) < 4 {
			return p, false
		}
		b = b[4:]
		et = 0x0800
		if len(b) > 0 && b[0]>>4 == 6 {
			et = 0x86dd
		}
	default:
		return p, false
	}
	var src, dst netip.Addr
	switch et {
	case 0x0800:
		if len(b) < 20 || b[0]>>4 != 4 {
			return p, false
		}
		ihl := int(b[0]&15) * 4
		tot := int(binary.BigEndian.Uint16(b[2:]))
		if b[9] != 17 || ihl < 20 || len(b) < ihl || binary.BigEndian.Uint16(b[6:])&0x3fff != 0 {
			return p, false
		}
		if tot >= ihl && tot < len(b) {
			b = b[:tot]
		}
		src, dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		b = b[ihl:]
	case 0x86dd:
		if len(b) < 40 || b[6] != 17 {
			return p, false
		}
		src, dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		b = b[40:]
	default:
		return p, false
	}
	if len(b) < 8 {
		return p, false
	}
	p.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(b))
	p.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:]))
	b = b[8:]
	if len(b) < 12 || b[0]>>6 != 2 {
		return p, false
	}
	cc := int(b[0] & 15)
	hl := 12 + 4*cc
	if len(b) < hl {
		return p, false
	}
	if b[0]&0x10 != 0 {
		if len(b) < hl+4 {
			return p, false
		}
		hl += 4 + 4*int(binary.BigEndian.Uint16(b[hl+2:]))
		if len(b) < hl {
			return p, false
		}
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > hl {
		pad := int(b[end-1])
		if pad <= end-hl {
			end -= pad
		}
	}
	p.marker = b[1]&0x80 != 0
	p.pt = b[1] & 0x7f
	p.seq = binary.BigEndian.Uint16(b[2:])
	p.rtpTS = binary.BigEndian.Uint32(b[4:])
	p.ssrc = binary.BigEndian.Uint32(b[8:])
	p.payload = b[hl:end]
	return p, true
}

// tsharkRow is one line of `tshark -q -z rtp,streams`.
type tsharkRow struct {
	src, dst   netip.AddrPort
	ssrc       uint32
	payload    string
	pkts       uint64
	lost       int64
	maxDelta   float64
	meanJitter float64
	maxJitter  float64
}

func needTshark(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark not installed (required with CI=true)")
		}
		t.Skip("tshark not installed")
	}
	return p
}

// tsharkRTPFrames returns the frame numbers tshark dissects as RTP, so the oracle
// compares computations, not dissector heuristics (ICMP-quoted RTP, setup-frame scope).
func tsharkRTPFrames(t *testing.T, bin, path string, heuristic bool) map[int]bool {
	t.Helper()
	args := []string{"-n", "-r", path, "-Y", "rtp && !icmp && !icmpv6", "-T", "fields", "-e", "frame.number"}
	if heuristic {
		args = append([]string{"-o", "rtp.heuristic_rtp:TRUE"}, args...)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = io.Discard
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	m := map[int]bool{}
	for _, l := range strings.Fields(string(out)) {
		n, err := strconv.Atoi(l)
		if err != nil {
			t.Fatalf("frame number %q", l)
		}
		m[n] = true
	}
	return m
}

func tsharkStreams(t *testing.T, bin, path string, heuristic bool) []tsharkRow {
	t.Helper()
	args := []string{"-n", "-r", path, "-q", "-z", "rtp,streams"}
	if heuristic {
		args = append([]string{"-o", "rtp.heuristic_rtp:TRUE"}, args...)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = io.Discard
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	var rows []tsharkRow
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 17 || !strings.HasPrefix(f[6], "0x") {
			continue
		}
		if f[len(f)-1] == "X" {
			f = f[:len(f)-1]
		}
		n := len(f)
		num := func(s string) float64 {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("tshark field %q: %v", s, err)
			}
			return v
		}
		ap := func(ip, port string) netip.AddrPort {
			a, err := netip.ParseAddrPort(netip.MustParseAddr(ip).String() + ":" + port)
			if err != nil {
				// IPv6 needs brackets
				a = netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(num(port)))
			}
			return a
		}
		ssrc, err := strconv.ParseUint(f[6][2:], 16, 32)
		if err != nil {
			t.Fatalf("ssrc %q", f[6])
		}
		rows = append(rows, tsharkRow{
			src: ap(f[2], f[3]), dst: ap(f[4], f[5]), ssrc: uint32(ssrc),
			payload:    strings.Join(f[7:n-9], " "),
			pkts:       uint64(num(f[n-9])),
			lost:       int64(num(f[n-8])),
			maxDelta:   num(f[n-4]),
			meanJitter: num(f[n-2]),
			maxJitter:  num(f[n-1]),
		})
	}
	return rows
}
