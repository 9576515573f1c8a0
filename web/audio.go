package web

// Listening to a call: GET /api/v1/calls/:id/audio?stream=N|SSRC|mix decodes the RTP
// payload kept with `--keep-rtp full` (the call's media frames, as the pcap export
// reads them) into a WAV file. Admins only: audio carries everything said on the call,
// so masked viewers (and everyone under --mask-numbers) and viewers get 403.
//
// Bounds: one call's frames are already bounded by correlate's per-call media budget;
// each decoded track is cut at audio.MaxDuration (10 minutes), the mix too.

import (
	"bytes"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/callscope/callscope/audio"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/gin-gonic/gin"
)

// audioTrack is what a stream of the call decodes to.
type audioTrack struct {
	idx   int
	st    *correlate.Stream
	codec audio.Codec
	src   netip.AddrPort
	dst   netip.AddrPort
	ssrc  uint32
	pkts  []audio.Packet
	first int64 // arrival of the first packet, Unix ns
}

func (s *server) audio(c *gin.Context) {
	if id := getIdent(c); id.Role != RoleAdmin || id.Masked {
		apiError(c, http.StatusForbidden, "listening to calls is for admins without masked numbers")
		return
	}
	want := c.Query("stream")
	if want == "" {
		apiError(c, http.StatusBadRequest, "bad parameter stream: want a stream index, an SSRC (0x...) or mix")
		return
	}
	cl, err := s.findCall(c, c.Param("id"))
	if err != nil {
		s.storeError(c, err)
		return
	}
	var picked []*audioTrack
	for i := range cl.Streams {
		st := &cl.Streams[i]
		if want != "mix" && want != strconv.Itoa(i) && !strings.EqualFold(want, st.SSRC) {
			continue
		}
		t := &audioTrack{idx: i, st: st, codec: audio.CodecFor(st.Codec, st.PayloadType)}
		src, err1 := netip.ParseAddrPort(st.Src)
		dst, err2 := netip.ParseAddrPort(st.Dst)
		ssrc, err3 := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(st.SSRC), "0x"), 16, 32)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		t.src, t.dst, t.ssrc = src, dst, uint32(ssrc)
		picked = append(picked, t)
		if want != "mix" {
			break
		}
	}
	if len(picked) == 0 {
		apiError(c, http.StatusNotFound, "call has no stream "+want)
		return
	}
	var unsupported []string
	decodable := picked[:0:0]
	for _, t := range picked {
		if t.codec == audio.CodecNone {
			unsupported = append(unsupported, codecName(t.st))
			continue
		}
		decodable = append(decodable, t)
	}
	if len(decodable) == 0 {
		apiError(c, http.StatusNotFound, "codec "+strings.Join(unsupported, ", ")+" cannot be played (supported: PCMU, PCMA, G722)")
		return
	}
	frames, err := s.st.Media(c.Request.Context(), []string{cl.ID})
	if err != nil {
		s.storeError(c, err)
		return
	}
	collectRTP(frames, decodable)

	var tracks []audio.Track
	truncated := false
	for _, t := range decodable {
		if len(t.pkts) == 0 {
			continue
		}
		samples, pst := audio.Playout(t.codec, t.pkts, 0)
		truncated = truncated || pst.Truncated
		if len(samples) > 0 {
			tracks = append(tracks, audio.Track{Samples: samples, Rate: t.codec.SampleRate(), Start: time.Unix(0, t.first).UTC()})
		}
	}
	if len(tracks) == 0 {
		apiError(c, http.StatusNotFound, "no RTP payload kept for this call (serve --keep-rtp full keeps it)")
		return
	}
	out := tracks[0]
	for _, t := range tracks[1:] {
		out = audio.Mix(out, t)
	}
	if len(out.Samples) >= int(audio.MaxDuration/time.Second)*out.Rate {
		truncated = true // the mix reached the cap
	}

	name := "callscope-" + cl.ID + "-mixed"
	if want != "mix" {
		t := decodable[0]
		name = "callscope-" + cl.ID + "-" + strconv.Itoa(t.idx) + "-" + t.st.Src + "-to-" + t.st.Dst
	}
	name = fileSafe(name) + ".wav"
	var buf bytes.Buffer
	buf.Grow(audio.WAVSize(len(out.Samples)))
	_ = audio.WriteWAV(&buf, out.Samples, out.Rate) // a bytes.Buffer does not fail
	h := c.Writer.Header()
	h.Set("Content-Type", "audio/wav")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "private, no-cache")
	// Where the first sample is in time: the dashboard aligns the waveform with it.
	h.Set("X-Audio-Start", out.Start.Format(time.RFC3339Nano))
	if truncated {
		h.Set("X-Audio-Truncated", "true") // cut at audio.MaxDuration
	}
	// ServeContent answers the Range requests an <audio> element makes to seek.
	http.ServeContent(c.Writer, c.Request, name, time.Time{}, bytes.NewReader(buf.Bytes()))
}

func codecName(st *correlate.Stream) string {
	if st.Codec != "" {
		return st.Codec
	}
	return "payload type " + strconv.Itoa(st.PayloadType)
}

// collectRTP decodes the call's frames and appends each RTP packet of a track's stream
// (same SSRC, source and destination, the stream's payload type) to it. Packets of
// other payload types (RFC 4733 events, comfort noise) are left out: silence there.
// The decoder's views live only during the callback, so payloads are copied.
func collectRTP(frames []correlate.Frame, tracks []*audioTrack) {
	d := decode.New(decode.Config{})
	for i := range frames {
		f := &frames[i]
		d.Decode(f.LinkType, f.TS, f.Data, func(ev *decode.Event) {
			if ev.Kind != decode.KindRTP || ev.RTP == nil {
				return
			}
			for _, t := range tracks {
				if ev.RTP.SSRC != t.ssrc || ev.Src != t.src || ev.Dst != t.dst {
					continue
				}
				if int(ev.RTP.PayloadType) != t.st.PayloadType {
					return
				}
				off, n := ev.RTP.MarshalSize(), ev.RTPPayloadLen // the header length decode checked
				if off < 0 || n <= 0 || off+n > len(ev.Payload) {
					return // headers only (--keep-rtp headers) or truncated
				}
				if len(t.pkts) == 0 {
					t.first = ev.TS
				}
				t.pkts = append(t.pkts, audio.Packet{Timestamp: ev.RTP.Timestamp, Seq: ev.RTP.SequenceNumber,
					Payload: bytes.Clone(ev.Payload[off : off+n]), Arrival: ev.TS})
				return
			}
		})
	}
}

// fileSafe keeps a file name to letters, digits and . _ - (addresses lose their colons
// and brackets), so it needs no quoting in Content-Disposition.
func fileSafe(s string) string {
	b := []byte(s)
	for i, ch := range b {
		ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '-'
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}
