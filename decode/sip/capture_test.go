package sip

import (
	"bufio"
	"bytes"
	"errors"
	"github.com/callscope/callscope/internal/testutil"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// sharedTestdata is /work/shared/testdata seen from this package (repo root's parent).
var sharedTestdata = filepath.Join("..", "..", "..", "shared", "testdata")

type udpPayload struct {
	frame   int // 1-based, as tshark numbers frames
	payload []byte
}

// readUDP returns the complete (unfragmented, untruncated) UDP payloads of a capture.
func readUDP(t testing.TB, name string) []udpPayload {
	t.Helper()
	f, err := os.Open(filepath.Join(sharedTestdata, name))
	if err != nil {
		testutil.Missing(t, "capture "+name+": "+err.Error())
	}
	defer f.Close()
	var src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var lt layers.LinkType
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if magic == [4]byte{0x0a, 0x0d, 0x0d, 0x0a} { // pcapng section header block
		r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		src, lt = r, r.LinkType()
	} else {
		r, err := pcapgo.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		src, lt = r, r.LinkType()
	}
	var out []udpPayload
	for frame := 1; ; frame++ {
		data, _, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("frame %d: %v", frame, err)
		}
		p := gopacket.NewPacket(data, lt, gopacket.Default)
		u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok || int(u.Length) != len(u.Payload)+8 {
			continue
		}
		if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && (ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0) {
			continue
		}
		out = append(out, udpPayload{frame, u.Payload})
	}
	return out
}

type tsharkSIP struct{ callID, cseq, method string }

// tsharkSIPFields asks tshark (the independent oracle) for Call-ID and CSeq per frame.
func tsharkSIPFields(t *testing.T, name string) map[int]tsharkSIP {
	t.Helper()
	testutil.NeedTool(t, "tshark")
	cmd := exec.Command("tshark", "-n", "-r", filepath.Join(sharedTestdata, name), "-Y", "sip && udp",
		"-T", "fields", "-E", "separator=/t", "-e", "frame.number", "-e", "sip.Call-ID", "-e", "sip.CSeq.seq", "-e", "sip.CSeq.method")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	res := map[int]tsharkSIP{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 4 || strings.Contains(f[1], ",") || strings.Contains(f[2], ",") {
			continue // several messages in one frame, or missing fields
		}
		n, _ := strconv.Atoi(f[0])
		res[n] = tsharkSIP{f[1], f[2], f[3]}
	}
	return res
}

// TestCapturesAgainstTshark parses every SIP datagram of real captures and compares
// Call-ID, CSeq and CSeq method with tshark's dissection of the same frames; it also
// checks Looks finds exactly the frames tshark calls SIP (on the UDP payloads we see).
func TestCapturesAgainstTshark(t *testing.T) {
	captures := []string{
		"pcapplusplus__sip_reqs.pcap", "pcapplusplus__sip_resp.pcap", "pcapplusplus__sdp.pcap",
		"suricata-verify__sip-compact-form_sip_compact_form.pcap",
		"suricata-verify__sip-header-multi-value_sip_header_multi_val.pcap",
		"suricata-verify__sip-body-frames_public-cloudshark-sip-s0.pcap",
		"goffinet__sip-routing-error-wireshark.pcapng", "goffinet__sip-register-publish-subscribe-489-401.pcapng",
		"wswiki__SIP_DTMF2.cap", "wswiki__MSCML.pcap", "sngrep__aaa.pcap", "heplify__sip_ipv6_udp.pcap",
		"zeek__sip_invalid-content-length.pcap", "snort3demo__digium.pcap", "isa__sip.pcapng",
		"ndpi__http_on_sip_port.pcap", "ndpi__rtp.pcapng",
	}
	if testing.Short() {
		t.Skip("runs tshark on each capture")
	}
	var m Message
	for _, name := range captures {
		t.Run(name, func(t *testing.T) {
			want := tsharkSIPFields(t, name)
			matched := 0
			for _, p := range readUDP(t, name) {
				w, isSIP := want[p.frame]
				looks := Looks(p.payload)
				if !isSIP {
					if looks && !bytes.Contains(p.payload, []byte("SIP/2.0")) {
						t.Errorf("frame %d: Looks true, tshark says not SIP", p.frame)
					}
					continue
				}
				if !looks {
					t.Errorf("frame %d: Looks false for SIP %q", p.frame, p.payload[:min(40, len(p.payload))])
					continue
				}
				if err := Parse(p.payload, &m); err != nil {
					t.Errorf("frame %d: %v", p.frame, err)
					continue
				}
				if string(m.CallID) != w.callID || (w.cseq != "" && strconv.FormatUint(uint64(m.CSeq), 10) != w.cseq) || (w.method != "" && string(m.CSeqMethod) != w.method) {
					t.Errorf("frame %d: got %q %d %q, tshark %q %s %q", p.frame, m.CallID, m.CSeq, m.CSeqMethod, w.callID, w.cseq, w.method)
				}
				if w.cseq == "" { // tshark could not dissect CSeq (messages without final CRLF)
					continue
				}
				matched++
			}
			if len(want) > 0 && matched == 0 {
				t.Errorf("no frames compared (tshark saw %d)", len(want))
			}
			t.Logf("%d SIP datagrams agree with tshark", matched)
		})
	}
}
