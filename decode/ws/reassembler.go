package ws

// Reassembler joins the frames of one direction of a WebSocket connection
// into whole unmasked messages (RFC 6455 §5.4). The zero value is ready.
type Reassembler struct {
	buf      []byte
	inMsg    bool // a fragmented data message is in progress
	skipping bool // the message in progress is being discarded
}

// Reset drops any partial message; the buffer is kept for reuse.
func (r *Reassembler) Reset() {
	r.buf = r.buf[:0]
	r.inMsg = false
	r.skipping = false
}

// Push adds one frame. When f completes a text or binary message it returns
// the whole unmasked message and complete=true; msg is valid until the next
// Push or Reset. Control frames (close, ping, pong) are ignored: they return
// nil, false, nil and do not disturb a fragmented message they interleave
// (§5.4). Errors: ErrMalformed for a continuation without a message start;
// ErrCompressed and ErrTooLarge when a message is being skipped (the error
// is returned once, on the frame where the condition is found; its later
// fragments are dropped silently). A new text/binary frame while a
// fragmented message is open abandons the open message (lenient).
func (r *Reassembler) Push(f *Frame) (msg []byte, complete bool, err error) {
	switch {
	case f.Opcode&0x8 != 0:
		return nil, false, nil
	case f.Opcode == OpText || f.Opcode == OpBinary:
		r.buf = r.buf[:0]
		r.inMsg, r.skipping = !f.Fin, false
		if f.RSV1 {
			r.skipping = r.inMsg
			return nil, false, ErrCompressed
		}
		if f.Fin && !f.Masked {
			return f.Payload, true, nil // zero copy
		}
	case f.Opcode == OpContinuation:
		if !r.inMsg {
			return nil, false, ErrMalformed
		}
		if f.Fin {
			r.inMsg = false
		}
		if r.skipping {
			if f.Fin {
				r.skipping = false
			}
			return nil, false, nil
		}
	default:
		return nil, false, ErrMalformed
	}
	if len(r.buf)+len(f.Payload) > MaxMessage {
		r.buf = r.buf[:0]
		r.skipping = r.inMsg
		return nil, false, ErrTooLarge
	}
	if f.Masked {
		r.buf = Unmask(r.buf, f.Payload, f.MaskKey, 0)
	} else {
		r.buf = append(r.buf, f.Payload...)
	}
	if f.Fin {
		return r.buf, true, nil
	}
	return nil, false, nil
}
