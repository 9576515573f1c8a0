package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/internal/gen"
	"github.com/callscope/callscope/internal/testutil"
	"github.com/pion/rtp"
)

// The reference for --workers 2 is --workers 1, the single-goroutine path every golden
// file was checked against (the goldens themselves are derived from the generator's truth
// and from tshark, see e2e_test.go): the expectation is "the same bytes", not a number.

// parallelInputs lists one capture set per case: every golden scenario, every shared
// capture, a load of 40 calls (many batches: its 20,000 packets span 5 batches of
// pipeBatchPkts), and two shared files merged by time.
func parallelInputs(t *testing.T) map[string][]string {
	t.Helper()
	in := map[string][]string{}
	dir := t.TempDir()
	write := func(name string, sc gen.Scenario) {
		path := filepath.Join(dir, name+".pcap")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = sc.Write(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		in["gen/"+name] = []string{path}
	}
	for _, sc := range gen.Catalogue() {
		write(sc.Name, sc)
	}
	write("load-40x5s", gen.Load(40, 5, 1))
	shared := testutil.SharedTestdata(t)
	ents, err := os.ReadDir(shared)
	if err != nil {
		t.Fatal(err)
	}
	var caps []string
	for _, e := range ents {
		if n := e.Name(); !e.IsDir() && (strings.Contains(n, ".pcap") || strings.HasSuffix(n, ".gz")) {
			caps = append(caps, filepath.Join(shared, n))
			in["shared/"+n] = []string{filepath.Join(shared, n)}
		}
	}
	if len(caps) < 2 {
		t.Fatalf("%d shared captures in %s", len(caps), shared)
	}
	in["shared/merge-first-two"] = caps[:2]
	return in
}

// TestParallelReportIdentical: the analyze --json document (calls, streams, quality,
// registrations, security events, capture counters, file errors) with --workers 2 is
// byte-identical to --workers 1 on every input.
func TestParallelReportIdentical(t *testing.T) {
	for name, files := range parallelInputs(t) {
		t.Run(name, func(t *testing.T) {
			var want []byte
			var wantErr string
			for _, workers := range []int{1, 2} {
				rep, err := analyzeFilesWorkers(context.Background(), files, decode.DefaultConfig(), correlate.DefaultConfig(), &callHooks{}, workers)
				if rep == nil {
					t.Fatalf("workers %d: %v", workers, err)
				}
				got, gotErr := reportJSON(t, rep), fmt.Sprint(err)
				if workers == 1 {
					want, wantErr = got, gotErr
					continue
				}
				if gotErr != wantErr {
					t.Errorf("workers %d: error %q, workers 1: %q", workers, gotErr, wantErr)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("workers %d: report differs from workers 1 at byte %d\n%s", workers, firstDiff(got, want), diffContext(got, want))
				}
			}
		})
	}
}

// TestParallelRecordsIdentical checks what the JSON report leaves out but serve stores:
// every SIP message with its raw bytes and frame, and every RTP/RTCP frame kept whole
// or up to its RTP header (KeepMessages, KeepRTP full and headers), as the correlator
// hands them over, the frames decoded from their packs (a Record's JSON leaves them out).
func TestParallelRecordsIdentical(t *testing.T) {
	for _, keep := range []string{correlate.KeepRTPFull, correlate.KeepRTPHeaders} {
		t.Run(keep, func(t *testing.T) { parallelRecordsIdentical(t, keep) })
	}
}

func parallelRecordsIdentical(t *testing.T, keep string) {
	ccfg := correlate.DefaultConfig()
	ccfg.KeepMessages = true
	ccfg.KeepRTP = keep
	frames := 0
	records := func(files []string, workers int) []byte {
		var recs []*correlate.Record
		cor := correlate.New(ccfg, correlate.Output{Call: func(r *correlate.Record) { recs = append(recs, r) }})
		pl, err := openPipeline(files, decode.DefaultConfig(), cor)
		if err != nil {
			t.Fatal(err)
		}
		defer pl.close()
		pl.workers = workers
		ticks := 0
		if err := pl.run(context.Background(), func() { ticks++; _ = pl.dec.Counters() }); err != nil {
			t.Fatal(err)
		}
		if ticks == 0 {
			t.Errorf("workers %d: tick never called", workers)
		}
		// The kept frames too: a Record's JSON leaves its packed frames out.
		type withFrames struct {
			R      *correlate.Record
			Frames []correlate.Frame
		}
		all := make([]withFrames, len(recs))
		for i, r := range recs {
			fr, err := r.AppendMedia(nil)
			if err != nil {
				t.Fatal(err)
			}
			all[i] = withFrames{r, fr}
			frames += len(fr)
		}
		b, err := json.Marshal(all)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, files := range parallelInputs(t) {
		t.Run(name, func(t *testing.T) {
			want, got := records(files, 1), records(files, 2)
			if !bytes.Equal(got, want) {
				t.Errorf("records differ from workers 1 at byte %d\n%s", firstDiff(got, want), diffContext(got, want))
			}
		})
	}
	if frames == 0 {
		t.Error("no frames kept: the comparison covered none")
	}
}

// TestParallelCancel: a cancelled context stops both goroutines and returns its error.
func TestParallelCancel(t *testing.T) {
	in := parallelInputs(t)["gen/load-40x5s"]
	cor := correlate.New(correlate.DefaultConfig(), correlate.Output{})
	pl, err := openPipeline(in, decode.DefaultConfig(), cor)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.close()
	pl.workers = 2
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pl.run(ctx, nil); err != context.Canceled {
		t.Fatalf("run after cancel: %v, want context.Canceled", err)
	}
}

// TestPipeBatchNoAlloc: copying an RTP event into a batch and rebuilding it allocates
// nothing once the batch buffers have grown.
func TestPipeBatchNoAlloc(t *testing.T) {
	frame := make([]byte, 214)
	payload := frame[42:]
	h := rtp.Header{Version: 2, SSRC: 7, SequenceNumber: 9}
	if _, err := h.MarshalTo(payload); err != nil {
		t.Fatal(err)
	}
	ev := decode.Event{Kind: decode.KindRTP, TS: 1, Frame: frame, Payload: payload, RTP: &h, RTPPayloadLen: 160}
	b := &pipeBatch{events: make([]pipeEvent, 0, pipeBatchEvents), arena: make([]byte, 0, pipeBatchBytes)}
	var out decode.Event
	var hdr rtp.Header
	allocs := testing.AllocsPerRun(100, func() {
		b.reset()
		for range 64 {
			b.add(&ev, nil)
		}
		for i := range b.events {
			b.rebuild(&b.events[i], &out, &hdr, nil)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per 64 events", allocs)
	}
	if !bytes.Equal(out.Payload, payload) || !bytes.Equal(out.Frame, frame) || out.RTP.SSRC != 7 || out.RTP.SequenceNumber != 9 {
		t.Errorf("rebuilt event differs: %+v", out)
	}
	if len(b.arena) != 64*len(frame) {
		t.Errorf("arena %d bytes for 64 frames of %d: the payload inside the frame was copied again", len(b.arena), len(frame))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func diffContext(got, want []byte) string {
	i := firstDiff(got, want)
	lo := max(0, i-200)
	return fmt.Sprintf("got:  …%s…\nwant: …%s…", got[lo:min(len(got), i+200)], want[lo:min(len(want), i+200)])
}

// TestPipeEventFields: a pipeEvent carries every field of a decode.Event (add and
// rebuild name them one by one); an Event field added later must be carried too.
func TestPipeEventFields(t *testing.T) {
	names := []string{}
	rt := reflect.TypeFor[decode.Event]()
	for i := range rt.NumField() {
		names = append(names, rt.Field(i).Name)
	}
	want := "Kind TS Src Dst Transport FromHEP Payload Frame LinkType SIP RTP RTPPayloadLen"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("decode.Event has fields %q; add and rebuild carry %q: carry the new ones", got, want)
	}
	src := decode.Event{Kind: decode.KindRTCP, TS: 77, Src: netip.MustParseAddrPort("[2001:db8::1%eth0]:5004"),
		Dst: netip.MustParseAddrPort("10.0.0.2:5005"), Transport: decode.TransportTCP, FromHEP: true,
		Payload: []byte{0x80, 200, 0, 1, 1, 2, 3, 4}, Frame: []byte{9, 9}, LinkType: 113, RTPPayloadLen: 0}
	b := &pipeBatch{}
	b.add(&src, nil)
	var out decode.Event
	var hdr rtp.Header
	b.rebuild(&b.events[0], &out, &hdr, nil)
	if !reflect.DeepEqual(out, src) {
		t.Errorf("rebuilt %+v\nwant     %+v", out, src)
	}
}

// TestPipeRTPHeader: the header B rebuilds holds every field the decoder's
// rtp.Header.Unmarshal set, for headers with and without padding, marker, CSRCs and
// extensions, in slim and whole batches (the expectation is pion's own Unmarshal of the
// same bytes, the decoder's parser), over a scratch header left dirty by the previous
// packet as B's is.
func TestPipeRTPHeader(t *testing.T) {
	hs := []rtp.Header{
		{Version: 2, PayloadType: 8, SequenceNumber: 65535, Timestamp: 1 << 31, SSRC: 0xdeadbeef},
		{Version: 2, Marker: true, PayloadType: 101, SequenceNumber: 1, Timestamp: 160, SSRC: 1},
		{Version: 2, CSRC: []uint32{1, 2, 3}, PayloadType: 0, SSRC: 5},
		{Version: 2, Extension: true, ExtensionProfile: 0xBEDE, PayloadType: 96, SSRC: 6},
		{Version: 2, Padding: true, PayloadType: 0, SSRC: 7, PaddingSize: 4},
	}
	if err := hs[3].SetExtension(1, []byte{0xaa}); err != nil {
		t.Fatal(err)
	}
	for _, slim := range []bool{false, true} {
		var scratch rtp.Header
		for i, h := range append(hs, hs...) { // twice: each rebuild over the previous one's leftovers
			raw, err := h.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			raw = append(raw, make([]byte, 160)...)
			if h.Padding {
				raw[len(raw)-1] = 4
			}
			var want rtp.Header
			n, err := want.Unmarshal(raw)
			if err != nil {
				t.Fatal(err)
			}
			ev := decode.Event{Kind: decode.KindRTP, TS: 1, Payload: raw, RTP: &want, RTPPayloadLen: len(raw) - n}
			b := &pipeBatch{slim: slim}
			b.add(&ev, nil)
			var out decode.Event
			b.rebuild(&b.events[0], &out, &scratch, nil)
			got := *out.RTP
			if len(got.CSRC) == 0 && len(want.CSRC) == 0 {
				got.CSRC, want.CSRC = nil, nil
			}
			if len(got.Extensions) == 0 && len(want.Extensions) == 0 {
				got.Extensions, want.Extensions = nil, nil
			}
			if !want.Extension {
				got.ExtensionProfile = 0 // Unmarshal leaves it alone too; never read
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("slim %v, header %d: rebuilt %+v\nwant          %+v", slim, i, got, want)
			}
		}
	}
}

// TestPipeBatchSlim: a slim batch (a correlator keeping no frames) carries a plain RTP
// event with more than 4 payload bytes as its header and first 4 payload bytes, no
// frame; every other event (4-byte payload, CSRC list, padding, RTCP, a batch that is
// not slim) travels whole.
func TestPipeBatchSlim(t *testing.T) {
	mk := func(plen int, h rtp.Header, kind decode.Kind) decode.Event {
		hl := 12 + 4*len(h.CSRC)
		frame := make([]byte, 42+hl+plen)
		for i := range frame {
			frame[i] = byte(i)
		}
		p := frame[42:]
		if _, err := h.MarshalTo(p); err != nil {
			t.Fatal(err)
		}
		return decode.Event{Kind: kind, TS: 1, Frame: frame, Payload: p, RTP: &h, RTPPayloadLen: plen}
	}
	plain := rtp.Header{Version: 2, SSRC: 7, SequenceNumber: 9, PayloadType: 0}
	withCSRC := plain
	withCSRC.CSRC = []uint32{5}
	padded := plain
	padded.Padding = true
	cases := []struct {
		name string
		ev   decode.Event
		slim bool // the batch is slim
		cut  bool // want the event cut
	}{
		{"audio 160", mk(160, plain, decode.KindRTP), true, true},
		{"event 8", mk(8, plain, decode.KindRTP), true, true},
		{"event 4", mk(4, plain, decode.KindRTP), true, false},
		{"csrc", mk(160, withCSRC, decode.KindRTP), true, false},
		{"padding", mk(160, padded, decode.KindRTP), true, false},
		{"not slim", mk(160, plain, decode.KindRTP), false, false},
	}
	for _, c := range cases {
		b := &pipeBatch{slim: c.slim}
		b.add(&c.ev, nil)
		var out decode.Event
		var hdr rtp.Header
		b.rebuild(&b.events[0], &out, &hdr, nil)
		if out.RTP.SSRC != 7 || out.RTP.SequenceNumber != 9 {
			t.Errorf("%s: header %+v", c.name, out.RTP)
		}
		switch {
		case c.cut:
			if out.Frame != nil || !bytes.Equal(out.Payload, c.ev.Payload[:16]) || out.RTPPayloadLen != 4 {
				t.Errorf("%s: frame %d bytes, payload %d, RTPPayloadLen %d; want none, the first 16, 4",
					c.name, len(out.Frame), len(out.Payload), out.RTPPayloadLen)
			}
		default:
			if !bytes.Equal(out.Frame, c.ev.Frame) || !bytes.Equal(out.Payload, c.ev.Payload) || out.RTPPayloadLen != c.ev.RTPPayloadLen {
				t.Errorf("%s: event changed in the batch", c.name)
			}
		}
	}
}

// TestPipeBatchSlimSameCalls: the calls of gen's rtp-dtmf scenario (RFC 4733 digits),
// with every telephone-event packet given a second 4-byte block (so its payload is 8
// bytes and gets cut), come out of a correlator fed the events through a slim batch
// exactly as out of one fed them directly: DTMF digits, durations and stream figures
// included.
func TestPipeBatchSlimSameCalls(t *testing.T) {
	path := writeScenario(t, t.TempDir(), "rtp-dtmf")
	var direct, slim [][]byte
	collect := func(dst *[][]byte) correlate.Output {
		return correlate.Output{Call: func(r *correlate.Record) {
			b, err := json.Marshal(&r.Call)
			if err != nil {
				t.Fatal(err)
			}
			*dst = append(*dst, b)
		}}
	}
	c1 := correlate.New(correlate.DefaultConfig(), collect(&direct))
	c2 := correlate.New(correlate.DefaultConfig(), collect(&slim))
	if c2.KeepsFrames() {
		t.Fatal("the default correlator keeps frames: the batch would not be slim")
	}
	b := &pipeBatch{slim: true}
	var out decode.Event
	var hdr rtp.Header
	var msg sip.Message
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dec := decode.New(decode.DefaultConfig())
	events, cut, hashed := 0, 0, 0
	hs := c2.StreamHasher()
	feed := func(ev *decode.Event) {
		if ev.Kind == decode.KindRTP && ev.RTPPayloadLen == 4 && len(ev.Payload) == 16 {
			// A second block: another event, so a reader of more than 4 bytes would differ.
			p := append(append([]byte(nil), ev.Payload...), 0x0b, 0x80, 0x01, 0x40)
			e := *ev
			e.Payload, e.Frame, e.RTPPayloadLen = p, append(append([]byte(nil), ev.Frame[:len(ev.Frame)-16]...), p...), 8
			e.Payload = e.Frame[len(e.Frame)-len(p):]
			ev = &e
		}
		c1.Event(ev)
		b.reset()
		b.add(ev, &hs)
		if b.events[0].frameLen < 0 {
			cut++
		}
		b.rebuild(&b.events[0], &out, &hdr, &msg)
		if b.events[0].rtpFlags&rtpHashed != 0 {
			hashed++
			c2.EventHashed(&out, b.events[0].hash)
		} else {
			c2.Event(&out)
		}
		events++
	}
	var pkt capture.Packet
	for src.Next(&pkt) == nil {
		dec.Decode(pkt.LinkType, pkt.TS, pkt.Data, feed)
	}
	dec.Flush(feed)
	c1.Finish()
	c2.Finish()
	if hashed == 0 {
		t.Fatal("no RTP event carried its stream hash")
	}
	if cut == 0 || len(direct) == 0 || !bytes.Contains(bytes.Join(direct, nil), []byte(`"dtmf":"1#9"`)) {
		t.Fatalf("%d events, %d cut, %d calls (%s): the test would prove nothing", events, cut, len(direct), bytes.Join(direct, nil))
	}
	if len(slim) != len(direct) {
		t.Fatalf("%d calls through the slim batch, %d direct", len(slim), len(direct))
	}
	for i := range direct {
		if !bytes.Equal(slim[i], direct[i]) {
			t.Fatalf("call %d differs:\n%s", i, diffContext(slim[i], direct[i]))
		}
	}
}

// TestSlimArenaGrows: a slim ring's arena starts at room for slim RTP (pipeArenaCap) but
// carries an event larger than that intact, and the batch reports full at the same byte
// bound as a full ring's. The expectation is the input: the rebuilt payload is the bytes
// added.
func TestSlimArenaGrows(t *testing.T) {
	free, _ := newPipeRing(true)
	b := <-free
	if c := cap(b.arena); c != pipeArenaCap(true) || c >= pipeBatchBytes {
		t.Fatalf("slim arena cap %d, want %d (< %d)", c, pipeArenaCap(true), pipeBatchBytes)
	}
	big := make([]byte, pipeBatchBytes+1000) // past the slim cap and the byte bound
	for i := range big {
		big[i] = byte(i * 7)
	}
	ev := decode.Event{Kind: decode.KindRTCP, TS: 5, Frame: big, Payload: big[42:]}
	b.add(&ev, nil)
	if !b.full() {
		t.Errorf("a %d-byte batch is not full (pipeBatchBytes %d)", len(b.arena), pipeBatchBytes)
	}
	var out decode.Event
	var hdr rtp.Header
	b.rebuild(&b.events[0], &out, &hdr, nil)
	if !bytes.Equal(out.Frame, big) || !bytes.Equal(out.Payload, big[42:]) || out.TS != 5 {
		t.Errorf("rebuilt frame %d bytes, payload %d bytes, ts %d; want %d, %d, 5", len(out.Frame), len(out.Payload), out.TS, len(big), len(big)-42)
	}
}

// TestReportJSONStreamed: analyze --json's streamed document is byte for byte what a
// json.Encoder with SetIndent("", "  ") makes of the whole report (the layout the goldens
// were written in), on every golden scenario and shared capture, and with empty and nil
// lists.
func TestReportJSONStreamed(t *testing.T) {
	check := func(name string, rep *Report) {
		t.Helper()
		var want, got bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			t.Fatal(err)
		}
		if err := writeReportJSON(&got, rep); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%s: streamed document differs at byte %d\n%s", name, firstDiff(got.Bytes(), want.Bytes()), diffContext(got.Bytes(), want.Bytes()))
		}
	}
	calls := 0
	for name, files := range parallelInputs(t) {
		rep, _ := analyzeFilesWorkers(context.Background(), files, decode.DefaultConfig(), correlate.DefaultConfig(), &callHooks{}, 1)
		if rep == nil {
			t.Fatalf("%s: no report", name)
		}
		calls += len(rep.Calls)
		check(name, rep)
	}
	if calls == 0 {
		t.Fatal("no calls in any input")
	}
	check("empty", &Report{Calls: []correlate.Call{}})
	check("nil", &Report{})
}
