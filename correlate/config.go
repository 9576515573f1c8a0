package correlate

import (
	"errors"
	"time"

	"github.com/callscope/callscope/quality"
)

// KeepRTP values (Config.KeepRTP).
const (
	KeepRTPNone    = "none"
	KeepRTPHeaders = "headers"
	KeepRTPFull    = "full"
)

// Config holds the correlator's timers (all in packet time) and table caps.
type Config struct {
	// RTPTimeout ends an answered call with no BYE once its media has been silent this long
	// (end_reason rtp_timeout). Calls that never had media are not timed out by it.
	RTPTimeout time.Duration
	// SIPTimeout ends an INVITE that got no response at all (RFC 3261 Timer B, 64*T1).
	SIPTimeout time.Duration
	// RingTimeout ends an INVITE that got a provisional response but no final one
	// (RFC 3261 §16.6 Timer C is at least 3 minutes).
	RingTimeout time.Duration
	// MaxCallDuration ends an answered call with no media and no BYE.
	MaxCallDuration time.Duration
	// Linger keeps a finished call (BYE, final error) this long for retransmissions and
	// trailing media before it is emitted.
	Linger time.Duration
	// MediaStopBeforeBye flags a call dropped when its media stopped at least this long
	// before the BYE.
	MediaStopBeforeBye time.Duration
	// OneWayAfter flags one_way_audio when an answered call had media in one direction
	// only for longer than this.
	OneWayAfter time.Duration

	MaxCalls           int // concurrent calls; the oldest is evicted beyond it
	MaxStreams         int // RTP streams (attached and orphan candidates)
	MaxMedia           int // media index entries (SDP addresses)
	MaxRegistrations   int // open REGISTER flows
	MaxMessagesPerCall int // ladder entries kept per call when KeepMessages
	MaxStreamsPerCall  int

	// LinkHeaders are the headers whose values link B2BUA legs into one call group.
	// P-Charging-Vector contributes its icid-value, Session-ID (RFC 7989) its value
	// before any parameter.
	LinkHeaders []string
	// LinkByNumber also links calls with the same from_user and to_user (a leading '+'
	// ignored) whose starts are within LinkWindow of each other (see LinkCalls).
	LinkByNumber bool
	LinkWindow   time.Duration

	// KeepMessages retains every SIP message (raw bytes and frame) per call for ladders
	// and pcap export. Off for analyze.
	KeepMessages bool
	// PackedRecords hands a call's kept messages to Output.Call as they are held: those
	// packed while it ran stay packed in the Record (read them with AllMessages or
	// Unpacked; Messages then holds only the later ones). Off, emit unpacks them into
	// Messages. serve turns it on: its store writer encodes the write-ahead log from
	// Unpacked and keeps the queued copy packed anyway, so the unpacked copy was held
	// only to be packed again (a fifth of the live heap when 20,000 calls end at once).
	PackedRecords bool
	// KeepRTP says which RTP/RTCP frames of a call are kept for pcap export (Record.Media)
	// when KeepMessages is on (without the SIP a media-only pcap is of no use, so analyze,
	// which keeps no messages, keeps no media either): "none"; "headers" (the default:
	// each RTP frame cut after its RTP header, RTCP frames whole); "full" (whole frames).
	KeepRTP string
	// MaxMediaFramesPerCall and MaxMediaBytesPerCall bound the frames kept per call
	// (MaxMediaBytesPerCall counts them packed: compressed chunks, the open chunk raw with
	// its pcap headers; framepack.go); frames beyond either are counted in
	// Counters.MediaFramesDropped.
	MaxMediaFramesPerCall int
	MaxMediaBytesPerCall  int
	// MaxRetainedBytes bounds the SIP text and media frames all calls in the table keep
	// for ladders and pcap export, together. A message or frame that would go past it is
	// not kept (counted in dropped_total{what="retained_bytes"}); the call is still
	// analysed. The bytes are released when the call leaves the table.
	MaxRetainedBytes int64
	// FrameSpillDir, when set, is where the correlator writes the sealed chunks of kept
	// frames while calls run (spill.go), so that an open call holds only its open chunk
	// in memory; it makes its own subdirectory there and removes its files as calls
	// end. FrameSpillMaxBytes caps those files (default 4 GiB); past it chunks stay in
	// memory (Counters.FrameSpillFull). Empty: everything stays in memory.
	FrameSpillDir      string
	FrameSpillMaxBytes int64

	Quality quality.Config
}

// DefaultConfig returns the defaults documented in the README.
func DefaultConfig() Config {
	return Config{
		RTPTimeout:            30 * time.Second,
		SIPTimeout:            32 * time.Second,
		RingTimeout:           180 * time.Second,
		MaxCallDuration:       4 * time.Hour,
		Linger:                10 * time.Second,
		MediaStopBeforeBye:    time.Second,
		OneWayAfter:           3 * time.Second,
		MaxCalls:              200000,
		MaxStreams:            400000,
		MaxMedia:              800000,
		MaxRegistrations:      100000,
		MaxMessagesPerCall:    2000,
		MaxStreamsPerCall:     32,
		LinkHeaders:           []string{"X-CID", "X-Call-ID", "P-Charging-Vector", "Session-ID"},
		LinkWindow:            2 * time.Second,
		KeepRTP:               KeepRTPHeaders,
		MaxMediaFramesPerCall: 50000,
		MaxMediaBytesPerCall:  16 << 20,
		MaxRetainedBytes:      1 << 30,
		FrameSpillMaxBytes:    4 << 30,
		Quality:               quality.DefaultConfig(),
	}
}

// Validate reports the first unusable setting.
func (c *Config) Validate() error {
	switch {
	case c.RTPTimeout <= 0:
		return errors.New("correlate: rtp timeout must be positive")
	case c.SIPTimeout <= 0 || c.RingTimeout <= 0:
		return errors.New("correlate: sip timeouts must be positive")
	case c.MaxCalls <= 0 || c.MaxStreams <= 0 || c.MaxMedia <= 0:
		return errors.New("correlate: table caps must be positive")
	case c.MaxStreamsPerCall <= 0 || c.MaxRegistrations <= 0:
		return errors.New("correlate: table caps must be positive")
	case c.KeepRTP != KeepRTPNone && c.KeepRTP != KeepRTPHeaders && c.KeepRTP != KeepRTPFull:
		return errors.New(`correlate: keep-rtp must be "none", "headers" or "full"`)
	case c.MaxRetainedBytes < 0:
		return errors.New("correlate: max retained bytes must not be negative")
	case c.KeepRTP != KeepRTPNone && (c.MaxMediaFramesPerCall <= 0 || c.MaxMediaBytesPerCall <= 0):
		return errors.New("correlate: media frame caps must be positive")
	case c.LinkByNumber && c.LinkWindow <= 0:
		return errors.New("correlate: link window must be positive")
	}
	return nil
}
