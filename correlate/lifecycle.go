package correlate

// lifecycle is a call's outcome as one small state machine: the initial INVITE
// transactions, answer, final response, BYE and end. Only its methods change its fields;
// the rest of the package reads them. The rules (docs/calls.md):
//
//   - One call per INVITE dialog attempt. A 401/407 or 3xx to the initial INVITE is only
//     tentative: a new initial INVITE on the same Call-ID (CSeq changed, RFC 3261 §22.2,
//     §8.1.3.4) starts a new transaction of the same call, and the outcome, final code
//     and times come from the last one. Without a follow-up within Timer B (SIPTimeout)
//     or by the end of input, the challenge or redirect is the final answer.
//   - Any other final error ends the call, but a new initial INVITE while the ended call
//     still lingers (422, 491 and 420 retries) reopens it the same way.
//   - Only responses to the caller's current initial INVITE decide the outcome:
//     re-INVITEs, UPDATE, PRACK, BYE and CANCEL failures never change it (a challenged
//     BYE still ends the call by BYE once it is answered or times out).
//   - 408/481 to an in-dialog request marks the dialog dead only if no later in-dialog
//     request is answered 2xx.
type lifecycle struct {
	// Ordered by size: 128 bytes instead of 152, part of what keeps a call in the
	// 640-byte size class (TestStateSizes).
	start       int64 // first initial INVITE (or first message), the call's identity
	inviteTS    int64 // the current initial INVITE: PDD and setup time start here
	ringing     int64
	answer      int64
	finalTS     int64
	end         int64
	byeTS       int64
	finalCode   int
	challenges  int // 401/407 answers to initial INVITEs
	deadCode    int // 408/481 to an in-dialog request, until a later 2xx
	finalReason string
	endReason   EndReason
	inviteCSeq  uint32 // CSeq of the current initial INVITE transaction
	hasInvite   bool
	cancelled   bool
	byeSide     uint8
	done        bool // ended; emitted after Linger
	pending     pendingFinal
	// responseOnly: the INVITE was not captured, but responses to it were; inviteCSeq is
	// theirs. PDD and setup time stay unknown.
	responseOnly bool
}

// pendingFinal is a non-2xx final response that a new INVITE may still supersede.
type pendingFinal uint8

const (
	pendingNone pendingFinal = iota
	pendingChallenge
	pendingRedirect
)

// initialInvite records an INVITE without a To tag. It reports whether it began a new
// transaction: the first INVITE, or a follow-up (new CSeq) after a challenge, a
// redirect or another final error, as long as the call was not answered.
func (l *lifecycle) initialInvite(ts int64, cseq uint32) bool {
	if !l.hasInvite {
		l.hasInvite, l.inviteCSeq, l.start, l.inviteTS = true, cseq, ts, ts
		return true
	}
	if cseq == l.inviteCSeq || l.answer != 0 || l.finalCode == 0 || l.byeTS != 0 {
		return false // the same transaction, or a second INVITE racing the first
	}
	l.inviteCSeq, l.inviteTS = cseq, ts
	l.ringing, l.finalTS, l.finalCode, l.finalReason = 0, 0, 0, ""
	l.cancelled, l.pending = false, pendingNone
	l.done, l.end, l.endReason = false, 0, ""
	return true
}

// inviteResponseOnly takes the transaction of a response whose INVITE was not captured.
func (l *lifecycle) inviteResponseOnly(cseq uint32) {
	if !l.hasInvite && !l.responseOnly {
		l.responseOnly, l.inviteCSeq = true, cseq
	}
}

// adopt marks a call whose INVITE was not captured as established before the capture.
func (l *lifecycle) adopt(ts int64) {
	if l.answer == 0 {
		l.answer, l.finalCode = ts, 200
	}
}

// provisional records a 180/183 to the current INVITE.
func (l *lifecycle) provisional(ts int64) {
	if l.ringing == 0 {
		l.ringing = ts
	}
}

// answered records a 2xx to the current INVITE. It reports whether the call was
// reopened: a forked INVITE (RFC 3261 §13.2.2.4) whose other branch's error or a
// CANCEL came first; the answered branch wins, and the failed branch's Reason header is
// not this call's.
func (l *lifecycle) answered(ts int64, code int, reason string) (reopened bool) {
	if l.answer != 0 {
		return false
	}
	if l.done && l.byeTS == 0 {
		l.done, l.end, l.endReason, l.cancelled = false, 0, "", false
		reopened = true
	}
	l.pending = pendingNone
	l.answer, l.finalTS, l.finalCode, l.finalReason = ts, ts, code, reason
	return reopened
}

// failed records a final error (>= 300) to the current INVITE. It reports whether the
// response was taken (the first final answer of the transaction).
func (l *lifecycle) failed(ts int64, code int, reason string) bool {
	if l.answer != 0 || l.finalCode != 0 {
		return false
	}
	l.finalTS, l.finalCode, l.finalReason = ts, code, reason
	switch {
	case code == 401 || code == 407:
		l.challenges++
		l.pending = pendingChallenge
	case code >= 300 && code < 400:
		l.pending = pendingRedirect
	default:
		l.closeFinal()
	}
	return true
}

// closeFinal ends the call at its final error response.
func (l *lifecycle) closeFinal() {
	l.pending = pendingNone
	l.end, l.endReason, l.done = l.finalTS, EndErrorResponse, true
	if l.cancelled || l.finalCode == 487 {
		l.endReason = EndCancel
	}
}

// cancel records a CANCEL of the INVITE (before any answer).
func (l *lifecycle) cancel() {
	if l.answer == 0 {
		l.cancelled = true
	}
}

// bye records the first BYE and which side sent it.
func (l *lifecycle) bye(ts int64, side uint8) {
	if l.byeTS == 0 {
		l.byeTS, l.byeSide = ts, side
	}
}

// byeAnswered records a 2xx to the BYE: the call ends at the BYE.
func (l *lifecycle) byeAnswered() {
	if l.end == 0 && l.byeTS != 0 {
		l.end, l.endReason, l.done = l.byeTS, EndBye, true
	}
}

// inDialogResult records the final answer to an in-dialog request other than the
// initial INVITE: 408/481 mark the dialog as dead, a later 2xx (other than to BYE or
// CANCEL) shows it was alive after all.
func (l *lifecycle) inDialogResult(code int, byeOrCancel bool) {
	if l.answer == 0 {
		return
	}
	switch {
	case code == 408 || code == 481:
		if !byeOrCancel {
			l.deadCode = code
		}
	case code >= 200 && code < 300 && !byeOrCancel:
		l.deadCode = 0
	}
}

// timeouts runs the packet-time timers of an open call: lastSIP and lastMedia are the
// call's latest SIP and media times; hold says a side put the call on hold.
func (l *lifecycle) timeouts(now, lastSIP, lastMedia int64, hold bool, cfg *Config) {
	lastActivity := max(lastSIP, lastMedia)
	switch {
	case l.pending != pendingNone:
		// A challenge or redirect nobody followed within Timer B is the final answer.
		if now-l.finalTS >= int64(cfg.SIPTimeout) {
			l.closeFinal()
		}
	case l.hasInvite && l.finalCode == 0 && l.answer == 0:
		limit := int64(cfg.SIPTimeout)
		if l.ringing != 0 {
			limit = int64(cfg.RingTimeout)
		}
		if now-l.inviteTS >= limit && now-lastSIP >= int64(cfg.SIPTimeout) {
			l.end, l.endReason, l.done = lastActivity, EndSIPTimeout, true
		}
	case l.answer != 0 && l.byeTS == 0:
		if lastMedia != 0 && !hold && now-lastMedia >= int64(cfg.RTPTimeout) && now-lastSIP >= int64(cfg.RTPTimeout) {
			l.end, l.endReason, l.done = lastMedia, EndRTPTimeout, true
		} else if now-l.answer >= int64(cfg.MaxCallDuration) && now-lastActivity >= int64(cfg.RTPTimeout) {
			l.end, l.endReason, l.done = lastActivity, EndSIPTimeout, true
		}
	case l.byeTS != 0 && l.end == 0:
		// BYE without a 200 seen: end at the BYE once the transaction would have timed out.
		if now-l.byeTS >= int64(cfg.SIPTimeout) {
			l.end, l.endReason, l.done = l.byeTS, EndBye, true
		}
	}
}

// finish ends an open call at the end of input or on eviction: a pending challenge or
// redirect becomes the final answer, a BYE ends it at the BYE, anything else at
// lastActivity with reason.
func (l *lifecycle) finish(lastActivity int64, reason EndReason) {
	if l.done {
		return
	}
	switch {
	case l.pending != pendingNone:
		l.closeFinal()
	case l.byeTS != 0:
		l.end, l.endReason = l.byeTS, EndBye
	default:
		l.end, l.endReason = lastActivity, reason
	}
	l.done = true
}

// state is the call's outcome.
func (l *lifecycle) state() State {
	switch {
	case l.answer != 0:
		return StateAnswered
	case l.pending != pendingNone && !l.done:
		return StateInProgress // a challenge or redirect may still be followed
	case l.finalCode == 486 || l.finalCode == 600:
		return StateBusy
	case l.cancelled || l.finalCode == 487:
		return StateCancelled
	case l.finalCode == 408 || l.finalCode == 480:
		return StateNoAnswer
	case l.finalCode >= 300 && l.finalCode < 400:
		return StateRedirected
	case l.finalCode >= 400:
		return StateFailed
	case l.endReason == EndSIPTimeout:
		if l.ringing != 0 {
			return StateNoAnswer
		}
		return StateFailed
	}
	return StateInProgress
}
