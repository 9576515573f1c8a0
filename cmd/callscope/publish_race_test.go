package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/internal/gen"
	"github.com/prometheus/client_golang/prometheus"
)

// TestLivePublishConcurrent checks the design of the live records under the race
// detector (go test -race): the correlator's goroutine publishes LiveRecords every 256
// packets of generated calls with RTP kept, and finished calls go to the unstored table
// and out again, while another goroutine reads every byte of every published message
// and frame. Without -race it still checks that readers saw calls with messages and
// frames, and that a kept message's bytes are a SIP message (they begin as the
// generator's do, "INVITE " or "SIP/2.0 " and so on, never rewritten).
func TestLivePublishConcurrent(t *testing.T) {
	sc := gen.Scenario{Name: "race", Format: gen.PcapMicro, Link: gen.Ethernet, Seed: 9, Start: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	for i := range 6 {
		sc.Calls = append(sc.Calls, gen.CallSpec{
			CallID: "race-" + strconv.Itoa(i) + "@callscope.test", FromUser: "1001", ToUser: "2002", Start: time.Duration(i) * 700 * time.Millisecond,
			Caller: netip.MustParseAddrPort("10.0.0.1:5060"), Callee: netip.MustParseAddrPort("192.0.2.1:5060"),
			CallerMedia: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(20000+2*i)),
			CalleeMedia: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), uint16(30000+2*i)),
			RingMs:      100, TalkMs: 3000, Codec: "PCMU",
		})
	}
	path := filepath.Join(t.TempDir(), "race.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()

	live, err := newLiveCalls(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ccfg := correlate.DefaultConfig()
	ccfg.KeepMessages, ccfg.KeepRTP = true, correlate.KeepRTPHeaders
	ccfg.Linger = 500 * time.Millisecond
	var emitted []*correlate.Record
	cor := correlate.New(ccfg, correlate.Output{Call: func(r *correlate.Record) { live.unstored.add(r); emitted = append(emitted, r) }})
	dec := decode.New(decode.DefaultConfig())

	var stop atomic.Bool
	var sawMsgs, sawFrames atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			for _, c := range live.ActiveCalls() {
				r, ok := live.ActiveCall(c.ID)
				if !ok {
					continue
				}
				sum := 0
				for _, m := range r.Messages {
					for _, b := range m.Raw {
						sum += int(b)
					}
					if len(m.Raw) < 8 || !(string(m.Raw[:8]) == "SIP/2.0 " || m.Method != "" && string(m.Raw[:len(m.Method)]) == m.Method) {
						t.Errorf("call %s: a kept message reads %q", c.CallID, m.Raw[:min(len(m.Raw), 16)])
						return
					}
				}
				media, err := r.AppendMedia(nil)
				if err != nil {
					t.Errorf("call %s: kept frames: %v", c.CallID, err)
					return
				}
				for _, fr := range media {
					for _, b := range fr.Data {
						sum += int(b)
					}
				}
				_ = sum
				sawMsgs.Add(int64(len(r.Messages)))
				sawFrames.Add(int64(len(media)))
			}
		}
	}()
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	var pkt capture.Packet
	for i := 0; src.Next(&pkt) == nil; i++ {
		dec.Decode(pkt.LinkType, pkt.TS, pkt.Data, cor.Event)
		if i%256 == 0 {
			cor.Advance(pkt.TS)
			live.files.publish(cor, dec, true)
			if len(emitted) > 0 { // the writer stores what was emitted, on its goroutine in serve
				live.unstored.stored(emitted)
				emitted = emitted[:0]
			}
		}
	}
	src.Close()
	cor.Finish()
	live.files.publish(cor, dec, true)
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if sawMsgs.Load() == 0 || sawFrames.Load() == 0 {
		t.Errorf("the reader saw %d messages and %d frames: the test proves nothing", sawMsgs.Load(), sawFrames.Load())
	}
}
