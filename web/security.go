package web

import (
	"net/http"

	"github.com/callscope/callscope/security"
	"github.com/callscope/callscope/store"
	"github.com/gin-gonic/gin"
)

// securityRoutes registers the security analytics API on the authenticated group.
func (s *server) securityRoutes(api *gin.RouterGroup) {
	api.GET("/security", s.securityEvents)
	api.GET("/security/top", s.securityTop)
}

var securityTypes = func() []string {
	out := make([]string, len(security.Types))
	for i, t := range security.Types {
		out[i] = string(t)
	}
	return out
}()

// securityEvents is GET /api/v1/security?from=&to=&type=&source=&limit=: stored
// security events active in [from, to), newest (first time) first, as
// {"events": [security.Event]}. A masked viewer reads target, user_agent and
// sample_call_ids through maskText (sources are IPs and stay readable).
func (s *server) securityEvents(c *gin.Context) {
	p := &params{c: c}
	q := store.SecurityQuery{From: p.time("from"), To: p.time("to"), Type: p.oneOf("type", "", securityTypes...),
		Source: p.ip("source"), Limit: p.int("limit", 100, 1, 10000)}
	if p.err != nil {
		apiError(c, http.StatusBadRequest, p.err.Error())
		return
	}
	evs, err := s.st.SecurityEvents(c.Request.Context(), q)
	if err != nil {
		s.storeError(c, err)
		return
	}
	if evs == nil {
		evs = []security.Event{}
	}
	if getIdent(c).Masked {
		for i := range evs {
			maskSecurityEvent(&evs[i])
		}
	}
	c.JSON(http.StatusOK, gin.H{"events": evs})
}

// maskSecurityEvent masks what of e can carry a number: the target (an AOR, account or
// prefix), the User-Agent and the sample Call-IDs.
func maskSecurityEvent(e *security.Event) {
	e.Target, e.UserAgent = maskText(e.Target), maskText(e.UserAgent)
	ids := make([]string, len(e.CallIDs))
	for i, id := range e.CallIDs {
		ids[i] = maskText(id)
	}
	e.CallIDs = ids
}

// securityTop is GET /api/v1/security/top?n=&from=&to=: the sources with the most
// security events, as {"sources": [{source, events, count, types}]}.
func (s *server) securityTop(c *gin.Context) {
	p := &params{c: c}
	q := store.SecurityTopQuery{From: p.time("from"), To: p.time("to"), N: p.int("n", 10, 1, 1000)}
	if p.err != nil {
		apiError(c, http.StatusBadRequest, p.err.Error())
		return
	}
	top, err := s.st.SecurityTop(c.Request.Context(), q)
	if err != nil {
		s.storeError(c, err)
		return
	}
	if top == nil {
		top = []store.SecuritySource{}
	}
	c.JSON(http.StatusOK, gin.H{"sources": top})
}
