package correlate

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/quality"
)

type call struct {
	id          string
	from, to    string
	fromUser    string
	toUser      string
	fromTag     string
	caller      netip.AddrPort
	callee      netip.AddrPort
	transport   string
	inviteCSeq  uint32
	hasInvite   bool
	start       int64
	ringing     int64
	answer      int64
	finalTS     int64
	end         int64
	lastSIP     int64
	finalCode   int
	finalReason string
	cancelled   bool
	byeTS       int64
	byeSide     uint8
	endReason   string
	q850        int
	hasQ850     bool
	inDialogErr int
	msgs        int
	retrans     int
	seen        []uint64
	userAgents  []string
	infoDTMF    []quality.DTMFEvent
	media       [2]sideMedia
	streams     []*stream
	rtcpAddrs   []netip.AddrPort // RTCP addresses from a=rtcp (port+1 ones are derived from media addrs)
	lastMedia   int64
	linkKeys    []string
	linked      []string // Call-IDs of the legs linked while in the table (links.go)
	messages    []Message
	keep        *mediaKeep // RTP/RTCP frames kept (KeepRTP), allocated on the first one
	done        bool       // ended; emitted after Linger
}

func (c *Correlator) newCall(ev *decode.Event, m *sip.Message) *call {
	if len(c.calls) >= c.cfg.MaxCalls {
		c.evictOldestCall()
	}
	cl := &call{
		id:        string(m.CallID),
		start:     ev.TS,
		transport: ev.Transport.String(),
	}
	c.calls[cl.id] = cl
	return cl
}

// evictOldestCall makes room in a full call table: it ends and emits the least recently
// active calls, 1/64 of the cap at once, so a flood of new Call-IDs costs one scan and
// sort per cap/64 calls instead of a scan per call.
func (c *Correlator) evictOldestCall() {
	all := make([]*call, 0, len(c.calls))
	for _, cl := range c.calls {
		all = append(all, cl)
	}
	slices.SortFunc(all, func(a, b *call) int {
		if d := cmp.Compare(a.lastActivity(), b.lastActivity()); d != 0 {
			return d
		}
		return strings.Compare(a.id, b.id)
	})
	for _, cl := range all[:min(evictBatch(c.cfg.MaxCalls), len(all))] {
		c.cnt.CallsEvicted++
		c.finishCall(cl, "capture_end")
		c.emit(cl)
	}
}

// evictBatch is how many entries a full table of size max evicts at once.
func evictBatch(capacity int) int { return max(1, capacity/64) }

func (cl *call) lastActivity() int64 {
	if cl.lastMedia > cl.lastSIP {
		return cl.lastMedia
	}
	return cl.lastSIP
}

func (c *Correlator) checkTimeouts(cl *call, now int64) {
	switch {
	case cl.hasInvite && cl.finalCode == 0 && cl.answer == 0:
		limit := int64(c.cfg.SIPTimeout)
		if cl.ringing != 0 {
			limit = int64(c.cfg.RingTimeout)
		}
		if now-cl.start >= limit && now-cl.lastSIP >= int64(c.cfg.SIPTimeout) {
			cl.end = cl.lastActivity()
			cl.endReason = "sip_timeout"
			cl.done = true
		}
	case cl.answer != 0 && cl.byeTS == 0:
		if cl.lastMedia != 0 && !cl.media[0].hold && !cl.media[1].hold &&
			now-cl.lastMedia >= int64(c.cfg.RTPTimeout) && now-cl.lastSIP >= int64(c.cfg.RTPTimeout) {
			cl.end = cl.lastMedia
			cl.endReason = "rtp_timeout"
			cl.done = true
		} else if now-cl.answer >= int64(c.cfg.MaxCallDuration) && now-cl.lastActivity() >= int64(c.cfg.RTPTimeout) {
			cl.end = cl.lastActivity()
			cl.endReason = "sip_timeout"
			cl.done = true
		}
	case cl.byeTS != 0 && cl.end == 0:
		// BYE without a 200 seen: end at the BYE once the transaction would have timed out.
		if now-cl.byeTS >= int64(c.cfg.SIPTimeout) {
			cl.end = cl.byeTS
			cl.endReason = "bye"
			cl.done = true
		}
	}
}

// finishCall marks cl ended at the end of input (or on eviction).
func (c *Correlator) finishCall(cl *call, reason string) {
	if cl.done {
		return
	}
	if cl.byeTS != 0 {
		cl.end, cl.endReason = cl.byeTS, "bye"
	} else {
		cl.end, cl.endReason = cl.lastActivity(), reason
	}
	cl.done = true
}

func (cl *call) state() string {
	switch {
	case cl.answer != 0:
		return "answered"
	case cl.finalCode == 486 || cl.finalCode == 600:
		return "busy"
	case cl.cancelled || cl.finalCode == 487:
		return "cancelled"
	case cl.finalCode == 408 || cl.finalCode == 480:
		return "no_answer"
	case cl.finalCode >= 300 && cl.finalCode < 400:
		return "redirected"
	case cl.finalCode >= 400:
		return "failed"
	case cl.endReason == "sip_timeout":
		if cl.ringing != 0 {
			return "no_answer"
		}
		return "failed"
	}
	return "in_progress"
}
