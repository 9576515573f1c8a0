package main

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/security"
	"github.com/callscope/callscope/store"
	"github.com/prometheus/client_golang/prometheus"
)

// TestSecurityEventRaisesAlert: a security event goes to the alerting notifiers as an
// alert — firing when raised, resolved when it ends — named after its type, with the
// offending source as its peer label. The trigger is the documented known-scanner rule:
// one OPTIONS with User-Agent friendly-scanner (SIPVicious svmap's default).
func TestSecurityEventRaisesAlert(t *testing.T) {
	var got []store.AlertEvent
	f, err := newSecurityFeed(security.DefaultConfig(), prometheus.NewRegistry(), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	f.notify = func(ev store.AlertEvent) { got = append(got, ev) }
	d, err := f.detector()
	if err != nil || d == nil {
		t.Fatalf("detector %v, %v (the default config must enable it)", d, err)
	}
	raw := "OPTIONS sip:100@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.9:5070;branch=z9hG4bKs1\r\n" +
		"From: <sip:100@10.0.0.1>;tag=a1\r\nTo: <sip:100@10.0.0.1>\r\nCall-ID: s1\r\nCSeq: 1 OPTIONS\r\n" +
		"Max-Forwards: 70\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n"
	var m sip.Message
	if err := sip.Parse([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC).UnixNano()
	ev := decode.Event{Kind: decode.KindSIP, TS: t0, Src: netip.MustParseAddrPort("198.51.100.9:5070"),
		Dst: netip.MustParseAddrPort("10.0.0.1:5060"), Payload: []byte(raw), SIP: &m}
	d.Event(&ev)
	d.Finish()
	if len(got) != 2 || got[0].State != "firing" || got[1].State != "resolved" {
		t.Fatalf("alerts %+v, want one firing then one resolved", got)
	}
	a := got[0]
	if a.Rule != "CallscopeSecurity_scanner" || a.Peer != "198.51.100.9" || a.Metric != "security:user_agent" || a.Value < 1 {
		t.Errorf("alert %+v", a)
	}
}
