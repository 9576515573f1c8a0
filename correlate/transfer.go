package correlate

import (
	"bytes"
	"strings"
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
// accepted one. Few calls transfer, so it lives in callRare.
type transfer struct {
	referTo, to string
}

// transferredTo is the target of an accepted REFER, or "".
func (cl *call) transferredTo() string {
	return cl.few().xfer.to
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
