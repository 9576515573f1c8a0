package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/internal/gen"
	"github.com/callscope/callscope/internal/testutil"
	"github.com/prometheus/client_golang/prometheus"
)

// analyzeFull runs the demo capture through decode and correlate keeping full RTP
// payload (serve --keep-rtp full).
func analyzeFull(t *testing.T, file string, keep string) []*correlate.Record {
	t.Helper()
	src, err := capture.OpenFiles([]string{file})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	cfg := correlate.DefaultConfig()
	cfg.KeepMessages, cfg.KeepRTP = true, keep
	var recs []*correlate.Record
	cor := correlate.New(cfg, correlate.Output{Call: func(r *correlate.Record) { recs = append(recs, r) }})
	dec := decode.New(decode.DefaultConfig())
	var p capture.Packet
	for {
		if err := src.Next(&p); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		dec.Decode(p.LinkType, p.TS, p.Data, cor.Event)
	}
	dec.Flush(cor.Event)
	cor.Finish()
	return recs
}

// TestAudioEndpoint serves the demo capture's calls (real SIPp calls playing Debian's
// g711a.pcap, echoed back) kept with full payload, and checks the WAV of each direction
// sample by sample against tshark's payload bytes decoded by sox; then who may listen.
func TestAudioEndpoint(t *testing.T) {
	st := openDuck(t)
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	full := analyzeFull(t, demoPath(t), correlate.KeepRTPFull)
	if err := st.WriteCalls(ctx, full); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{"adm": RoleAdmin, "view": RoleViewer, "mask": RoleViewerMasked}
	cfg := Config{RequireLogin: true}
	for tok, role := range tokens {
		cfg.Tokens = append(cfg.Tokens, Token{Name: tok, SHA256: HashToken(tok), Role: role})
	}
	h := New(cfg, st, nil, prometheus.NewRegistry())
	as := func(tok string) *client {
		return &client{t: t, h: h, auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }}
	}
	var answered *correlate.Record
	for _, r := range full {
		if r.Call.CallID == "1-13003@127.0.0.1" { // the answered call with audio and DTMF
			answered = r
		}
	}
	if answered == nil || len(answered.Call.Streams) < 2 {
		t.Fatalf("answered call with two audio streams not found")
	}
	id := answered.Call.ID
	base := "/api/v1/calls/" + id + "/audio"

	compared := 0
	for i, s := range answered.Call.Streams {
		if s.Codec != "PCMA" {
			continue
		}
		compared++
		rec := as("adm").do("GET", base+"?stream="+itoa(i), nil)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "audio/wav" {
			t.Fatalf("stream %d: %d %s %s", i, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		}
		cd := rec.Header().Get("Content-Disposition")
		if !strings.HasPrefix(cd, `attachment; filename="callscope-`+id+"-"+itoa(i)+"-") || !strings.HasSuffix(cd, `.wav"`) {
			t.Errorf("Content-Disposition %q", cd)
		}
		rate, got := testutil.WAVSamples(t, rec.Body.Bytes())
		// The oracle: tshark's payload bytes of this stream (SSRC, source port, PCMA
		// payload type 8) decoded by sox, placed by RTP timestamp.
		port := s.Src[strings.LastIndexByte(s.Src, ':')+1:]
		o := testutil.TsharkSoxG711(t, demoPath(t), "rtp.ssrc=="+s.SSRC+" && udp.srcport=="+port+" && rtp.p_type==8", "al")
		if rate != 8000 || len(got) != len(o.Samples) {
			t.Fatalf("stream %d: %d Hz, %d samples; sox/tshark: 8000 Hz, %d samples (%d packets)", i, rate, len(got), len(o.Samples), o.Packets)
		}
		diff := 0
		for j := range got {
			if got[j] != o.Samples[j] {
				diff++
			}
		}
		if diff > 0 {
			t.Errorf("stream %d: %d of %d samples differ from sox's decode", i, diff, len(got))
		}
		// By SSRC too (both directions share the SSRC: the echo): the first of them.
		if i == 0 {
			if r2 := as("adm").do("GET", base+"?stream="+s.SSRC, nil); r2.Code != 200 || r2.Body.Len() != rec.Body.Len() {
				t.Errorf("by SSRC: %d, %d bytes", r2.Code, r2.Body.Len())
			}
		}
	}

	if compared != 2 { // tshark -z rtp,streams: two g711A streams in this call
		t.Fatalf("compared %d PCMA streams, want 2", compared)
	}
	// The mix is as long as the later-ending direction from the earlier start.
	rec := as("adm").do("GET", base+"?stream=mix", nil)
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Disposition"), "-mixed.wav") ||
		rec.Header().Get("X-Audio-Start") == "" {
		t.Fatalf("mix: %d %v", rec.Code, rec.Header())
	}
	// A Range request (what an <audio> element sends to seek) gets 206.
	rr := as("adm")
	rr.auth = func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer adm")
		r.Header.Set("Range", "bytes=44-99")
	}
	if r := rr.do("GET", base+"?stream=0", nil); r.Code != http.StatusPartialContent || r.Body.Len() != 56 {
		t.Errorf("range: %d, %d bytes", r.Code, r.Body.Len())
	}

	errBody := func(rec interface{ Result() *http.Response }, code int, want string) {
		t.Helper()
		resp := rec.Result()
		var e errorBody
		if resp.StatusCode != code || json.NewDecoder(resp.Body).Decode(&e) != nil || !strings.Contains(e.Error, want) {
			t.Errorf("status %d (want %d), error %q (want %q)", resp.StatusCode, code, e.Error, want)
		}
	}
	for _, tok := range []string{"view", "mask"} {
		errBody(as(tok).do("GET", base+"?stream=0", nil), 403, "admins")
	}
	// Under --mask-numbers an admin is masked too: no audio.
	mcfg := cfg
	mcfg.MaskNumbers = true
	mh := New(mcfg, st, nil, prometheus.NewRegistry())
	errBody((&client{t: t, h: mh, auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer adm") }}).do("GET", base+"?stream=0", nil), 403, "admins")
	errBody(as("adm").do("GET", base, nil), 400, "stream")
	errBody(as("adm").do("GET", base+"?stream=7", nil), 404, "no stream 7")
	errBody(as("adm").do("GET", "/api/v1/calls/nope/audio?stream=0", nil), 404, "no such call")
	// The DTMF stream's codec is named in the 404.
	for i, s := range answered.Call.Streams {
		if s.Codec == "telephone-event" {
			errBody(as("adm").do("GET", base+"?stream="+itoa(i), nil), 404, "codec telephone-event")
		}
	}

	// The same calls kept with headers only: no payload, 404 JSON.
	st2 := openDuck(t)
	if err := st2.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st2.WriteCalls(ctx, analyzeFull(t, demoPath(t), correlate.KeepRTPHeaders)); err != nil {
		t.Fatal(err)
	}
	h2 := New(cfg, st2, nil, prometheus.NewRegistry())
	errBody((&client{t: t, h: h2, auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer adm") }}).do("GET", base+"?stream=0", nil), 404, "no RTP payload kept")
}

// genCall writes the catalogue scenario name, with mod applied to its call, as a
// pcap in dir.
func genCall(t *testing.T, name string, mod func(*gen.CallSpec)) string {
	t.Helper()
	for _, sc := range gen.Catalogue() {
		if sc.Name != name {
			continue
		}
		sc.Calls = append([]gen.CallSpec(nil), sc.Calls...)
		mod(&sc.Calls[0])
		path := filepath.Join(t.TempDir(), name+".pcap")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sc.Write(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Fatalf("no scenario %s", name)
	return ""
}

// TestAudioG722 serves a generated G.722 call that lost packets 5, 6 and 20 and got
// packet 10 twice: the WAV is 16 kHz, two samples per RTP tick, and equals ffmpeg's
// decode of tshark's payloads placed by timestamp, silent where the lost packets were.
// An Opus call is a 404 naming the codec.
func TestAudioG722(t *testing.T) {
	ctx := context.Background()
	st := openDuck(t)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	g722 := genCall(t, "codec-g722", func(c *gen.CallSpec) { c.Loss = []int{5, 6, 20}; c.Duplicates = []int{10} })
	opus := genCall(t, "codec-opus", func(*gen.CallSpec) {})
	recs := append(analyzeFull(t, g722, correlate.KeepRTPFull), analyzeFull(t, opus, correlate.KeepRTPFull)...)
	if err := st.WriteCalls(ctx, recs); err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, h: New(Config{}, st, nil, prometheus.NewRegistry())} // no login: admin
	for _, r := range recs {
		for i, s := range r.Call.Streams {
			rec := c.do("GET", "/api/v1/calls/"+r.Call.ID+"/audio?stream="+itoa(i), nil)
			if s.Codec == "opus" {
				if rec.Code != 404 || !strings.Contains(rec.Body.String(), "codec opus") {
					t.Errorf("opus: %d %s", rec.Code, rec.Body.String())
				}
				continue
			}
			if s.Codec != "G722" || rec.Code != 200 {
				t.Fatalf("stream %d %s: %d %s", i, s.Codec, rec.Code, rec.Body.String())
			}
			rate, got := testutil.WAVSamples(t, rec.Body.Bytes())
			port := s.Src[strings.LastIndexByte(s.Src, ':')+1:]
			o := testutil.TsharkFFmpegG722(t, g722, "rtp.ssrc=="+s.SSRC+" && udp.srcport=="+port+" && rtp.p_type==9")
			if rate != 16000 || len(got) != len(o.Samples) {
				t.Fatalf("stream %d: %d Hz, %d samples; tshark+ffmpeg 16000 Hz, %d samples", i, rate, len(got), len(o.Samples))
			}
			silent := 0
			for j := range got {
				if !o.Covered[j] {
					silent++
				}
				if got[j] != o.Samples[j] {
					t.Fatalf("stream %d sample %d: %d, ffmpeg %d (covered %v)", i, j, got[j], o.Samples[j], o.Covered[j])
				}
			}
			// The caller's stream lost 3 packets: 3 × 20 ms × 16 kHz = 960 silent samples.
			if i == 0 && silent != 960 {
				t.Errorf("stream 0: %d samples not covered by a packet, want 960", silent)
			}
		}
	}
}
