package web

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
	"github.com/gin-gonic/gin"
)

// maxLinked bounds a linked group (B2BUA legs merged into one ladder or pcap).
const maxLinked = 16

// linkWindow is how far from the call's start a linked leg with the named Call-ID is
// looked for.
const linkWindow = 24 * time.Hour

// group returns the call and, when linked, its linked legs: breadth first over each
// leg's linked_call_ids (the leg with that Call-ID closest in start time to the first
// call) and the legs the store finds by shared link keys (Store.Legs, which also finds
// legs another probe stored), at most maxLinked calls.
func (s *server) group(ctx context.Context, c *gin.Context, id string, linked bool) ([]*correlate.Call, error) {
	first, err := s.findCall(c, id)
	if err != nil {
		return nil, err
	}
	calls := []*correlate.Call{first}
	if !linked {
		return calls, nil
	}
	seenCID := map[string]bool{first.CallID: true}
	seenID := map[string]bool{first.ID: true}
	add := func(cand *correlate.Call) error {
		if seenID[cand.ID] || len(calls) >= maxLinked {
			return nil
		}
		full, err := s.st.GetCall(ctx, cand.ID)
		if err != nil {
			return err
		}
		seenID[full.ID], seenCID[full.CallID] = true, true
		calls = append(calls, full)
		return nil
	}
	for i := 0; i < len(calls) && len(calls) < maxLinked; i++ {
		for _, cid := range calls[i].LinkedCallIDs {
			if seenCID[cid] || len(calls) >= maxLinked {
				continue
			}
			seenCID[cid] = true
			t := time.Unix(0, int64(first.Start))
			page, err := s.st.SearchCalls(ctx, store.CallQuery{
				CallID: cid, From: t.Add(-linkWindow), To: t.Add(linkWindow), Limit: 20,
			})
			if err != nil {
				return nil, err
			}
			var best *correlate.Call
			for j := range page.Calls {
				cand := &page.Calls[j]
				if best == nil || absDiff(cand.Start, first.Start) < absDiff(best.Start, first.Start) {
					best = cand
				}
			}
			if best != nil {
				if err := add(best); err != nil {
					return nil, err
				}
			}
		}
		legs, err := s.st.Legs(ctx, calls[i].ID)
		if errors.Is(err, store.ErrNotFound) {
			continue // an in-progress call, not stored yet
		}
		if err != nil {
			return nil, err
		}
		for j := range legs {
			if !seenCID[legs[j].CallID] {
				if err := add(&legs[j]); err != nil {
					return nil, err
				}
			}
		}
	}
	return calls, nil
}

func absDiff(a, b correlate.Time) int64 {
	if a > b {
		return int64(a - b)
	}
	return int64(b - a)
}

// LadderMessage is one arrow of a ladder.
type LadderMessage struct {
	store.Message
	Label   string  `json:"label"`    // method, or status code and reason
	FromCol int     `json:"from_col"` // index into Ladder.Hosts
	ToCol   int     `json:"to_col"`
	DeltaMs float64 `json:"delta_ms"` // since the previous message of the ladder
	AtMs    float64 `json:"at_ms"`    // since the first message
	Raw     string  `json:"raw"`      // the SIP message as captured (headers and body)
	SDP     string  `json:"sdp"`      // the SDP body, if any
}

// LadderCall names one call of a ladder.
type LadderCall struct {
	ID     string `json:"id"`
	CallID string `json:"call_id"`
	From   string `json:"from"`
	To     string `json:"to"`
	State  string `json:"state"`
}

// Ladder is GET /api/v1/calls/{id}/ladder.
type Ladder struct {
	Calls    []LadderCall    `json:"calls"`
	Hosts    []string        `json:"hosts"` // one column per ip:port, in order of appearance
	Messages []LadderMessage `json:"messages"`
}

// wantLinked reads linked: 1/true or 0/false, absent meaning false.
func wantLinked(c *gin.Context) (bool, error) {
	switch c.Query("linked") {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	}
	return false, &badParam{"linked", "want true or false (or 1, 0)"}
}

// groupMessages loads the call named by the request (with its linked legs when asked)
// and their SIP messages; on error it has answered the request and ok is false.
// live names the calls not stored yet whose messages came from the live source (live.go).
func (s *server) groupMessages(c *gin.Context) (calls []*correlate.Call, ids []string, msgs []store.Message, live []string, ok bool) {
	ctx := c.Request.Context()
	linked, err := wantLinked(c)
	if err != nil {
		apiError(c, http.StatusBadRequest, err.Error())
		return nil, nil, nil, nil, false
	}
	calls, err = s.group(ctx, c, c.Param("id"), linked)
	if err != nil {
		s.storeError(c, err)
		return nil, nil, nil, nil, false
	}
	ids = make([]string, len(calls))
	for i, cl := range calls {
		ids[i] = cl.ID
	}
	if msgs, err = s.st.Messages(ctx, ids); err != nil {
		s.storeError(c, err)
		return nil, nil, nil, nil, false
	}
	msgs, live = s.addLive(ids, msgs)
	return calls, ids, msgs, live, true
}

func (s *server) ladder(c *gin.Context) {
	calls, _, msgs, _, ok := s.groupMessages(c)
	if !ok {
		return
	}
	masked := getIdent(c).Masked
	lad := buildLadder(calls, msgs, masked)
	c.JSON(http.StatusOK, lad)
}

// buildLadder lays out msgs (time order) as a ladder.
func buildLadder(calls []*correlate.Call, msgs []store.Message, masked bool) *Ladder {
	sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].TS < msgs[j].TS })
	lad := &Ladder{Calls: make([]LadderCall, 0, len(calls)), Hosts: []string{}, Messages: make([]LadderMessage, 0, len(msgs))}
	for _, cl := range calls {
		lc := LadderCall{ID: cl.ID, CallID: cl.CallID, From: cl.From, To: cl.To, State: string(cl.State)}
		if masked {
			lc.CallID, lc.From, lc.To = maskText(lc.CallID), maskText(lc.From), maskText(lc.To)
		}
		lad.Calls = append(lad.Calls, lc)
	}
	col := map[string]int{}
	column := func(h string) int {
		if i, ok := col[h]; ok {
			return i
		}
		col[h] = len(lad.Hosts)
		lad.Hosts = append(lad.Hosts, h)
		return col[h]
	}
	// The first call's caller is the leftmost column.
	if len(calls) > 0 && calls[0].Caller != "" {
		column(calls[0].Caller)
	}
	var first, prev correlate.Time
	for i, m := range msgs {
		if i == 0 {
			first, prev = m.TS, m.TS
		}
		raw := string(m.Raw)
		if masked {
			raw = maskText(raw)
			maskMessageMeta(&m)
		}
		lm := LadderMessage{
			Message: m,
			Label:   label(&m),
			FromCol: column(m.Src),
			ToCol:   column(m.Dst),
			DeltaMs: float64(m.TS-prev) / 1e6,
			AtMs:    float64(m.TS-first) / 1e6,
			Raw:     raw,
			SDP:     sdpBody(raw),
		}
		if masked {
			lm.Label = maskText(lm.Label)
		}
		lm.Message.Raw, lm.Message.Frame = nil, nil
		prev = m.TS
		lad.Messages = append(lad.Messages, lm)
	}
	return lad
}

// label is "INVITE" for a request and "180 Ringing" for a response (from the start line).
func label(m *store.Message) string {
	line := m.Raw
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, "\r")
	if m.Request {
		if m.Method != "" {
			return m.Method
		}
		if i := bytes.IndexByte(line, ' '); i > 0 {
			return string(line[:i])
		}
		return "request"
	}
	// SIP/2.0 200 OK
	if f := strings.SplitN(string(line), " ", 3); len(f) == 3 && len(f[2]) <= 40 {
		return f[1] + " " + f[2]
	}
	return itoa(m.Status)
}

// sdpBody returns the body of a SIP message when it is SDP (starts with "v=").
func sdpBody(raw string) string {
	i := strings.Index(raw, "\r\n\r\n")
	skip := 4
	if i < 0 {
		if i = strings.Index(raw, "\n\n"); i < 0 {
			return ""
		}
		skip = 2
	}
	body := raw[i+skip:]
	if strings.HasPrefix(body, "v=") {
		return body
	}
	return ""
}

// pcap streams the call's (or linked group's) frames as pcapng: every SIP frame exactly
// as captured, then RTP/RTCP frames as kept, merged in time order, one interface per
// link type. A frame that completed several SIP messages (TCP) is written once.
func (s *server) pcap(c *gin.Context) {
	if getIdent(c).Masked {
		apiError(c, http.StatusForbidden, "pcap export is not available with masked numbers")
		return
	}
	ctx := c.Request.Context()
	calls, ids, msgs, live, ok := s.groupMessages(c)
	if !ok {
		return
	}
	// Frames of the calls whose messages came from the live source are theirs too
	// (addLiveMedia): reading them from the store as well would give a call the store
	// took meanwhile its frames twice.
	media, err := s.st.Media(ctx, slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return slices.Contains(live, id) }))
	if err != nil {
		s.storeError(c, err)
		return
	}
	frames := messageFrames(make([]correlate.Frame, 0, len(msgs)+len(media)), msgs) // multipcap.go
	if media, err = s.addLiveMedia(ctx, live, media); err != nil {
		s.storeError(c, err)
		return
	}
	frames = append(frames, media...)
	sort.SliceStable(frames, func(i, j int) bool { return frames[i].TS < frames[j].TS })

	name := "callscope-" + calls[0].ID
	if len(calls) > 1 {
		name += "-linked"
	}
	// A long call exports for longer than the server's write timeout allows other answers.
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(exportTimeout))
	c.Header("Content-Type", "application/vnd.tcpdump.pcap")
	c.Header("Content-Disposition", `attachment; filename="`+name+`.pcapng"`)
	c.Status(http.StatusOK)
	if err := writePcapng(c.Writer, frames); err != nil {
		s.log.Warn("pcap export failed", "call", calls[0].ID, "err", err)
	}
}

type flushWriter interface {
	Write([]byte) (int, error)
}

func writePcapng(w flushWriter, frames []correlate.Frame) error {
	return writeFrames(capture.NewPcapngWriter(w), frames)
}

// writeFrames writes frames to pw, one interface per link type, and flushes.
func writeFrames(pw *capture.PcapngWriter, frames []correlate.Frame) error {
	ifaces := map[uint32]int{}
	for _, f := range frames {
		idx, ok := ifaces[f.LinkType]
		if !ok {
			var err error
			if idx, err = pw.AddInterface(f.LinkType, 0, "callscope"); err != nil {
				return err
			}
			ifaces[f.LinkType] = idx
		}
		if err := pw.WritePacket(idx, f.TS, f.Data, f.OrigLen); err != nil {
			return err
		}
	}
	return pw.Flush()
}
