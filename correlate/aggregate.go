package correlate

// Aggregate sums a set of calls into the ratios NOC dashboards and alerts use (RFC 6076
// §4): ASR, NER, SCR and ACD, with counts by outcome and final response code. The zero
// value is ready; Add calls one by one, or Merge partial aggregates.
type Aggregate struct {
	Calls      int         `json:"calls"`
	Answered   int         `json:"answered"`
	Busy       int         `json:"busy"`
	Cancelled  int         `json:"cancelled"`
	NoAnswer   int         `json:"no_answer"`
	Redirected int         `json:"redirected"`
	Failed     int         `json:"failed"`
	InProgress int         `json:"in_progress"`
	Dropped    int         `json:"dropped"`
	UserReject int         `json:"user_reject"` // failed with a final code a user chose (403, 603, 404, 484)
	DurationMs float64     `json:"duration_ms"` // sum over answered calls
	Codes      map[int]int `json:"codes"`       // final response code → calls
}

// Add counts one call.
func (a *Aggregate) Add(c *Call) {
	a.Calls++
	switch c.State {
	case StateAnswered:
		a.Answered++
		if c.DurationMs != nil {
			a.DurationMs += *c.DurationMs
		}
	case StateBusy:
		a.Busy++
	case StateCancelled:
		a.Cancelled++
	case StateNoAnswer:
		a.NoAnswer++
	case StateRedirected:
		a.Redirected++
	case StateFailed:
		a.Failed++
		switch c.FinalCode {
		case 403, 404, 484, 603:
			a.UserReject++
		}
	default:
		a.InProgress++
	}
	if c.Dropped {
		a.Dropped++
	}
	if c.FinalCode != 0 {
		if a.Codes == nil {
			a.Codes = make(map[int]int)
		}
		a.Codes[c.FinalCode]++
	}
}

// Merge adds o into a.
func (a *Aggregate) Merge(o *Aggregate) {
	a.Calls += o.Calls
	a.Answered += o.Answered
	a.Busy += o.Busy
	a.Cancelled += o.Cancelled
	a.NoAnswer += o.NoAnswer
	a.Redirected += o.Redirected
	a.Failed += o.Failed
	a.InProgress += o.InProgress
	a.Dropped += o.Dropped
	a.UserReject += o.UserReject
	a.DurationMs += o.DurationMs
	for k, v := range o.Codes {
		if a.Codes == nil {
			a.Codes = make(map[int]int)
		}
		a.Codes[k] += v
	}
}

// Attempts are the calls that reached an outcome (in-progress calls are not counted).
func (a *Aggregate) Attempts() int { return a.Calls - a.InProgress }

func pct(n, d int) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) * 100 / float64(d)
}

// ASR is the answer-seizure ratio in percent: answered / attempts.
func (a *Aggregate) ASR() float64 { return pct(a.Answered, a.Attempts()) }

// NER is the network effectiveness ratio in percent (RFC 6076 §4.7 spirit, ITU-T E.425):
// attempts that the network delivered to the user — answered, busy, no answer, cancelled
// by the caller, or rejected by the user — over attempts. Network failures (5xx, 408 from
// the network, unreachable) lower it.
func (a *Aggregate) NER() float64 {
	return pct(a.Answered+a.Busy+a.NoAnswer+a.Cancelled+a.UserReject, a.Attempts())
}

// SCR is the session completion ratio in percent (RFC 6076 §4.9): answered calls that
// ended normally (not dropped) over attempts.
func (a *Aggregate) SCR() float64 { return pct(a.Answered-a.Dropped, a.Attempts()) }

// ACDSeconds is the average call duration of answered calls, in seconds.
func (a *Aggregate) ACDSeconds() float64 {
	if a.Answered == 0 {
		return 0
	}
	return a.DurationMs / 1000 / float64(a.Answered)
}
