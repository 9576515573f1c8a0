package gen

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

var catalogueStart = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// basicCall is an answered PCMU call with 2 s of media both ways.
func basicCall(id string, n int) CallSpec {
	return CallSpec{
		CallID:      fmt.Sprintf("%s-%d@callscope.test", id, n),
		FromUser:    fmt.Sprintf("10%02d", n),
		ToUser:      fmt.Sprintf("20%02d", n),
		Caller:      ap(fmt.Sprintf("10.0.%d.10:5060", n)),
		Callee:      ap(fmt.Sprintf("10.1.%d.20:5060", n)),
		CallerMedia: ap(fmt.Sprintf("10.0.%d.10:%d", n, 40000+2*n)),
		CalleeMedia: ap(fmt.Sprintf("10.1.%d.20:%d", n, 50000+2*n)),
		Start:       time.Duration(n) * 300 * time.Millisecond,
		RingMs:      400,
		TalkMs:      2000,
		Codec:       "PCMU",
	}
}

// ipv6Call moves a call's addresses into 2001:db8::/96 (the inner packets of a tunnel
// whose outer header stays IPv4).
func ipv6Call(c *CallSpec) {
	for _, a := range []*netip.AddrPort{&c.Caller, &c.Callee, &c.CallerMedia, &c.CalleeMedia} {
		*a = netip.AddrPortFrom(map6(a.Addr()), a.Port())
	}
}

func one(name string, mod func(*Scenario)) Scenario {
	s := Scenario{Name: name, Format: PcapMicro, Link: Ethernet, Seed: int64(len(name))*7919 + int64(name[len(name)-1]), Start: catalogueStart,
		Calls: []CallSpec{basicCall(name, 1)}}
	if mod != nil {
		mod(&s)
	}
	return s
}

func withCall(mod func(*CallSpec)) func(*Scenario) {
	return func(s *Scenario) { mod(&s.Calls[0]) }
}

// Catalogue returns the named scenarios used by golden tests: at least one
// per Format, Link, Encap, Transport and TCPMode, and one per call rule of
// the correlation issue. The list and every scenario are deterministic.
func Catalogue() []Scenario {
	var out []Scenario
	add := func(s Scenario) { out = append(out, s) }
	// formats
	add(one("format-pcap-us", nil))
	add(one("format-pcap-ns", func(s *Scenario) { s.Format = PcapNano }))
	add(one("format-pcap-be", func(s *Scenario) { s.Format = PcapBigEndian }))
	add(one("format-pcapng", func(s *Scenario) { s.Format = Pcapng }))
	add(one("format-pcapng-multi", func(s *Scenario) { s.Format = PcapngMultiIface }))
	add(one("format-pcapng-multi-sll", func(s *Scenario) { s.Format = PcapngMultiIface; s.Link = LinuxSLL }))
	// links
	for _, l := range []struct {
		n string
		l Link
	}{{"ethernet", Ethernet}, {"sll", LinuxSLL}, {"sll2", LinuxSLL2}, {"raw", RawIP}, {"null", Null}, {"loop", Loop}} {
		add(one("link-"+l.n, func(s *Scenario) { s.Link = l.l }))
	}
	add(one("link-null-be", func(s *Scenario) { s.Link = Null; s.Format = PcapBigEndian }))
	// encapsulations
	for _, e := range []struct {
		n string
		e Encap
	}{{"vlan", VLAN}, {"qinq", QinQ}, {"mpls", MPLS}, {"gre", GRE}, {"erspan2", ERSPAN2}, {"erspan3", ERSPAN3},
		{"vxlan", VXLAN}, {"ipip", IPIP}, {"ip6in4", IP6in4}, {"ipv6", IPv6}} {
		add(one("encap-"+e.n, func(s *Scenario) { s.Encap = e.e }))
	}
	add(one("encap-vlan-sll", func(s *Scenario) { s.Encap = VLAN; s.Link = LinuxSLL }))
	// tunnels of access and mobile networks, and a SPAN session seeing every frame twice
	add(one("pptp", func(s *Scenario) { s.Encap = PPTP }))
	add(one("gtpu", func(s *Scenario) { s.Encap = GTPU }))
	add(one("gtpu-ipv6", func(s *Scenario) { s.Encap = GTPU; ipv6Call(&s.Calls[0]) }))
	add(one("span-duplicates", func(s *Scenario) { s.SpanDuplicates = true }))
	// transports
	add(one("transport-tcp", func(s *Scenario) { s.Transport = TCP }))
	add(one("transport-sctp", func(s *Scenario) { s.Transport = SCTP }))
	add(one("transport-ws", func(s *Scenario) { s.Transport = WS }))
	add(one("transport-hep", func(s *Scenario) { s.Transport = HEP; s.Calls[0].RTCP = true; s.Calls[0].RTTMs = 40 }))
	add(one("transport-tcp-ipv6", func(s *Scenario) { s.Transport = TCP; s.Encap = IPv6 }))
	add(one("udp-fragmented", func(s *Scenario) { s.Fragment = true; s.Calls[0].Payload = sdpPadding(30) }))
	add(one("udp-fragmented-ipv6", func(s *Scenario) { s.Fragment = true; s.Encap = IPv6; s.Calls[0].Payload = sdpPadding(30) }))
	// TCP modes
	for _, m := range []struct {
		n string
		m TCPMode
	}{{"split", Split}, {"coalesce", Coalesce}, {"retransmit", Retransmit}, {"reorder", Reorder},
		{"split-coalesce", Split | Coalesce}, {"all", Split | Coalesce | Retransmit | Reorder}} {
		add(one("tcp-"+m.n, func(s *Scenario) {
			s.Transport = TCP
			s.TCPMode = m.m
			s.Calls[0].ProxyHop = m.m == Split|Coalesce|Retransmit|Reorder
		}))
	}
	add(one("ws-split", func(s *Scenario) { s.Transport = WS; s.TCPMode = Split }))
	// call rules
	fail := func(name string, o Outcome, code int) {
		add(one(name, withCall(func(c *CallSpec) { c.Outcome, c.FinalCode, c.TalkMs = o, code, 0 })))
	}
	fail("call-busy", Busy, 0)
	fail("call-cancel", Cancelled, 0)
	fail("call-404", Failed, 404)
	fail("call-480", NoAnswer, 0)
	fail("call-408", Timeout, 0)
	fail("call-503", Failed, 503)
	fail("call-redirect", Redirected, 0)
	add(one("call-answered", withCall(func(c *CallSpec) { c.RTCP, c.RTTMs = true, 60; c.TalkMs = 6000 })))
	add(one("call-bye-callee", withCall(func(c *CallSpec) { c.ByeFromCallee = true })))
	add(one("call-retransmit-invite", withCall(func(c *CallSpec) { c.RetransmitInvite = true })))
	add(one("call-proxy-hops", withCall(func(c *CallSpec) { c.ProxyHop = true })))
	add(one("call-fork", withCall(func(c *CallSpec) { c.Fork = true })))
	add(one("call-reinvite-hold", withCall(func(c *CallSpec) { c.ReInviteHold = true; c.TalkMs = 3000 })))
	add(one("call-port-move", withCall(func(c *CallSpec) { c.PortMove = true })))
	add(one("call-early-media", withCall(func(c *CallSpec) { c.EarlyMedia = true; c.RingMs = 1000 })))
	add(one("call-b2bua", func(s *Scenario) {
		a := basicCall("call-b2bua-a", 1)
		b := basicCall("call-b2bua-b", 2)
		b.Caller, b.CallerMedia = ap("10.9.0.1:5060"), ap("10.9.0.1:30000")
		a.Callee, a.CalleeMedia = ap("10.9.0.1:5060"), ap("10.9.0.1:30002")
		b.Start = a.Start + 20*time.Millisecond
		b.FromUser, b.ToUser = a.FromUser, a.ToUser
		b.LinkTo = a.CallID
		s.Calls = []CallSpec{a, b}
	}))
	add(one("call-drop-q850", withCall(func(c *CallSpec) { c.Q850Cause = 41; c.ByeFromCallee = true })))
	add(one("call-normal-q850", withCall(func(c *CallSpec) { c.Q850Cause = 16 })))
	add(one("call-rtp-timeout", withCall(func(c *CallSpec) { c.NoBye = true })))
	add(one("call-media-stop-early", withCall(func(c *CallSpec) { c.MediaStopEarlyMs = 1500; c.TalkMs = 3000 })))
	add(one("call-nat-media", withCall(func(c *CallSpec) { c.NATMedia = true })))
	add(one("call-orphan-rtp", func(s *Scenario) {
		s.Calls = nil
		s.Orphans = []StreamSpec{
			{SSRC: 0x0BADCAFE, Src: ap("10.5.0.1:16384"), Dst: ap("10.5.0.2:16386"), PT: 0, Packets: 150},
			{SSRC: 0x12345678, Src: ap("10.5.0.2:16386"), Dst: ap("10.5.0.1:16384"), PT: 8, Packets: 100, Start: 500 * time.Millisecond},
		}
	}))
	add(one("call-registration", func(s *Scenario) {
		s.Calls = nil
		s.Registrations = []RegSpec{
			{User: "1001", Contact: ap("10.0.0.11:5060"), Registrar: ap("10.0.0.1:5060"), Expires: 3600},
			{User: "1002", Contact: ap("10.0.0.12:5060"), Registrar: ap("10.0.0.1:5060"), Start: time.Second, Expires: 600, Fail: true},
		}
	}))
	// media quality
	add(one("rtp-loss", withCall(func(c *CallSpec) { c.Loss = []int{10, 11, 12, 50}; c.LossBack = []int{5, 60} })))
	add(one("rtp-dup-reorder", withCall(func(c *CallSpec) { c.Duplicates = []int{20, 40}; c.Reorder = []int{30, 70} })))
	add(one("rtp-jitter", withCall(func(c *CallSpec) { c.JitterMs = 8 })))
	add(one("rtp-dtmf", withCall(func(c *CallSpec) { c.DTMF = "1#9"; c.TalkMs = 3000 })))
	for _, cd := range []string{"PCMA", "G729", "G722", "opus"} {
		add(one("codec-"+strings.ToLower(cd), withCall(func(c *CallSpec) { c.Codec = cd })))
	}
	add(one("rtp-rtcp", withCall(func(c *CallSpec) { c.RTCP, c.RTTMs = true, 120; c.TalkMs = 11000; c.LossBack = []int{100, 101} })))
	// real-world call rules (issue "Calls right on real-world traffic")
	add(one("call-auth-407", withCall(func(c *CallSpec) { c.AuthChallenge = 407 })))
	add(one("call-auth-401", withCall(func(c *CallSpec) { c.AuthChallenge = 401; c.ByeFromCallee = true })))
	add(one("call-auth-no-retry", withCall(func(c *CallSpec) { c.AuthChallenge = 407; c.AuthNoRetry = true })))
	add(one("call-redirect-follow", withCall(func(c *CallSpec) { c.RedirectFollow = true })))
	add(one("call-reinvite-488", withCall(func(c *CallSpec) { c.ReInviteFail = 488; c.TalkMs = 4000 })))
	add(one("call-transfer-blind", func(s *Scenario) {
		a := basicCall("call-transfer-a", 1)
		a.TalkMs, a.MediaStopEarlyMs, a.ReferTo = 4000, 1500, "3001"
		b := basicCall("call-transfer-b", 2)
		b.Caller, b.CallerMedia = a.Caller, ap("10.0.1.10:40100")
		b.FromUser, b.ToUser, b.ReferredBy = a.FromUser, "3001", a.ToUser
		b.Start = a.Start + 2900*time.Millisecond
		s.Calls = []CallSpec{a, b}
	}))
	add(one("rtp-stall", withCall(func(c *CallSpec) { c.TalkMs, c.StallMs = 8000, 2000 })))
	add(one("calls-three", func(s *Scenario) {
		s.Calls = []CallSpec{basicCall("calls-three", 1), basicCall("calls-three", 2), basicCall("calls-three", 3)}
		s.Calls[1].Outcome, s.Calls[1].TalkMs = Busy, 0
	}))
	// security rules, each above and just below its threshold (security.go)
	out = append(out, securityScenarios()...)
	return out
}

func sdpPadding(lines int) []byte {
	var b strings.Builder
	for i := range lines {
		fmt.Fprintf(&b, "a=x-callscope-pad:%02d %s\r\n", i, strings.Repeat("v", 40))
	}
	return []byte(b.String())
}

// Load returns a throughput scenario: calls answered calls of callSeconds of
// 20 ms PCMU both ways, starting evenly over the first half of the call
// length so that most of them overlap. 600 calls × 60 s is about 3.6 million
// packets. Write streams it without holding packets in memory.
func Load(calls int, callSeconds int, seed int64) Scenario {
	s := Scenario{Name: fmt.Sprintf("load-%d-%d", calls, callSeconds), Format: PcapMicro, Link: Ethernet, Seed: seed, Start: catalogueStart}
	spread := time.Duration(callSeconds) * time.Second / 2
	for i := range calls {
		a, b := byte(i>>8), byte(i)
		c := CallSpec{
			CallID:      fmt.Sprintf("load-%d@callscope.test", i),
			FromUser:    fmt.Sprintf("1%06d", i),
			ToUser:      fmt.Sprintf("2%06d", i),
			Caller:      netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 10, a, b}), 5060),
			Callee:      netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 20, a, b}), 5060),
			CallerMedia: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 10, a, b}), 20000+uint16(i%1000)*2),
			CalleeMedia: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 20, a, b}), 30000+uint16(i%1000)*2),
			Start:       spread * time.Duration(i) / time.Duration(max(calls, 1)),
			RingMs:      500,
			TalkMs:      callSeconds * 1000,
			Codec:       "PCMU",
		}
		s.Calls = append(s.Calls, c)
	}
	return s
}
