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
	lifecycle    // outcome and timings; changed only through its methods
	id           string
	from, to     string
	fromUser     string
	toUser       string
	fromTag      string
	caller       netip.AddrPort
	callee       netip.AddrPort
	transport    string
	lastSIP      int64
	q850         int32 // Q.850 cause of a Reason header (0–127), with hasQ850 in one word
	hasQ850      bool
	msgs         int
	retrans      int
	seen         []seenMsg
	userAgents   []string
	media        [2]sideMedia
	streams      []*stream
	linkKeys     []string
	inviteBranch uint64     // hash of the top Via branch of the current initial INVITE (0: none)
	rare         *callRare  // what few calls need, allocated at its first use
	sip          *sipKeep   // SIP messages kept (KeepMessages), allocated on the first one (keep.go)
	keep         *mediaKeep // RTP/RTCP frames kept (KeepRTP), allocated on the first one
	retained     int64      // bytes of messages and frame chunks counted against MaxRetainedBytes
}

// callRare is the state few calls need, behind one pointer (call.rare) so that the
// call stays in the 640-byte size class (704 with these inline: 1.3 MB at 20,000 calls).
type callRare struct {
	xfer      transfer            // REFER state (transfer.go)
	infoDTMF  []quality.DTMFEvent // DTMF sent by SIP INFO
	rtcpAddrs []netip.AddrPort    // RTCP addresses from a=rtcp (port+1 ones are derived from media addrs)
	linked    []string            // Call-IDs of the legs linked while in the table (links.go)
}

// noRare is what a call without callRare reads: zero, never written.
var noRare callRare

// more returns the call's callRare, allocating it at the first use.
func (cl *call) more() *callRare {
	if cl.rare == nil {
		cl.rare = &callRare{}
	}
	return cl.rare
}

// few returns the call's callRare to read, noRare when it has none.
func (cl *call) few() *callRare {
	if cl.rare == nil {
		return &noRare
	}
	return cl.rare
}

func (c *Correlator) newCall(ev *decode.Event, m *sip.Message) *call {
	if len(c.calls) >= c.cfg.MaxCalls {
		c.evictOldestCall()
	}
	cl := &call{
		id:        string(m.CallID),
		transport: ev.Transport.String(),
	}
	cl.start = ev.TS
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
		c.finishCall(cl, EndEvicted)
		c.emit(cl)
	}
}

// evictBatch is how many entries a full table of size max evicts at once.
func evictBatch(capacity int) int { return max(1, capacity/64) }

func (cl *call) lastActivity() int64 {
	if m := cl.lastMedia(); m > cl.lastSIP {
		return m
	}
	return cl.lastSIP
}

// lastMedia is the arrival time of the call's latest RTP packet (0 before any). It is
// derived from the streams rather than kept per packet, so the RTP path does not touch
// the call struct: a stream's Last is the latest arrival it was fed, and every packet
// attributed to the call is fed to one of cl.streams (streams dropped from the table
// stay in that list).
func (cl *call) lastMedia() int64 {
	var last int64
	for _, s := range cl.streams {
		last = max(last, s.q.Last())
	}
	return last
}

func (c *Correlator) checkTimeouts(cl *call, now int64) {
	hold := cl.media[0].hold || cl.media[1].hold
	cl.timeouts(now, cl.lastSIP, cl.lastMedia(), hold, &c.cfg)
}

// finishCall ends cl at the end of input (or on eviction).
func (c *Correlator) finishCall(cl *call, reason EndReason) {
	cl.finish(cl.lastActivity(), reason)
}
