package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/callscope/callscope/internal/testutil"
)

// expectDir holds one hand-reviewed expectation per shared capture (see its README.md).
const expectDir = "../../testdata/expect"

// expectation is one testdata/expect/<capture>.json file. Fields of a call are
// json.RawMessage so that "absent" (unchecked) and null (ended_by: nobody) differ.
type expectation struct {
	Capture       string                       `json:"capture"`
	Checked       string                       `json:"checked"`
	Calls         []map[string]json.RawMessage `json:"calls"`
	OrphanStreams *int                         `json:"orphan_streams"`
}

// expectedFields are the call fields an expectation may state, in the order checked.
var expectedFields = []string{"state", "final_code", "ended_by", "auth_challenges", "streams"}

// knownFields are all keys an expectation call may have.
var knownFields = append([]string{"call_id", "note"}, expectedFields...)

// sharedCaptures lists the capture files of the shared testdata: everything but the
// source notes and the TLS key material beside some captures.
func sharedCaptures(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || n == "SOURCES.md" || strings.HasSuffix(n, ".key") || strings.HasSuffix(n, ".pem") {
			continue
		}
		out = append(out, n)
	}
	return out
}

// TestExpectations analyses every shared capture and compares the calls with the
// expectation file written for it by hand. The expectations were derived from the
// captures with tshark (SIP fields, -z sip,stat, -z rtp,streams) and Wireshark's VoIP
// calls logic, never from callscope's output; each file's "checked" says how. The analyze
// report is read as generic JSON so that a field callscope does not emit yet (e.g.
// auth_challenges) compares as absent/0 and fails where it should.
func TestExpectations(t *testing.T) {
	dir := testutil.SharedTestdata(t)
	captures := sharedCaptures(t, dir)
	if len(captures) < 50 {
		t.Fatalf("only %d captures in %s", len(captures), dir)
	}
	t.Run("no-stale-expectations", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join(expectDir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".json")
			if !slices.Contains(captures, name) {
				t.Errorf("%s: expectation for a capture that does not exist in %s", f, dir)
			}
		}
	})
	for _, name := range captures {
		t.Run(name, func(t *testing.T) {
			exp := readExpectation(t, name)
			rep, err := analyze(t, filepath.Join(dir, name))
			if err != nil {
				t.Logf("%s: file error (report kept): %v", name, err)
			}
			for _, p := range compareExpectation(name, exp, genericReport(t, rep)) {
				t.Error(p)
			}
		})
	}
}

func readExpectation(t *testing.T, name string) expectation {
	t.Helper()
	path := filepath.Join(expectDir, name+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: no expectation file: %v (write %s from the capture, see testdata/expect/README.md)", name, err, path)
	}
	var exp expectation
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&exp); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if exp.Capture != name {
		t.Fatalf("%s: capture %q, want %q", path, exp.Capture, name)
	}
	if strings.TrimSpace(exp.Checked) == "" {
		t.Fatalf("%s: empty \"checked\": say how the expectation was derived", path)
	}
	for i, c := range exp.Calls {
		if _, ok := c["call_id"]; !ok {
			t.Fatalf("%s: calls[%d] has no call_id", path, i)
		}
		for k := range c {
			if !slices.Contains(knownFields, k) {
				t.Fatalf("%s: calls[%d]: unknown field %q", path, i, k)
			}
		}
	}
	return exp
}

// genericReport round-trips the report through JSON into maps, the form a consumer of
// `analyze --json` sees.
func genericReport(t *testing.T, rep *Report) map[string]any {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// callsByID groups the report's calls by call_id, each group in order of start time.
func callsByID(got map[string]any) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	calls, _ := got["calls"].([]any)
	for _, c := range calls {
		m, _ := c.(map[string]any)
		id := str(m["call_id"])
		out[id] = append(out[id], m)
	}
	for _, g := range out {
		// RFC 3339 UTC with fixed microseconds sorts as text; null (unknown) first.
		sort.SliceStable(g, func(i, j int) bool { return str(g[i]["start"]) < str(g[j]["start"]) })
	}
	return out
}

// compareExpectation returns one message per difference between the expectation and the
// generic analyze report, each naming the capture, the call and the field.
func compareExpectation(name string, exp expectation, got map[string]any) []string {
	var probs []string
	byID := callsByID(got)
	want := map[string][]map[string]json.RawMessage{}
	var wantIDs []string
	for _, c := range exp.Calls {
		var id string
		if err := json.Unmarshal(c["call_id"], &id); err != nil {
			return append(probs, fmt.Sprintf("%s: call_id: %v", name, err))
		}
		if _, ok := want[id]; !ok {
			wantIDs = append(wantIDs, id)
		}
		want[id] = append(want[id], c)
	}
	for _, id := range wantIDs {
		if g, w := len(byID[id]), len(want[id]); g != w {
			probs = append(probs, fmt.Sprintf("%s: call %s: reported %d times, expected %d", name, id, g, w))
		}
	}
	var extra []string
	for id, g := range byID {
		if _, ok := want[id]; !ok {
			extra = append(extra, fmt.Sprintf("%s: call %s reported but not expected (x%d, state %s)", name, id, len(g), show(g[0]["state"])))
		}
	}
	sort.Strings(extra)
	probs = append(probs, extra...)
	for _, id := range wantIDs {
		for i, w := range want[id] {
			if i >= len(byID[id]) {
				break
			}
			label := id
			if len(want[id]) > 1 {
				label = fmt.Sprintf("%s [#%d by start]", id, i+1)
			}
			probs = append(probs, compareCall(name, label, w, byID[id][i])...)
		}
	}
	if exp.OrphanStreams != nil {
		orphans, _ := got["orphan_streams"].([]any)
		if len(orphans) != *exp.OrphanStreams {
			probs = append(probs, fmt.Sprintf("%s: orphan_streams: expected %d, got %d", name, *exp.OrphanStreams, len(orphans)))
		}
	}
	return probs
}

func compareCall(name, label string, want map[string]json.RawMessage, got map[string]any) []string {
	var probs []string
	for _, f := range expectedFields {
		raw, ok := want[f]
		if !ok {
			continue
		}
		var w any
		if err := json.Unmarshal(raw, &w); err != nil {
			probs = append(probs, fmt.Sprintf("%s: call %s: expectation field %s: %v", name, label, f, err))
			continue
		}
		g := got[f]
		switch f {
		case "streams":
			ss, _ := got["streams"].([]any)
			g = float64(len(ss))
		case "auth_challenges", "final_code":
			// Absent (or null) counts as 0 on both sides: the report may not carry the
			// field yet, and an expectation may write null for "none".
			if g == nil {
				g = float64(0)
			}
			if w == nil {
				w = float64(0)
			}
		}
		if !jsonEqual(w, g) {
			probs = append(probs, fmt.Sprintf("%s: call %s: %s: expected %s, got %s", name, label, f, show(w), show(g)))
		}
	}
	return probs
}

func jsonEqual(a, b any) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return bytes.Equal(ab, bb)
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCompareExpectation checks the comparison itself on hand-made reports, so that a
// harness bug cannot make TestExpectations pass: every case names the differences it must
// find (substrings), or none.
func TestCompareExpectation(t *testing.T) {
	const exp = `{"capture": "x.pcap", "checked": "by hand", "calls": [
		{"call_id": "a", "state": "answered", "final_code": 200, "ended_by": "caller", "auth_challenges": 1, "streams": 2},
		{"call_id": "b", "state": "failed", "final_code": 404, "ended_by": null},
		{"call_id": "b", "state": "answered"},
		{"call_id": "c", "note": "only counted"}
	], "orphan_streams": 1}`
	good := `{"calls": [
		{"call_id": "b", "start": "2020-01-01T00:00:02.000000Z", "state": "answered", "final_code": 200, "ended_by": "callee"},
		{"call_id": "a", "start": "2020-01-01T00:00:00.000000Z", "state": "answered", "final_code": 200, "ended_by": "caller", "auth_challenges": 1, "streams": [{}, {}]},
		{"call_id": "b", "start": "2020-01-01T00:00:01.000000Z", "state": "failed", "final_code": 404, "ended_by": null},
		{"call_id": "c", "start": null, "state": "failed", "final_code": 500}
	], "orphan_streams": [{}]}`
	cases := []struct {
		name   string
		report string
		want   []string
	}{
		{"match", good, nil},
		{"auth_challenges absent in the report counts as 0",
			strings.Replace(good, `, "auth_challenges": 1`, ``, 1),
			[]string{"call a: auth_challenges: expected 1, got 0"}},
		{"ended_by null is checked",
			strings.Replace(good, `"final_code": 404, "ended_by": null`, `"final_code": 404, "ended_by": "caller"`, 1),
			[]string{`call b [#1 by start]: ended_by: expected null, got "caller"`}},
		{"streams compare by count",
			strings.Replace(good, `"streams": [{}, {}]`, `"streams": [{}]`, 1),
			[]string{"call a: streams: expected 2, got 1"}},
		{"split call",
			strings.Replace(good, `{"call_id": "c", "start": null`, `{"call_id": "a", "start": "2020-01-01T00:00:09.000000Z"}, {"call_id": "c", "start": null`, 1),
			[]string{"call a: reported 2 times, expected 1"}},
		{"missing and extra calls",
			strings.Replace(good, `"call_id": "c"`, `"call_id": "d"`, 1),
			[]string{"call c: reported 0 times, expected 1", `call d reported but not expected (x1, state "failed")`}},
		{"orphans",
			strings.Replace(good, `"orphan_streams": [{}]`, `"orphan_streams": []`, 1),
			[]string{"orphan_streams: expected 1, got 0"}},
		{"state and final code",
			strings.Replace(good, `"state": "answered", "final_code": 200, "ended_by": "caller"`, `"state": "failed", "final_code": 401, "ended_by": "caller"`, 1),
			[]string{`call a: state: expected "answered", got "failed"`, "call a: final_code: expected 200, got 401"}},
	}
	var e expectation
	if err := json.Unmarshal([]byte(exp), &e); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got map[string]any
			if err := json.Unmarshal([]byte(tc.report), &got); err != nil {
				t.Fatal(err)
			}
			probs := compareExpectation("x.pcap", e, got)
			if len(probs) != len(tc.want) {
				t.Fatalf("got %d differences %q, want %d %q", len(probs), probs, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(probs[i], w) {
					t.Errorf("difference %d: %q does not contain %q", i, probs[i], w)
				}
			}
		})
	}
}
