// Package web owns callscope's HTTP face: the REST API under /api/v1, the dashboard (HTML,
// JS, CSS embedded with go:embed; no CDN, no build step), pcap export, call audio as WAV
// for admins (audio.go, decoded by package audio), /healthz, /readyz
// and /metrics, access control (bcrypt users, bearer tokens, server-side sessions, login
// rate limits, same-origin POSTs, security headers, number masking) and the http.Server
// limits it runs under (NewServer: timeouts, header and body caps, TLS).
//
// Concurrency: the handler returned by New is safe for concurrent use. Its only state
// across requests is the session table and the two login rate-limit tables (session.go),
// each behind its own mutex and bounded (Config.MaxSessions, Config.LoginTableSize) with
// evictions counted; bcrypt comparisons are bounded to GOMAXPROCS at once. Live calls
// come from LiveSource (which must be safe for concurrent calls and return a snapshot
// the handler may read but not modify: masking copies what it changes; so must its
// optional LiveRecords and RegistrationLadders, live.go and regladder.go), and everything
// else is read from the store.Store per request. Each request's work is bounded: bodies
// are capped at 64 KiB, searches by store.CallQuery.Limit, ladders by the store's
// per-call message cap, a pcap export streams frames to the client as they are
// written, and a WAV is at most audio.MaxDuration long.
//
// Masking (mask.go) is one function, maskText, applied to every string a masked viewer
// reads, plus maskDTMF for keypresses; number searches are refused for masked viewers.
package web
