package alert

import (
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

func call(peer string, t int, state string, code int) correlate.Call {
	ts := correlate.Time(time.Unix(1_700_000_000, 0).Add(time.Duration(t) * time.Second).UnixNano())
	return correlate.Call{Peer: peer, State: correlate.State(state), FinalCode: code, Start: ts - 1, End: ts}
}

func sec(t int) correlate.Time {
	return correlate.Time(time.Unix(1_700_000_000, 0).Add(time.Duration(t) * time.Second).UnixNano())
}

// TestEngineASR feeds peer "bad" one call every 5 s: answered up to t=60, failed (503)
// from 65 to 180, answered again from 185 to 300; peer "good" gets an answered call at
// the same times. The rule: ASR below 50 % over 60 s, min 4 calls, for 20 s,
// hysteresis 10, evaluated every 10 s. Worked by hand (window (b-60, b], 12 calls):
//   - b=90: failed 65..90 = 6 of 12, ASR 50 % — not below 50;
//   - b=100: failed 65..100 = 8, ASR 33.3 % → pending since 100;
//   - b=120: 20 s pending → firing (ASR 0 %);
//   - b=210: failed 155..180 = 6, answered 185..210 = 6, ASR 50 % — not below 50 but not
//     back above 50+10 either, so it stays firing (hysteresis);
//   - b=220: answered 185..220 = 8 of 12, ASR 66.7 % ≥ 60 → resolved.
func TestEngineASR(t *testing.T) {
	cfg := Config{EvalInterval: Duration(10 * time.Second), Rules: []Rule{{
		Name: "ASRLow", Metric: MetricASR, Op: "below", Threshold: 50, Window: Duration(time.Minute),
		PerPeer: true, MinCalls: 4, For: Duration(20 * time.Second), Hysteresis: 10, Severity: "critical",
	}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var got []store.AlertEvent
	e := New(cfg, nil, func(ev store.AlertEvent) { got = append(got, ev) })
	for ts := 5; ts <= 300; ts += 5 {
		state, code := "answered", 200
		if ts > 60 && ts <= 180 {
			state, code = "failed", 503
		}
		c := call("bad", ts, state, code)
		e.Observe(&c)
		g := call("good", ts, "answered", 200)
		e.Observe(&g)
		if ts == 150 {
			act := e.Active()
			if len(act) != 1 || act[0].State != "firing" || act[0].Peer != "bad" || act[0].Value != 0 {
				t.Errorf("Active at 150 = %+v, want bad firing at 0 %%", act)
			}
		}
	}
	e.Flush(int64(sec(300)))
	want := []struct {
		state string
		at    int
		value float64
	}{{"pending", 100, 33.333}, {"firing", 120, 0}, {"resolved", 220, 66.667}}
	if len(got) != len(want) {
		t.Fatalf("changes = %+v, want %v", got, want)
	}
	for i, w := range want {
		ev := got[i]
		if ev.State != w.state || ev.At != sec(w.at) || ev.Value != w.value || ev.Peer != "bad" || ev.Calls != 12 {
			t.Errorf("change %d = %s at %v value %v peer %s calls %d, want %s at t=%d value %v", i, ev.State,
				ev.At, ev.Value, ev.Peer, ev.Calls, w.state, w.at, w.value)
		}
		if ev.Since != sec(100) {
			t.Errorf("change %d since %v, want t=100", i, ev.Since)
		}
	}
	if len(e.Active()) != 0 {
		t.Errorf("active after recovery: %+v", e.Active())
	}
	if h := e.History(); len(h) != 3 {
		t.Errorf("history %d entries", len(h))
	}
}

// TestEnginePendingCancelled: a breach shorter than `for` goes pending, then inactive.
func TestEnginePendingCancelled(t *testing.T) {
	cfg := Config{EvalInterval: Duration(10 * time.Second), Rules: []Rule{{
		Name: "ErrBurst", Metric: MetricServerError, Op: "above", Threshold: 20, Window: Duration(20 * time.Second),
		MinCalls: 2, For: Duration(time.Minute), Severity: "warning",
	}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var got []string
	e := New(cfg, nil, func(ev store.AlertEvent) { got = append(got, ev.State) })
	// Calls at 5..100 every 5 s; 503 at 25 and 30 only. Window (b-20, b]: at b=30 holds
	// 15..30 with two 503 of 4 → 50 % > 20 → pending; at b=50 holds 35..50, none → inactive.
	for ts := 5; ts <= 100; ts += 5 {
		st, code := "answered", 200
		if ts == 25 || ts == 30 {
			st, code = "failed", 503
		}
		c := call("", ts, st, code)
		e.Observe(&c)
	}
	if len(got) != 2 || got[0] != "pending" || got[1] != "inactive" {
		t.Errorf("changes %v, want [pending inactive]", got)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := Config{Rules: []Rule{{Name: "x y", Metric: "nope", Op: "under", Severity: "loud"}}}
	if err := bad.Validate(); err == nil {
		t.Error("accepted a bad rule")
	}
	var def Config
	if err := def.Validate(); err != nil || len(def.Rules) != len(DefaultRules()) {
		t.Errorf("defaults: %v, %d rules", err, len(def.Rules))
	}
}
