package correlate

import "bytes"

// maxCodecNames caps the interned encoding names. Real traffic uses a few dozen; a
// flood of made-up rtpmap names past the cap gets id 0 (an empty codec) and is counted
// in Counters.CodecNamesDropped.
const maxCodecNames = 4096

// codecNames interns the encoding names of SDP rtpmap lines and static payload types,
// so that a stream or a payload-type entry holds a 2-byte id instead of a 16-byte string
// (and each SDP does not allocate its names again). Id 0 is the empty name. Owned by
// the Correlator's goroutine.
type codecNames struct {
	ids   map[string]uint16
	names []string
}

func newCodecNames() codecNames {
	return codecNames{ids: map[string]uint16{"": 0}, names: []string{""}}
}

// id returns name's id, adding it if there is room; ok is false when the table is full.
// The lookup with a converted []byte does not allocate.
func (t *codecNames) id(name []byte) (id uint16, ok bool) {
	if canon, known := canonicalCodec(name); known {
		return t.idString(canon)
	}
	if id, found := t.ids[string(name)]; found {
		return id, true
	}
	if len(t.names) >= maxCodecNames {
		return 0, false
	}
	s := string(name)
	id = uint16(len(t.names))
	t.ids[s] = id
	t.names = append(t.names, s)
	return id, true
}

// idString is id for a name already held as a string.
func (t *codecNames) idString(name string) (id uint16, ok bool) {
	if id, found := t.ids[name]; found {
		return id, true
	}
	if len(t.names) >= maxCodecNames {
		return 0, false
	}
	id = uint16(len(t.names))
	t.ids[name] = id
	t.names = append(t.names, name)
	return id, true
}

func (t *codecNames) name(id uint16) string {
	if int(id) < len(t.names) {
		return t.names[id]
	}
	return ""
}

// canonicalCodecs are the IANA "RTP Payload Format media types" spellings (RFC 3551 §6,
// RFC 4733, RFC 6716, RFC 3952 and their registrations) of the encoding names SDP
// writes in any case (rtpmap names are case-insensitive, RFC 4566 §6): "pcma" and
// "PCMA" are one codec and are shown the registered way.
var canonicalCodecs = [...]string{
	"PCMU", "PCMA", "G722", "G723", "G726-16", "G726-24", "G726-32", "G726-40", "G728",
	"G729", "G729D", "G729E", "G7221", "G719", "G7291", "GSM", "GSM-EFR", "GSM-HR-08",
	"DVI4", "LPC", "L8", "L16", "L24", "QCELP", "EVRC", "EVRCB", "EVRCWB", "SMV", "MPA",
	"AMR", "AMR-WB", "EVS", "iLBC", "iSAC", "SILK", "opus", "speex", "vorbis", "CN",
	"telephone-event", "tone", "red", "ulpfec", "flexfec", "rtx", "t140", "H261", "H263",
	"H263-1998", "H263-2000", "H264", "H265", "VP8", "VP9", "AV1", "JPEG", "MPV", "MP2T",
	"MP4V-ES", "CelB", "nv", "BV16", "BV32",
}

// canonicalCodec returns the registered spelling of an encoding name; ok is false when
// it is not one we know. It does not allocate.
func canonicalCodec(name []byte) (canon string, ok bool) {
	for _, c := range canonicalCodecs {
		if len(c) == len(name) && bytes.EqualFold([]byte(c), name) { // no allocation: a short non-escaping conversion
			return c, true
		}
	}
	return "", false
}
