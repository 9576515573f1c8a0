package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
	"github.com/gin-gonic/gin"
)

func itoa(i int) string { return strconv.Itoa(i) }

// badParam is a query parameter that does not parse.
type badParam struct{ name, why string }

func (e *badParam) Error() string { return "bad parameter " + e.name + ": " + e.why }

type params struct {
	c   *gin.Context
	err error
}

func (p *params) time(name string) time.Time {
	v := p.c.Query(name)
	if v == "" || p.err != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		p.err = &badParam{name, "want RFC 3339, e.g. 2024-05-01T10:00:00Z"}
	}
	return t
}

func (p *params) int(name string, def, lo, hi int) int {
	v := p.c.Query(name)
	if v == "" || p.err != nil {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.err = &badParam{name, "want an integer in [" + itoa(lo) + ", " + itoa(hi) + "]"}
	}
	return n
}

func (p *params) float(name string) float64 {
	v := p.c.Query(name)
	if v == "" || p.err != nil {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		p.err = &badParam{name, "want a non-negative number, e.g. 3.6"}
		return 0
	}
	return f
}

// ip reads an IP address (v4 or v6, no port).
func (p *params) ip(name string) string {
	v := p.c.Query(name)
	if v == "" || p.err != nil {
		return ""
	}
	a, err := netip.ParseAddr(strings.Trim(v, "[]"))
	if err != nil {
		p.err = &badParam{name, "want an IP address, e.g. 192.0.2.10 or 2001:db8::1"}
		return ""
	}
	return a.Unmap().String() // canonical, as stored
}

// cursor reads a keyset cursor: the next of a previous page, which names the last call
// of that page. Whether it fits the sort order is the store's to check.
func (p *params) cursor(name string) string {
	v := p.c.Query(name)
	if v == "" || p.err != nil {
		return ""
	}
	var cur store.Cursor
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err == nil {
		err = json.Unmarshal(b, &cur)
	}
	if err != nil || cur.ID == "" || cur.Sort == "" {
		p.err = &badParam{name, "want the next value of a previous page"}
		return ""
	}
	return v
}

// span checks that from is not after to when both are given.
func (p *params) span(from, to time.Time) {
	if p.err == nil && !from.IsZero() && !to.IsZero() && from.After(to) {
		p.err = &badParam{"from", "must not be after to"}
	}
}

func (p *params) bool(name string) *bool {
	v := p.c.Query(name)
	if v == "" || p.err != nil {
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.err = &badParam{name, "want true or false"}
		return nil
	}
	return &b
}

func (p *params) oneOf(name, def string, allowed ...string) string {
	v := p.c.Query(name)
	if v == "" || p.err != nil {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.err = &badParam{name, "want one of " + strings.Join(allowed, ", ")}
	return def
}

// callStates are the values the state filter takes (correlate's contract values).
var callStates = func() []string {
	out := make([]string, len(correlate.States))
	for i, st := range correlate.States {
		out[i] = string(st)
	}
	return out
}()

// parseCallQuery reads the search filters of GET /api/v1/calls.
func parseCallQuery(c *gin.Context) (store.CallQuery, error) {
	p := &params{c: c}
	q := store.CallQuery{
		From:      p.time("from"),
		To:        p.time("to"),
		Number:    c.Query("number"),
		IP:        p.ip("ip"),
		CallID:    c.Query("call_id"),
		State:     p.oneOf("state", "", callStates...),
		FinalCode: p.int("code", 0, 0, 699),
		Dropped:   p.bool("dropped"),
		MOSBelow:  p.float("mos_below"),
		Peer:      c.Query("peer"),
		Sort:      p.oneOf("sort", "start", "start", "duration", "pdd", "mos"),
		Limit:     p.int("limit", 50, 1, 1000),
		Cursor:    p.cursor("cursor"),
	}
	p.span(q.From, q.To)
	q.Desc = q.Sort == "start"
	if d := p.bool("desc"); d != nil {
		q.Desc = *d
	}
	return q, p.err
}

func (s *server) storeError(c *gin.Context, err error) {
	var bp *badParam
	switch {
	case errors.Is(err, store.ErrNotFound):
		apiError(c, http.StatusNotFound, "no such call")
	case errors.As(err, &bp), errors.Is(err, store.ErrBadQuery):
		apiError(c, http.StatusBadRequest, err.Error())
	case c.Request.Context().Err() != nil:
		c.Abort()
	default:
		s.log.Warn("store query failed", "path", c.FullPath(), "err", err)
		apiError(c, http.StatusServiceUnavailable, "store: "+err.Error())
	}
}

// searchResponse is GET /api/v1/calls.
type searchResponse struct {
	Calls []correlate.Call `json:"calls"`
	Next  string           `json:"next"`
}

// refuseOracle answers 403 and reports true when a masked viewer filters by a number
// (number, aor) or by a Call-ID that masking would change: the answer "some call has
// it" would reveal what masking hides.
func refuseOracle(c *gin.Context, names ...string) bool {
	if !getIdent(c).Masked {
		return false
	}
	for _, n := range names {
		v := c.Query(n)
		if v == "" || n == "call_id" && maskText(v) == v {
			continue
		}
		apiError(c, http.StatusForbidden, "searching by "+n+" is not available with masked numbers")
		return true
	}
	return false
}

func (s *server) searchCalls(c *gin.Context) {
	if refuseOracle(c, "number", "call_id") {
		return
	}
	q, err := parseCallQuery(c)
	if err != nil {
		apiError(c, http.StatusBadRequest, err.Error())
		return
	}
	page, err := s.st.SearchCalls(c.Request.Context(), q)
	if err != nil {
		s.storeError(c, err)
		return
	}
	out := searchResponse{Calls: page.Calls, Next: page.Next}
	if out.Calls == nil {
		out.Calls = []correlate.Call{}
	}
	if getIdent(c).Masked {
		for i := range out.Calls {
			maskCall(&out.Calls[i])
		}
	}
	c.JSON(http.StatusOK, out)
}

// activeCalls is GET /api/v1/active: the in-progress calls, newest first, filtered by
// number, ip and call_id like a search.
func (s *server) activeCalls(c *gin.Context) {
	if refuseOracle(c, "number", "call_id") {
		return
	}
	p := &params{c: c}
	ip := p.ip("ip")
	if p.err != nil {
		apiError(c, http.StatusBadRequest, p.err.Error())
		return
	}
	if a, err := netip.ParseAddr(strings.Trim(ip, "[]")); err == nil {
		ip = a.Unmap().String()
	}
	out := []correlate.Call{}
	if s.live != nil {
		number := strings.ToLower(c.Query("number"))
		cid := c.Query("call_id")
		for _, cl := range s.live.ActiveCalls() {
			if cid != "" && cl.CallID != cid {
				continue
			}
			if ip != "" && store.HostOf(cl.Caller) != ip && store.HostOf(cl.Callee) != ip {
				continue
			}
			if number != "" && !containsFold(number, cl.FromUser, cl.ToUser, cl.From, cl.To) {
				continue
			}
			cl.Streams = nil
			out = append(out, cl)
			if len(out) >= 1000 {
				break
			}
		}
	}
	if getIdent(c).Masked {
		for i := range out {
			maskCall(&out[i])
		}
	}
	c.JSON(http.StatusOK, gin.H{"calls": out})
}

func containsFold(needle string, hay ...string) bool {
	for _, h := range hay {
		if strings.Contains(strings.ToLower(h), needle) {
			return true
		}
	}
	return false
}

// findCall returns a stored call, or an in-progress one from the live source.
func (s *server) findCall(c *gin.Context, id string) (*correlate.Call, error) {
	cl, err := s.st.GetCall(c.Request.Context(), id)
	if errors.Is(err, store.ErrNotFound) && s.live != nil {
		for _, a := range s.live.ActiveCalls() {
			if a.ID == id {
				return &a, nil
			}
		}
	}
	return cl, err
}

func (s *server) getCall(c *gin.Context) {
	cl, err := s.findCall(c, c.Param("id"))
	if err != nil {
		s.storeError(c, err)
		return
	}
	if cl.Streams == nil {
		cl.Streams = []correlate.Stream{}
	}
	// Legs the store links by shared keys (another probe's, or one this probe could not
	// link live) join the ones the correlator linked.
	if legs, err := s.st.Legs(c.Request.Context(), cl.ID); err == nil {
		for _, l := range legs {
			if !slices.Contains(cl.LinkedCallIDs, l.CallID) {
				cl.LinkedCallIDs = append(cl.LinkedCallIDs, l.CallID)
			}
		}
		slices.Sort(cl.LinkedCallIDs)
	} else if !errors.Is(err, store.ErrNotFound) {
		s.storeError(c, err)
		return
	}
	if getIdent(c).Masked {
		maskCall(cl)
	}
	c.JSON(http.StatusOK, cl)
}

func (s *server) timeRange(p *params) (from, to time.Time) {
	to = p.time("to")
	from = p.time("from")
	if to.IsZero() {
		to = s.cfg.Now()
	}
	if from.IsZero() {
		from = to.Add(-24 * time.Hour)
	}
	if p.err == nil && !from.Before(to) {
		p.err = &badParam{"from", "must be before to"}
	}
	return from, to
}

func (s *server) stats(c *gin.Context) {
	p := &params{c: c}
	from, to := s.timeRange(p)
	step := time.Minute
	if v := c.Query("step"); v != "" && p.err == nil {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			p.err = &badParam{"step", "want a duration of at least 1s, e.g. 1m"}
		}
		step = d
	}
	if p.err != nil {
		apiError(c, http.StatusBadRequest, p.err.Error())
		return
	}
	// At most 2000 buckets: widen the step rather than answer with millions.
	for to.Sub(from)/step > 2000 {
		step *= 2
	}
	// Buckets start on the step (the minute, the hour, UTC), not at whatever instant
	// from names: the store counts them from from.
	from = from.Truncate(step)
	st, err := s.st.Stats(c.Request.Context(), store.StatsQuery{From: from, To: to, Step: step})
	if err != nil {
		s.storeError(c, err)
		return
	}
	if st.Buckets == nil {
		st.Buckets = []store.StatsBucket{}
	}
	c.JSON(http.StatusOK, struct {
		From  time.Time `json:"from"`
		To    time.Time `json:"to"`
		StepS float64   `json:"step_s"`
		*store.Stats
	}{from.UTC(), to.UTC(), step.Seconds(), &st})
}

func (s *server) top(c *gin.Context) {
	p := &params{c: c}
	from, to := s.timeRange(p)
	q := store.TopQuery{
		From: from, To: to,
		By:       p.oneOf("by", "destination", "destination", "peer"),
		Metric:   p.oneOf("metric", "asr", "asr", "mos"),
		N:        p.int("n", 10, 1, 1000),
		MinCalls: p.int("min_calls", 1, 1, 1<<30),
	}
	if p.err != nil {
		apiError(c, http.StatusBadRequest, p.err.Error())
		return
	}
	rows, err := s.st.Top(c.Request.Context(), q)
	if err != nil {
		s.storeError(c, err)
		return
	}
	if rows == nil {
		rows = []store.TopRow{}
	}
	if getIdent(c).Masked && q.By == "destination" {
		for i := range rows {
			rows[i].Key = maskText(rows[i].Key)
		}
	}
	c.JSON(http.StatusOK, gin.H{"by": q.By, "metric": q.Metric, "rows": rows})
}

func (s *server) registrations(c *gin.Context) {
	if refuseOracle(c, "aor") {
		return
	}
	p := &params{c: c}
	q := store.RegQuery{From: p.time("from"), To: p.time("to"), AOR: c.Query("aor"), Limit: p.int("limit", 100, 1, 1000)}
	p.span(q.From, q.To)
	if p.err != nil {
		apiError(c, http.StatusBadRequest, p.err.Error())
		return
	}
	regs, err := s.st.Registrations(c.Request.Context(), q)
	if err != nil {
		s.storeError(c, err)
		return
	}
	rows := s.regRows(regs) // regladder.go
	if getIdent(c).Masked {
		for i := range rows {
			maskRegistration(&rows[i].Registration)
		}
	}
	c.JSON(http.StatusOK, gin.H{"registrations": rows})
}
