package web

import (
	"net/http"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
	"github.com/gin-gonic/gin"
)

// RegistrationLadders is implemented by a LiveSource that keeps the SIP messages of
// recent REGISTER flows (the store keeps registrations without them): by
// correlate.RegistrationID, the registration with its Messages, read-only. Safe for
// concurrent use.
type RegistrationLadders interface {
	RegistrationLadder(id string) (*correlate.Registration, bool)
}

// regRow is one registration of GET /api/v1/registrations: id names it for
// GET /api/v1/registrations/:id/ladder, ladder says whether its messages are kept.
type regRow struct {
	correlate.Registration
	ID     string `json:"id"`
	Ladder bool   `json:"ladder"`
}

func (s *server) regLadders() RegistrationLadders {
	if s.live == nil {
		return nil
	}
	rl, _ := s.live.(RegistrationLadders)
	return rl
}

// regRows gives each registration its id (of the unmasked Call-ID and time) and says
// whether its ladder is kept.
func (s *server) regRows(regs []correlate.Registration) []regRow {
	rl := s.regLadders()
	out := make([]regRow, len(regs))
	for i := range regs {
		out[i] = regRow{Registration: regs[i], ID: correlate.RegistrationID(&regs[i])}
		if rl != nil {
			_, out[i].Ladder = rl.RegistrationLadder(out[i].ID)
		}
	}
	return out
}

// regLadder is GET /api/v1/registrations/:id/ladder: the REGISTER flow's messages
// (REGISTER, 401/407, REGISTER, 200 and any retransmissions) laid out like a call's.
// 404 when the flow is not among those kept.
func (s *server) regLadder(c *gin.Context) {
	rl := s.regLadders()
	var r *correlate.Registration
	ok := false
	if rl != nil {
		r, ok = rl.RegistrationLadder(c.Param("id"))
	}
	if !ok {
		apiError(c, http.StatusNotFound, "no ladder kept for this registration (only recent REGISTER flows keep their messages)")
		return
	}
	cl := &correlate.Call{ID: correlate.RegistrationID(r), CallID: r.CallID, From: r.AOR, To: r.AOR,
		State: correlate.State(r.Outcome), Caller: r.Source}
	msgs := make([]store.Message, len(r.Messages))
	for i := range r.Messages {
		msgs[i] = storeMessage(cl, &r.Messages[i])
	}
	c.JSON(http.StatusOK, buildLadder([]*correlate.Call{cl}, msgs, getIdent(c).Masked))
}
