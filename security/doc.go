// Package security turns the SIP traffic callscope already decodes into security events a
// NOC can act on: scanners, brute force, floods, toll-fraud patterns and protocol
// anomalies (the rules and their defaults are documented on Config).
//
// A Detector is fed two things by the pipeline, beside the correlator: every decoded SIP
// message (Detector.Event or Detector.SIP, with the decode.Event view valid only during
// the call: whatever an event keeps is copied) and every finished call
// (Detector.Call, for the toll-fraud rules). It does no I/O, starts no goroutines and holds
// no globals. Packet time drives every window, so replaying a capture gives the same events.
//
// Every table is bounded (Config.MaxSources, MaxAORs, MaxEvents, MaxAccounts, MaxPeers):
// a flood from spoofed sources recycles the oldest slot and counts an eviction; an event
// evicted from a full table is ended early, never lost.
//
// Events are delivered through Output: Raised when a rule first fires (what alerting hooks
// into), Ended when the activity has been quiet for Config.Hold, or at Finish, with the
// final counts. A Detector is not safe for concurrent use: one goroutine (the
// correlator's) owns it. Output callbacks run on that goroutine.
package security
