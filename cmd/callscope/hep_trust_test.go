package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode/hep"
)

// sipHEP is one SIP message as a HEPv3 packet captured at ts (Unix ns) with auth key key.
func sipHEP(ts int64, key, msg string) []byte {
	p := hep.Packet{Version: 3, IPProto: 17, ProtoType: hep.ProtoSIP,
		Src: netip.MustParseAddrPort("192.0.2.10:5060"), Dst: netip.MustParseAddrPort("192.0.2.20:5060"),
		TSSec: uint32(ts / 1e9), TSUsec: uint32(ts % 1e9 / 1e3), CaptureID: 9, AuthKey: []byte(key), Payload: []byte(msg)}
	return hep.Append(nil, &p)
}

func invite(callID string) string {
	return "INVITE sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK" + callID + "\r\n" +
		"From: <sip:alice@192.0.2.10>;tag=a1\r\nTo: <sip:bob@192.0.2.20>\r\nCall-ID: " + callID + "\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:alice@192.0.2.10>\r\nContent-Length: 0\r\n\r\n"
}

func ringing(callID string) string {
	return "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK" + callID + "\r\n" +
		"From: <sip:alice@192.0.2.10>;tag=a1\r\nTo: <sip:bob@192.0.2.20>;tag=b1\r\nCall-ID: " + callID + "\r\nCSeq: 1 INVITE\r\n" +
		"Content-Length: 0\r\n\r\n"
}

// TestServeHEPTrust runs serve with a HEP shared secret and the default 60 s clock
// bound. A ringing call (INVITE, 180) is live; then an agent holding the key but with a
// clock an hour ahead sends one packet. Unclamped, that packet time would move live
// time an hour on and the next tick would end the ringing call at once (it ends
// sip_timeout with --hep-max-skew 0, checked by hand; its timers are minutes); clamped, the call is still ringing when serve stops
// and ends capture_end. A packet with the wrong key (another call) is dropped: that call
// is never stored. Both are counted in /metrics.
func TestServeHEPTrust(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "callscope.yml")
	os.WriteFile(conf, []byte("hep_auth_key: s3cret\nhep_allow: [127.0.0.0/8]\n"), 0o644)
	base, after, dbPath, stop := startServeArgs(t, []string{"--hep", "127.0.0.1:0", "--config", conf}, "callscope: HEP input on ")
	u, err := net.Dial("udp", fmtFields(after))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	now := time.Now().UnixNano()
	u.Write(sipHEP(now, "s3cret", invite("ring-1")))
	u.Write(sipHEP(now+1e6, "s3cret", ringing("ring-1")))
	u.Write(sipHEP(now, "wrong", invite("forged-1")))
	u.Write(sipHEP(now, "", invite("forged-2")))
	waitMetric(t, base, "callscope_correlate_sip_messages_total 2")
	u.Write(sipHEP(now+int64(time.Hour), "s3cret", invite("ahead-1"))) // the bad clock
	waitMetric(t, base, "callscope_hep_clock_clamped_total 1")
	waitMetric(t, base, `callscope_hep_rejected_total{reason="auth_wrong"} 1`)
	waitMetric(t, base, `callscope_hep_rejected_total{reason="auth_missing"} 1`)
	waitMetric(t, base, "callscope_correlate_sip_messages_total 3")
	time.Sleep(2500 * time.Millisecond) // two live ticks: Advance runs on the (clamped) packet time
	stop()
	got := storedCalls(t, dbPath)
	c, ok := got["ring-1"]
	if !ok {
		t.Fatalf("ringing call not stored: %v", keys(got))
	}
	if c.EndReason != correlate.EndCaptureEnd {
		t.Errorf("ringing call ended %q, want capture_end (still ringing when serve stopped)", c.EndReason)
	}
	if a, ok := got["ahead-1"]; !ok || time.Duration(int64(a.Start)-now).Abs() > time.Minute {
		t.Errorf("clamped call: stored %v, start %v from the sender's now, want within a minute", ok, time.Duration(int64(a.Start)-now))
	}
	for _, id := range []string{"forged-1", "forged-2"} {
		if _, ok := got[id]; ok {
			t.Errorf("call %s without the right key was stored", id)
		}
	}
}

func fmtFields(after string) string {
	var s string
	fmt.Sscan(after, &s)
	return s
}

func keys(m map[string]correlate.Call) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
