package quality

import "bytes"

// Codec carries the per-codec E-model inputs and timing. Values marked in the table in
// docs/quality.md come from ITU-T G.113 Appendix I (Ie: Table I.1, Bpl: Table I.3);
// where the ITU publishes none (Opus, iLBC, AMR-WB, Speex, G.722 on the narrowband
// scale) the value is our documented assumption and Assumed is true.
type Codec struct {
	Name      string  // canonical upper-case name ("PCMU", "G729", "OPUS", "unknown")
	ClockRate uint32  // RTP clock rate (G.722 uses 8000 per RFC 3551 §4.5.2)
	Ie        float64 // equipment impairment factor (G.113 Table I.1)
	Bpl       float64 // packet-loss robustness factor with the codec's normal PLC (Table I.3)
	// BplNoPLC is Bpl when the receiver does no concealment (0: same as Bpl). Used
	// unless Config.AssumePLC is set.
	BplNoPLC    float64
	FrameMs     float64 // packetisation delay assumed per packet (typical ptime)
	LookaheadMs float64 // algorithmic look-ahead delay of the encoder
	Assumed     bool    // Ie/Bpl are our assumption, not an ITU planning value
}

type codecEntry struct {
	names []string
	c     Codec
}

// codecTable is read-only after package initialisation (never mutated).
var codecTable = [...]codecEntry{
	{[]string{"PCMU", "G711U", "G711", "PCMU-WB"}, Codec{Name: "PCMU", ClockRate: 8000, Ie: 0, Bpl: 25.1, BplNoPLC: 4.3, FrameMs: 20}},
	{[]string{"PCMA", "G711A"}, Codec{Name: "PCMA", ClockRate: 8000, Ie: 0, Bpl: 25.1, BplNoPLC: 4.3, FrameMs: 20}},
	{[]string{"G722"}, Codec{Name: "G722", ClockRate: 8000, Ie: 0, Bpl: 25.1, BplNoPLC: 4.3, FrameMs: 20, LookaheadMs: 1.5, Assumed: true}},
	{[]string{"G729", "G729A", "G729B", "G729AB", "G.729"}, Codec{Name: "G729", ClockRate: 8000, Ie: 11, Bpl: 19.0, FrameMs: 20, LookaheadMs: 5}},
	{[]string{"G723", "G7231", "G723.1"}, Codec{Name: "G723", ClockRate: 8000, Ie: 15, Bpl: 16.1, FrameMs: 30, LookaheadMs: 7.5}},
	{[]string{"G726-32", "G726", "G721", "AAL2-G726-32"}, Codec{Name: "G726-32", ClockRate: 8000, Ie: 7, Bpl: 4.3, FrameMs: 20, Assumed: true}},
	{[]string{"G728"}, Codec{Name: "G728", ClockRate: 8000, Ie: 7, Bpl: 4.3, FrameMs: 20, LookaheadMs: 0.625, Assumed: true}},
	{[]string{"GSM", "GSM-FR"}, Codec{Name: "GSM", ClockRate: 8000, Ie: 20, Bpl: 10, FrameMs: 20, Assumed: true}},
	{[]string{"GSM-EFR"}, Codec{Name: "GSM-EFR", ClockRate: 8000, Ie: 5, Bpl: 10, FrameMs: 20, Assumed: true}},
	{[]string{"ILBC"}, Codec{Name: "ILBC", ClockRate: 8000, Ie: 11, Bpl: 25, FrameMs: 30, LookaheadMs: 10, Assumed: true}},
	{[]string{"OPUS"}, Codec{Name: "OPUS", ClockRate: 48000, Ie: 0, Bpl: 25, FrameMs: 20, LookaheadMs: 6.5, Assumed: true}},
	{[]string{"L16"}, Codec{Name: "L16", ClockRate: 44100, Ie: 0, Bpl: 4.3, FrameMs: 20, Assumed: true}},
	{[]string{"AMR"}, Codec{Name: "AMR", ClockRate: 8000, Ie: 5, Bpl: 10, FrameMs: 20, LookaheadMs: 5, Assumed: true}},
	{[]string{"AMR-WB"}, Codec{Name: "AMR-WB", ClockRate: 16000, Ie: 0, Bpl: 10, FrameMs: 20, LookaheadMs: 5, Assumed: true}},
	{[]string{"SPEEX"}, Codec{Name: "SPEEX", ClockRate: 8000, Ie: 10, Bpl: 15, FrameMs: 20, LookaheadMs: 10, Assumed: true}},
}

// unknownCodec is returned for encodings not in the table: scored like G.711 (Ie 0),
// flagged Assumed, with the caller's clock rate (0 when unknown: no jitter then).
var unknownCodec = Codec{Name: "unknown", Ie: 0, Bpl: 25.1, BplNoPLC: 4.3, FrameMs: 20, Assumed: true}

// LookupCodec maps an SDP rtpmap encoding name (case-insensitive) and clock rate to a
// Codec. A non-zero clockRate overrides the table's default (RTP clock from SDP wins).
// Unknown names return Name "unknown" with the defaults documented in docs/quality.md.
func LookupCodec(encoding []byte, clockRate uint32) Codec {
	encoding = bytes.TrimSpace(encoding)
	for i := range codecTable {
		for _, n := range codecTable[i].names {
			if len(n) == len(encoding) && bytes.EqualFold([]byte(n), encoding) {
				c := codecTable[i].c
				if clockRate != 0 {
					c.ClockRate = clockRate
				}
				return c
			}
		}
	}
	c := unknownCodec
	c.ClockRate = clockRate
	return c
}

// bpl returns the Bpl to use under cfg.
func (c *Codec) bpl(assumePLC bool) float64 {
	if !assumePLC && c.BplNoPLC > 0 {
		return c.BplNoPLC
	}
	if c.Bpl <= 0 {
		return 1
	}
	return c.Bpl
}
