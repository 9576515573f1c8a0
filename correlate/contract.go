package correlate

import "fmt"

// The values of the JSON contract that users filter and alert on, in one place. Every
// package that reads or writes them (aggregate, both stores, web, the generator) uses
// these constants, never the bare strings.

// State is a call's outcome (CALL.state).
type State string

// Call states.
const (
	StateAnswered   State = "answered"
	StateBusy       State = "busy"        // 486, 600
	StateCancelled  State = "cancelled"   // CANCEL before an answer, or 487
	StateNoAnswer   State = "no_answer"   // 408, 480, or ringing until the ring timeout
	StateRedirected State = "redirected"  // 3xx and no follow-up INVITE
	StateFailed     State = "failed"      // any other final error, or no answer at all
	StateInProgress State = "in_progress" // still being set up
)

// States lists every State, in the order the dashboard offers them.
var States = [...]State{StateAnswered, StateBusy, StateCancelled, StateNoAnswer, StateRedirected, StateFailed, StateInProgress}

// EndReason says what ended a call (CALL.end_reason).
type EndReason string

// End reasons.
const (
	EndBye           EndReason = "bye"
	EndCancel        EndReason = "cancel"
	EndErrorResponse EndReason = "error_response"
	EndRTPTimeout    EndReason = "rtp_timeout"
	EndSIPTimeout    EndReason = "sip_timeout"
	EndCaptureEnd    EndReason = "capture_end"
	EndEvicted       EndReason = "evicted" // the call table was full (Config.MaxCalls)
)

// DropReason says why an answered call counts as dropped (CALL.drop_reason).
type DropReason string

// Drop reasons.
const (
	DropAbnormalQ850      DropReason = "abnormal_q850_cause"
	DropRTPTimeout        DropReason = "rtp_timeout"
	DropMediaStoppedEarly DropReason = "media_stopped_before_bye"
	DropInDialog408       DropReason = "in_dialog_408"
	DropInDialog481       DropReason = "in_dialog_481"
)

// Problem flags a media condition of a stream (STREAM.problems).
type Problem string

// Stream problems.
const (
	ProblemSilent          Problem = "silent"           // no audio and no DTMF packets
	ProblemSSRCChange      Problem = "ssrc_change"      // a new SSRC on a flow that had another
	ProblemSequenceRestart Problem = "sequence_restart" // RFC 3550 A.1 restart confirmed
	ProblemTimestampJump   Problem = "timestamp_jump"   // RTP timestamp step disagrees with the sequence step
	ProblemNetworkStall    Problem = "network_stall"    // an arrival gap >= 300 ms with contiguous sequence numbers
	ProblemClockDrift      Problem = "clock_drift"      // sender clock off nominal by more than 1 %
)

// Scan implements sql.Scanner, so stores read these columns into the typed fields.
func (s *State) Scan(v any) error { return scanString((*string)(s), v) }

// Scan implements sql.Scanner.
func (r *EndReason) Scan(v any) error { return scanString((*string)(r), v) }

// Scan implements sql.Scanner.
func (r *DropReason) Scan(v any) error { return scanString((*string)(r), v) }

func scanString(dst *string, v any) error {
	switch x := v.(type) {
	case string:
		*dst = x
	case []byte:
		*dst = string(x)
	case nil:
		*dst = ""
	default:
		return fmt.Errorf("correlate: cannot scan %T into a contract value", v)
	}
	return nil
}
