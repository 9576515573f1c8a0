// Package web owns callscope's HTTP face: the REST API under /api/v1, the dashboard (HTML,
// JS, CSS embedded with go:embed; no CDN, no build step), pcap export, /healthz, /readyz
// and /metrics, and access control (bcrypt users, bearer tokens, signed session cookies,
// security headers, number masking).
//
// Concurrency: the handler returned by New is safe for concurrent use. It keeps no
// per-request state between requests: sessions are HMAC-signed cookies (no session
// table to grow), live calls come from LiveSource (which must be safe for concurrent
// calls and return a snapshot the handler may read but not modify), and everything else
// is read from the store.Store per request. Each request's work is bounded: searches
// are capped by store.CallQuery.Limit, ladders by the store's per-call message cap, and
// a pcap export streams frames to the client as they are written.
package web
