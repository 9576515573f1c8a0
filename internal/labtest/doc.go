// Package labtest holds TestLab: callscope against a lab of real SIP servers (Kamailio as
// registrar and digest-auth proxy with Record-Route and a HEPv3 mirror, rtpengine anchoring
// the media, SIPp callers and callees) in network namespaces the test creates and removes.
// SIPp's own counts and the scenarios it ran are the judge; callscope's live capture, its
// HEP input and its file analysis must agree with them and with each other.
//
// The package has no code outside its test. The test runs as root only, starts every daemon
// itself, stops each by PID and deletes its namespaces when it ends.
package labtest
