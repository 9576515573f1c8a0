package correlate

import (
	"strconv"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
)

type regFlow struct {
	r        Registration
	lastCSeq uint32
	started  int64
	msgs     []Message // kept for the flow's ladder (regmessages.go)
	retained int64     // bytes of msgs counted against MaxRetainedBytes
}

func (c *Correlator) register(ev *decode.Event, m *sip.Message) {
	key := string(m.CallID)
	f := c.regs[key]
	if m.Request {
		if f != nil && f.r.Outcome != "challenged" && f.r.Outcome != "no_response" {
			c.emitReg(key, f)
			f = nil
		}
		if f == nil {
			if len(c.regs) >= c.cfg.MaxRegistrations {
				c.evictOldestReg()
			}
			f = &regFlow{started: ev.TS}
			f.r = Registration{
				AOR: string(m.ToURI), Contact: string(m.ContactURI), Source: ev.Src.String(),
				Outcome: "no_response", Time: Time(ev.TS), CallID: key,
			}
			if m.Expires >= 0 {
				e := m.Expires
				f.r.Expires = &e
			} else if v := sip.Param(m.Contact, "expires"); len(v) > 0 {
				if e, err := strconv.Atoi(string(v)); err == nil {
					f.r.Expires = &e
				}
			}
			c.regs[key] = f
		}
		f.lastCSeq = m.CSeq
		c.keepRegMessage(f, ev, m)
		return
	}
	if f == nil {
		return
	}
	c.keepRegMessage(f, ev, m)
	if m.StatusCode < 200 {
		return
	}
	f.r.FinalCode = m.StatusCode
	switch {
	case m.StatusCode == 401 || m.StatusCode == 407:
		f.r.Outcome = "challenged"
		return
	case m.StatusCode < 300:
		exp := -1
		if v := sip.Param(m.Contact, "expires"); len(v) > 0 {
			if e, err := strconv.Atoi(string(v)); err == nil {
				exp = e
			}
		} else if m.Expires >= 0 {
			exp = m.Expires
		} else if f.r.Expires != nil {
			exp = *f.r.Expires
		}
		if exp >= 0 {
			f.r.Expires = &exp
		}
		f.r.Outcome = "registered"
		if exp == 0 {
			f.r.Outcome = "unregistered"
		}
	default:
		f.r.Outcome = "failed"
	}
	c.emitReg(key, f)
}

func (c *Correlator) emitReg(key string, f *regFlow) {
	delete(c.regs, key)
	c.releaseReg(f)
	if c.out.Registration != nil {
		r := f.r
		r.Messages = f.msgs
		c.out.Registration(&r)
	}
}

func (c *Correlator) evictOldestReg() {
	var ok string
	var old *regFlow
	for k, f := range c.regs {
		if old == nil || f.started < old.started || (f.started == old.started && k < ok) {
			ok, old = k, f
		}
	}
	if old != nil {
		c.cnt.RegistrationsEvicted++
		c.emitReg(ok, old)
	}
}
