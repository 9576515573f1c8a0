package correlate

import (
	"bytes"
	"net/url"
	"strings"

	"github.com/callscope/callscope/decode/sip"
)

// Transfers (RFC 3515 REFER, RFC 3891 Replaces, RFC 3892 Referred-By). The call that
// sends an accepted REFER is transferred: it names the target in transferred_to, media
// stopping before its BYE is expected (the parties now talk on another call), and it is
// linked to the calls the transfer makes:
//   - blind: the transferee's new INVITE to the target carries Referred-By; both calls
//     get the key "xfer:<referrer user>><target user>";
//   - attended: the Refer-To URI carries ?Replaces=<Call-ID of the consultation call>,
//     and the new INVITE carries a Replaces header naming the call it replaces; both
//     become "cid:" keys, which link to that call's own key.

// transfer is a call's REFER state: the latest REFER's target and the target of an
// accepted one. Few calls transfer, so it lives behind a pointer.
type transfer struct {
	referTo, to string
}

// transferredTo is the target of an accepted REFER, or "".
func (cl *call) transferredTo() string {
	if cl.xfer == nil {
		return ""
	}
	return cl.xfer.to
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
	if cl.xfer == nil {
		cl.xfer = &transfer{}
	}
	cl.xfer.referTo = string(target)
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
	if cl.xfer == nil {
		return
	}
	switch {
	case code >= 200 && code < 300 && cl.xfer.referTo != "":
		cl.xfer.to = cl.xfer.referTo
	case code >= 300:
		cl.xfer.referTo = ""
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

// replacesCallID returns the Call-ID of a Replaces value ("callid;to-tag=..;from-tag=..").
func replacesCallID(v []byte) string {
	if i := bytes.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return string(bytes.TrimSpace(v))
}

// transferKey is the link value shared by a REFER's call and the INVITE it causes.
func transferKey(referrer, target []byte) string {
	if len(referrer) == 0 || len(target) == 0 {
		return ""
	}
	return "xfer:" + strings.ToLower(string(referrer)) + ">" + strings.ToLower(string(target))
}

// unescapeNameAddr returns a From/To value with quoted-pair escapes (RFC 3261 §25.1,
// `\"` and `\\`) resolved, so a display name written `\"arik\"` reads "arik".
func unescapeNameAddr(v []byte) string {
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v)
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		out = append(out, v[i])
	}
	return string(out)
}
