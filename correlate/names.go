package correlate

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

func (t *codecNames) name(id uint16) string {
	if int(id) < len(t.names) {
		return t.names[id]
	}
	return ""
}
