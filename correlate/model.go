package correlate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"time"
)

// CallUID returns the stable identity of a call (see Call.ID).
func CallUID(callID string, start Time) string {
	h := sha256.New()
	h.Write([]byte(callID))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(start))
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Time is a packet timestamp rendered in the JSON contract as RFC 3339 UTC with
// microseconds, or null when zero (unknown).
type Time int64 // Unix nanoseconds; 0 means unknown

// MarshalJSON renders t as "2006-01-02T15:04:05.000000Z" or null.
func (t Time) MarshalJSON() ([]byte, error) {
	if t == 0 {
		return []byte("null"), nil
	}
	return []byte(`"` + time.Unix(0, int64(t)).UTC().Format("2006-01-02T15:04:05.000000Z07:00") + `"`), nil
}

// UnmarshalJSON parses the form MarshalJSON writes.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = 0
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	*t = Time(v.UnixNano())
	return nil
}

// Call is one call as the JSON contract names it: the same object in `analyze --json`,
// the store and the REST API.
type Call struct {
	// ID is the call's stable identity: hex of the first 8 bytes of SHA-256 over the
	// Call-ID and the start time in ns. The same call replayed gets the same ID, so store
	// inserts are idempotent; the REST API addresses calls by it.
	ID            string      `json:"id"`
	CallID        string      `json:"call_id"`
	From          string      `json:"from"`
	To            string      `json:"to"`
	FromUser      string      `json:"from_user"`
	ToUser        string      `json:"to_user"`
	Caller        string      `json:"caller"`
	Callee        string      `json:"callee"`
	Transport     string      `json:"transport"`
	Peer          string      `json:"peer"` // peer group of the far end (package peers), set by cmd
	State         State       `json:"state"`
	FinalCode     int         `json:"final_code"`
	FinalReason   string      `json:"final_reason"`
	Start         Time        `json:"start"`
	Ringing       Time        `json:"ringing"`
	Answer        Time        `json:"answer"`
	End           Time        `json:"end"`
	PDDMs         *float64    `json:"pdd_ms"` // from the INVITE that got the answer (docs/calls.md)
	SetupMs       *float64    `json:"setup_ms"`
	DurationMs    *float64    `json:"duration_ms"`
	EndedBy       *string     `json:"ended_by"`
	EndReason     EndReason   `json:"end_reason"`
	Q850Cause     *int        `json:"q850_cause"`
	Dropped       bool        `json:"dropped"`
	DropReason    *DropReason `json:"drop_reason"`
	OneWayAudio   bool        `json:"one_way_audio"`
	SIPMessages   int         `json:"sip_messages"`
	Retrans       int         `json:"retransmissions"`
	LinkedCallIDs []string    `json:"linked_call_ids"`
	// TransferredTo is the target URI of an accepted REFER (blind or attended transfer).
	TransferredTo *string  `json:"transferred_to"`
	UserAgents    []string `json:"user_agents"`
	DTMF          string   `json:"dtmf"`
	MOSMin        *float64 `json:"mos_min"`
	// AuthChallenges counts the 401/407 answers to this call's initial INVITEs: each
	// was followed by an INVITE with credentials (or, for the last, by nothing).
	AuthChallenges int `json:"auth_challenges"`
	// RTTMs is the call's end-to-end round trip: the sum of the probe↔caller and
	// probe↔callee RTCP segments (docs/quality.md); null unless both are known.
	RTTMs   *float64 `json:"rtt_ms"`
	Streams []Stream `json:"streams"`
}

// Stream is one RTP stream (one SSRC in one direction) as the JSON contract names it.
type Stream struct {
	SSRC                 string     `json:"ssrc"` // "0x%08X"
	Src                  string     `json:"src"`
	Dst                  string     `json:"dst"`
	PayloadType          int        `json:"payload_type"`
	Codec                string     `json:"codec"`
	ClockRate            int        `json:"clock_rate"`
	First                Time       `json:"first"`
	Last                 Time       `json:"last"`
	Packets              uint64     `json:"packets"`
	Expected             uint64     `json:"expected"`
	Lost                 uint64     `json:"lost"`
	Duplicates           uint64     `json:"duplicates"`
	OutOfOrder           uint64     `json:"out_of_order"`
	JitterMeanMs         float64    `json:"jitter_mean_ms"`
	JitterMaxMs          float64    `json:"jitter_max_ms"`
	MaxDeltaMs           float64    `json:"max_delta_ms"`
	MOS                  *float64   `json:"mos"`
	MOSMin               *float64   `json:"mos_min"`
	RFactor              *float64   `json:"r_factor"`
	DTMF                 string     `json:"dtmf"`
	MediaAddressMismatch bool       `json:"media_address_mismatch"`
	RTCP                 *RTCPInfo  `json:"rtcp"`
	Intervals            []Interval `json:"intervals"`
	// Problems flags media conditions: "silent" (no audio and no DTMF packets, e.g. only
	// comfort noise), "ssrc_change" (a new SSRC on a source→destination pair that already
	// carried another in this call), "sequence_restart" (RFC 3550 A.1 restart confirmed),
	// "timestamp_jump" (a step of more than 1 s between RTP timestamps and arrival that the
	// network cannot explain: a re-based clock or a source skipping ahead),
	// "network_stall" (see NetworkStalls), "clock_drift" (the sender clock off nominal by
	// more than 1 % over at least 10 s, see MeasuredClockRate).
	Problems []string `json:"problems"`
	// NetworkStalls counts arrival gaps of 300 ms or more between packets with contiguous
	// sequence numbers (held by the network, then delivered in a burst); LongestStallMs
	// is the longest. MeasuredClockRate is the sender's RTP clock measured against the
	// probe's over at least 10 s (Hz), null when the stream is shorter.
	NetworkStalls     uint64      `json:"network_stalls"`
	LongestStallMs    float64     `json:"longest_stall_ms"`
	MeasuredClockRate *float64    `json:"measured_clock_rate"`
	DTMFEvents        []DTMFEvent `json:"dtmf_events"` // RFC 4733 key presses, each once
}

// DTMFEvent is one RFC 4733 key press of a stream.
type DTMFEvent struct {
	Digit      string  `json:"digit"`
	Start      Time    `json:"start"`
	DurationMs float64 `json:"duration_ms"`
}

// RTCPInfo is what RTCP told about a stream.
type RTCPInfo struct {
	RTTMs                  *float64 `json:"rtt_ms"`
	ReportedFractionLost   *float64 `json:"reported_fraction_lost"` // percent
	ReportedCumulativeLost *int64   `json:"reported_cumulative_lost"`
	ReportedJitterMs       *float64 `json:"reported_jitter_ms"`
}

// Interval is one fixed-length slice of a stream's life.
type Interval struct {
	Start    Time     `json:"start"`
	Packets  uint64   `json:"packets"`
	Lost     uint64   `json:"lost"`
	JitterMs float64  `json:"jitter_ms"`
	MOS      *float64 `json:"mos"`
}

// Registration is one REGISTER flow (challenges included).
type Registration struct {
	AOR       string `json:"aor"`
	Contact   string `json:"contact"`
	Source    string `json:"source"`
	Expires   *int   `json:"expires"`
	Outcome   string `json:"outcome"` // registered|unregistered|failed|challenged|no_response
	FinalCode int    `json:"final_code"`
	Time      Time   `json:"time"`
	CallID    string `json:"call_id"`
	// Messages are the flow's SIP messages in arrival order when Config.KeepMessages
	// (at most 16): the REGISTER/401/REGISTER/200 exchange of its ladder. Not stored.
	Messages []Message `json:"-"`
}
