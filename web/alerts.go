package web

import (
	"net/http"
	"slices"

	"github.com/callscope/callscope/store"
	"github.com/gin-gonic/gin"
)

// alertsResponse is GET /api/v1/alerts.
type alertsResponse struct {
	// Active are the built-in alerts pending or firing now, firing first; each with its
	// newest evaluation (value, calls, window).
	Active []store.AlertEvent `json:"active"`
	// History are stored state changes matching the filters, newest first.
	History []store.AlertEvent `json:"history"`
}

// alerts is GET /api/v1/alerts?from=&to=&rule=&peer=&state=&limit=: active alerts (also
// filtered by rule and peer) and the history of state changes from the store.
func (s *server) alerts(c *gin.Context) {
	p := &params{c: c}
	q := store.AlertQuery{From: p.time("from"), To: p.time("to"), Rule: c.Query("rule"), Peer: c.Query("peer"),
		State: c.Query("state"), Limit: p.int("limit", 100, 1, 10000)}
	if p.err != nil {
		apiError(c, http.StatusBadRequest, p.err.Error())
		return
	}
	hist, err := s.st.AlertEvents(c.Request.Context(), q)
	if err != nil {
		s.storeError(c, err)
		return
	}
	resp := alertsResponse{Active: []store.AlertEvent{}, History: hist}
	if resp.History == nil {
		resp.History = []store.AlertEvent{}
	}
	if s.cfg.Alerts != nil {
		resp.Active = slices.DeleteFunc(s.cfg.Alerts(), func(a store.AlertEvent) bool {
			return (q.Rule != "" && a.Rule != q.Rule) || (q.Peer != "" && a.Peer != q.Peer) ||
				(q.State != "" && a.State != q.State)
		})
		if resp.Active == nil {
			resp.Active = []store.AlertEvent{}
		}
	}
	c.JSON(http.StatusOK, resp)
}
