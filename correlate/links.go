package correlate

import (
	"bytes"
	"net/url"
	"slices"
	"strings"

	"github.com/callscope/callscope/decode/sip"
)

// Live leg linking. A B2BUA sends the outgoing leg's INVITE while the incoming leg's
// INVITE transaction is still open, so both legs are in the call table when the second
// one starts: the correlator links them then, in both directions, and each leg leaves
// the table already carrying its links. Nothing waits for a batch, and a pair can never
// fall on both sides of a batch boundary. LinkCalls, run over a whole capture by
// analyze, adds what this cannot see: references to a call that had already ended.

const (
	// maxLinksPerCall caps linked_call_ids per call (counted in LinksDropped).
	maxLinksPerCall = 32
	// maxCallsPerLinkKey caps the live calls indexed under one link value. A device
	// that puts one constant icid-value in every INVITE must not make each new call
	// scan (and link to) every call in progress; past the cap a call is not indexed
	// under that value, and LinksDropped counts it.
	maxCallsPerLinkKey = 16
)

// linkIndex holds the calls in the table by link value and, with LinkByNumber, by
// number pair. Owned by the Correlator's goroutine.
type linkIndex struct {
	byKey    map[string][]*call
	byNumber map[string][]*call // started within the last LinkWindow, in start order
}

func newLinkIndex() linkIndex {
	return linkIndex{byKey: make(map[string][]*call), byNumber: make(map[string][]*call)}
}

// indexLinks links a call whose INVITE was just seen to the calls in the table that
// share a link value (or, with LinkByNumber, its numbers within LinkWindow), then
// indexes it.
func (c *Correlator) indexLinks(cl *call) {
	for _, k := range cl.linkKeys {
		others := c.links.byKey[k]
		if slices.Contains(others, cl) {
			continue
		}
		if len(others) >= maxCallsPerLinkKey {
			c.cnt.LinksDropped++
			continue
		}
		for _, o := range others {
			c.linkPair(cl, o)
		}
		c.links.byKey[k] = append(others, cl)
	}
	if !c.cfg.LinkByNumber {
		return
	}
	nk, ok := callNumberKey(cl.fromUser, cl.toUser)
	if !ok || cl.start == 0 {
		return
	}
	list := c.links.byNumber[nk]
	// Starts arrive in packet order: a call that started more than LinkWindow before
	// this one cannot match it or any later call.
	window := int64(c.cfg.LinkWindow)
	drop := 0
	for drop < len(list) && list[drop].start < cl.start-window {
		drop++
	}
	list = list[drop:]
	for _, o := range list {
		if d := cl.start - o.start; d >= -window && d <= window {
			c.linkPair(cl, o)
		}
	}
	if len(list) >= maxCallsPerLinkKey {
		c.cnt.LinksDropped++
		list = list[1:]
	}
	c.links.byNumber[nk] = append(list, cl)
}

// unindexLinks removes a call leaving the table from the index.
func (c *Correlator) unindexLinks(cl *call) {
	for _, k := range cl.linkKeys {
		dropFromIndex(c.links.byKey, k, cl)
	}
	if !c.cfg.LinkByNumber {
		return
	}
	if nk, ok := callNumberKey(cl.fromUser, cl.toUser); ok {
		dropFromIndex(c.links.byNumber, nk, cl)
	}
}

// dropFromIndex removes cl from m[k], and k when its list empties.
func dropFromIndex(m map[string][]*call, k string, cl *call) {
	list := m[k]
	if i := slices.Index(list, cl); i >= 0 {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(m, k)
	} else {
		m[k] = list
	}
}

// linkPair records a and b as legs of one call group, in both directions.
func (c *Correlator) linkPair(a, b *call) {
	if a == b || a.id == b.id {
		return
	}
	c.addLink(a, b.id)
	c.addLink(b, a.id)
}

func (c *Correlator) addLink(cl *call, id string) {
	if slices.Contains(cl.few().linked, id) {
		return
	}
	if len(cl.few().linked) >= maxLinksPerCall {
		c.cnt.LinksDropped++
		return
	}
	r := cl.more()
	r.linked = append(r.linked, id)
}

// callNumberKey is the number pair LinkByNumber matches on (a leading '+' ignored); it
// is the same key LinkCalls uses.
func callNumberKey(from, to string) (string, bool) {
	f, t := strings.TrimPrefix(from, "+"), strings.TrimPrefix(to, "+")
	if f == "" || t == "" {
		return "", false
	}
	return f + "\x00" + t, true
}

// maxLinkKeysPerCall caps the link values one call collects (counted in LinksDropped).
const maxLinkKeysPerCall = 16

// refer records a REFER sent in cl's dialog.
func (c *Correlator) refer(cl *call, m *sip.Message) {
	rt := m.Get("Refer-To")
	uri := sip.AddrURI(rt)
	if len(uri) == 0 {
		return
	}
	target, headers := uri, []byte(nil)
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		target, headers = uri[:i], uri[i+1:]
	}
	if i := bytes.IndexByte(target, ';'); i >= 0 {
		target = target[:i]
	}
	cl.more().xfer.referTo = string(target)
	referrer := sip.URIUser(m.FromURI)
	if v := m.Get("Referred-By"); len(v) > 0 {
		if u := sip.URIUser(sip.AddrURI(v)); len(u) > 0 {
			referrer = u
		}
	}
	if k := transferKey(referrer, sip.URIUser(target)); k != "" {
		c.addLinkKey(cl, k)
	}
	for _, h := range bytes.Split(headers, []byte("&")) {
		name, val, ok := bytes.Cut(h, []byte("="))
		if !ok || !bytes.EqualFold(name, []byte("Replaces")) {
			continue
		}
		if dec, err := url.QueryUnescape(string(val)); err == nil {
			if id := replacesCallID([]byte(dec)); id != "" {
				c.addLinkKey(cl, "cid:"+id)
			}
		}
	}
	c.indexLinks(cl)
}

// referAnswered records the final answer to a REFER: 2xx (202 Accepted) makes the call
// transferred, an error cancels the transfer attempt.
func (cl *call) referAnswered(code int) {
	if cl.rare == nil {
		return // no REFER
	}
	x := &cl.rare.xfer
	switch {
	case code >= 200 && code < 300 && x.referTo != "":
		x.to = x.referTo
	case code >= 300:
		x.referTo = ""
	}
}

func (c *Correlator) addLinkKey(cl *call, k string) {
	for _, have := range cl.linkKeys {
		if have == k {
			return
		}
	}
	if len(cl.linkKeys) >= maxLinkKeysPerCall {
		c.cnt.LinksDropped++
		return
	}
	cl.linkKeys = append(cl.linkKeys, k)
}
