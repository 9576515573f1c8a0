package web

import (
	"hash/maphash"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
	"github.com/gin-gonic/gin"
)

// Bounds of GET /api/v1/calls/pcap.
const (
	multiPcapCalls    = 100       // default and hard cap of max_calls
	multiPcapMaxBytes = 256 << 20 // frame bytes held and written at most
)

// messageFrames appends to frames the frame of each of msgs, once: a frame that
// completed several SIP messages (TCP) is written once.
func messageFrames(frames []correlate.Frame, msgs []store.Message) []correlate.Frame {
	seed := maphash.MakeSeed()
	seen := make(map[uint64]bool, len(msgs))
	for _, m := range msgs {
		if len(m.Frame) == 0 {
			continue
		}
		h := maphash.Bytes(seed, m.Frame) ^ uint64(m.TS)
		if seen[h] {
			continue
		}
		seen[h] = true
		frames = append(frames, correlate.Frame{TS: int64(m.TS), LinkType: m.LinkType, OrigLen: len(m.Frame), Data: m.Frame})
	}
	return frames
}

// multiPcap is GET /api/v1/calls/pcap: one pcapng of the calls a search (the filters of
// GET /api/v1/calls, one page in its order) matches, their SIP and kept media frames
// merged in time order. At most max_calls calls (default and cap multiPcapCalls) and
// multiPcapMaxBytes of frame data, whole calls only: a call that would pass the byte cap
// and the calls after it are left out. A capped export says so in the header
// X-Callscope-Truncated (calls or bytes) and in the pcapng section comment;
// X-Callscope-Calls is the number of calls exported. Denied to masked viewers, like
// GET /api/v1/calls/:id/pcap. Calls are loaded one at a time, so at most the byte cap
// (plus one call) is held.
func (s *server) multiPcap(c *gin.Context) {
	if getIdent(c).Masked {
		apiError(c, http.StatusForbidden, "pcap export is not available with masked numbers")
		return
	}
	q, err := parseCallQuery(c)
	p := &params{c: c, err: err}
	maxCalls := p.int("max_calls", multiPcapCalls, 1, multiPcapCalls)
	if p.err != nil {
		apiError(c, http.StatusBadRequest, p.err.Error())
		return
	}
	ctx := c.Request.Context()
	q.Limit = maxCalls + 1 // one more tells whether more matched
	page, err := s.st.SearchCalls(ctx, q)
	if err != nil {
		s.storeError(c, err)
		return
	}
	calls, truncated := page.Calls, ""
	if len(calls) > maxCalls || page.Next != "" && len(calls) == maxCalls {
		calls, truncated = calls[:min(len(calls), maxCalls)], "calls"
	}
	var frames []correlate.Frame
	n, held := 0, 0
	for _, cl := range calls {
		ids := []string{cl.ID}
		msgs, err := s.st.Messages(ctx, ids)
		if err != nil {
			s.storeError(c, err)
			return
		}
		media, err := s.st.Media(ctx, ids)
		if err != nil {
			s.storeError(c, err)
			return
		}
		start := len(frames)
		frames = append(messageFrames(frames, msgs), media...)
		size := 0
		for _, f := range frames[start:] {
			size += len(f.Data)
		}
		if held+size > multiPcapMaxBytes {
			clear(frames[start:])
			frames, truncated = frames[:start], "bytes"
			break
		}
		held += size
		n++
	}
	sort.SliceStable(frames, func(i, j int) bool { return frames[i].TS < frames[j].TS })

	comment := "callscope: " + strconv.Itoa(n) + " calls of a search"
	if truncated != "" {
		comment += "; truncated at the " + truncated + " cap (max_calls " + strconv.Itoa(maxCalls) + ", " + strconv.Itoa(multiPcapMaxBytes>>20) + " MiB of frames): more calls matched"
		c.Header("X-Callscope-Truncated", truncated)
	}
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(exportTimeout))
	c.Header("X-Callscope-Calls", strconv.Itoa(n))
	c.Header("Content-Type", "application/vnd.tcpdump.pcap")
	c.Header("Content-Disposition", `attachment; filename="callscope-search.pcapng"`)
	c.Status(http.StatusOK)
	pw := capture.NewPcapngWriter(c.Writer)
	if err := pw.StartWithComment(comment); err != nil {
		return
	}
	if err := writeFrames(pw, frames); err != nil {
		s.log.Warn("multi-call pcap export failed", "calls", n, "err", err)
	}
}
