package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/internal/chtest"
	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/clickhouse"
	"github.com/callscope/callscope/store/duckdb"
	"github.com/callscope/callscope/store/storetest"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
)

var (
	dataOnce sync.Once
	dataSet  storetest.Dataset
)

// testData is the pipeline's output over the generator catalogue and the SIPp demo.
func testData(t *testing.T) storetest.Dataset {
	dataOnce.Do(func() { dataSet = storetest.Data(t) })
	if len(dataSet.Records) == 0 {
		t.Fatal("no test data")
	}
	return dataSet
}

func fill(t *testing.T, st store.Store, ds storetest.Dataset) {
	t.Helper()
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteCalls(ctx, ds.Records); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteRegistrations(ctx, ds.Registrations); err != nil {
		t.Fatal(err)
	}
}

func openDuck(t *testing.T) store.Store {
	st, err := duckdb.Open(filepath.Join(t.TempDir(), "t.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openClickHouse(t *testing.T) store.Store {
	addr, _ := chtest.Start(t)
	st, err := clickhouse.Open(context.Background(), "clickhouse://default@"+addr+"/callscope_web")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// engines are the real stores the API is tested against.
var engines = []struct {
	name string
	open func(t *testing.T) store.Store
}{{"duckdb", openDuck}, {"clickhouse", openClickHouse}}

type client struct {
	t    *testing.T
	h    http.Handler
	auth func(*http.Request)
}

func (c *client) do(method, path string, body io.Reader) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, body)
	if c.auth != nil {
		c.auth(req)
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	return rec
}

func (c *client) getJSON(path string, want int, v any) *httptest.ResponseRecorder {
	c.t.Helper()
	rec := c.do("GET", path, nil)
	if rec.Code != want {
		c.t.Fatalf("GET %s: status %d, want %d: %s", path, rec.Code, want, rec.Body.String())
	}
	if v != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			c.t.Fatalf("GET %s: %v: %s", path, err, rec.Body.String())
		}
	}
	return rec
}

// norm round-trips v through JSON into generic values, for comparing documents.
func norm(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func findRec(t *testing.T, ds storetest.Dataset, pred func(*correlate.Record) bool) *correlate.Record {
	for _, r := range ds.Records {
		if pred(r) {
			return r
		}
	}
	t.Fatal("no such record in the test data")
	return nil
}

func TestAPI(t *testing.T) {
	ds := testData(t)
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			st := e.open(t)
			fill(t, st, ds)
			testAPI(t, st, ds)
		})
	}
}

func testAPI(t *testing.T, st store.Store, ds storetest.Dataset) {
	reg := prometheus.NewRegistry()
	c := &client{t: t, h: New(Config{KeepRTP: "headers"}, st, nil, reg)}

	t.Run("search pages cover every call once", func(t *testing.T) {
		seen := map[string]bool{}
		next := ""
		for pages := 0; ; pages++ {
			var page searchResponse
			c.getJSON("/api/v1/calls?limit=17&cursor="+url.QueryEscape(next), 200, &page)
			for _, cl := range page.Calls {
				if seen[cl.ID] {
					t.Fatalf("call %s on two pages", cl.ID)
				}
				seen[cl.ID] = true
			}
			if next = page.Next; next == "" {
				break
			}
			if pages > 1000 {
				t.Fatal("pagination does not end")
			}
		}
		if len(seen) != len(ds.Records) {
			t.Fatalf("search found %d calls, stored %d", len(seen), len(ds.Records))
		}
	})

	t.Run("filters", func(t *testing.T) {
		r := ds.Records[len(ds.Records)-1]
		var page searchResponse
		c.getJSON("/api/v1/calls?call_id="+url.QueryEscape(r.Call.CallID), 200, &page)
		if len(page.Calls) == 0 || page.Calls[0].CallID != r.Call.CallID {
			t.Fatalf("call_id filter: %+v", page.Calls)
		}
		want := 0
		for _, x := range ds.Records {
			if x.Call.State == "busy" {
				want++
			}
		}
		c.getJSON("/api/v1/calls?state=busy&limit=1000", 200, &page)
		if len(page.Calls) != want || want == 0 {
			t.Fatalf("state=busy: %d calls, want %d", len(page.Calls), want)
		}
		for _, cl := range page.Calls {
			if cl.State != "busy" {
				t.Fatalf("state filter returned %s", cl.State)
			}
		}
		c.getJSON("/api/v1/calls?dropped=true&sort=duration&desc=false&limit=1000", 200, &page)
		for i, cl := range page.Calls {
			if !cl.Dropped {
				t.Fatalf("dropped filter returned a call not dropped")
			}
			if i > 0 && dur(page.Calls[i-1]) > dur(cl) {
				t.Fatalf("sort=duration ascending out of order at %d", i)
			}
		}
		from := time.Unix(0, int64(r.Call.Start)).UTC()
		c.getJSON("/api/v1/calls?from="+from.Format(time.RFC3339Nano)+"&to="+from.Add(time.Nanosecond).Format(time.RFC3339Nano), 200, &page)
		found := false
		for _, cl := range page.Calls {
			found = found || cl.ID == r.Call.ID
		}
		if !found {
			t.Fatal("from/to range holding the start does not find the call")
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		for _, q := range []string{"from=yesterday", "limit=0", "limit=5000", "state=happy", "code=abc",
			"dropped=maybe", "mos_below=-1", "sort=colour", "cursor=%21%21", "ip=not-an-ip"} {
			rec := c.do("GET", "/api/v1/calls?"+q, nil)
			if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"error"`) {
				t.Errorf("%s: status %d %s, want 400 with an error", q, rec.Code, rec.Body.String())
			}
		}
		c.getJSON("/api/v1/calls/0000000000000000", 404, nil)
		c.getJSON("/api/v1/stats?step=0s", 400, nil)
		c.getJSON("/api/v1/top?by=planet", 400, nil)
	})

	t.Run("call equals analyze json", func(t *testing.T) {
		for _, r := range ds.Records[len(ds.Records)-4:] {
			var got any
			c.getJSON("/api/v1/calls/"+r.Call.ID, 200, &got)
			if diff := jsonDiff(norm(t, r.Call), got, ""); diff != "" {
				t.Fatalf("call %s differs from the pipeline's: %s", r.Call.CallID, diff)
			}
		}
	})

	t.Run("ladder", func(t *testing.T) {
		r := findRec(t, ds, func(r *correlate.Record) bool { return r.Call.State == "answered" && len(r.Call.Streams) > 0 })
		var lad Ladder
		c.getJSON("/api/v1/calls/"+r.Call.ID+"/ladder", 200, &lad)
		if len(lad.Messages) != len(r.Messages) || len(lad.Messages) == 0 {
			t.Fatalf("ladder has %d messages, call has %d", len(lad.Messages), len(r.Messages))
		}
		if lad.Hosts[0] != r.Call.Caller {
			t.Errorf("first column %s, want the caller %s", lad.Hosts[0], r.Call.Caller)
		}
		if lad.Messages[0].Label != "INVITE" || lad.Messages[0].SDP == "" || !strings.HasPrefix(lad.Messages[0].Raw, "INVITE ") {
			t.Errorf("first message: %q sdp=%q", lad.Messages[0].Label, lad.Messages[0].SDP)
		}
		sawOK := false
		for i, m := range lad.Messages {
			sawOK = sawOK || strings.HasPrefix(m.Label, "200 ")
			if m.Raw != string(r.Messages[i].Raw) {
				t.Fatalf("message %d raw differs", i)
			}
			if lad.Hosts[m.FromCol] != r.Messages[i].Src.String() || lad.Hosts[m.ToCol] != r.Messages[i].Dst.String() {
				t.Fatalf("message %d columns %s→%s, want %s→%s", i, lad.Hosts[m.FromCol], lad.Hosts[m.ToCol], r.Messages[i].Src, r.Messages[i].Dst)
			}
			if i > 0 && m.DeltaMs < 0 {
				t.Fatalf("negative delta")
			}
		}
		if !sawOK {
			t.Error("no 200 OK label in an answered call")
		}
	})

	t.Run("linked ladder and pcap", func(t *testing.T) {
		r := findRec(t, ds, func(r *correlate.Record) bool { return len(r.Call.LinkedCallIDs) > 0 })
		other := findRec(t, ds, func(x *correlate.Record) bool { return x.Call.CallID == r.Call.LinkedCallIDs[0] })
		var one, both Ladder
		c.getJSON("/api/v1/calls/"+r.Call.ID+"/ladder", 200, &one)
		c.getJSON("/api/v1/calls/"+r.Call.ID+"/ladder?linked=1", 200, &both)
		if len(both.Calls) != 2 || len(both.Messages) != len(r.Messages)+len(other.Messages) {
			t.Fatalf("linked ladder: %d calls, %d messages; want 2 calls, %d messages", len(both.Calls), len(both.Messages), len(r.Messages)+len(other.Messages))
		}
		if len(one.Messages) != len(r.Messages) {
			t.Fatalf("unlinked ladder: %d messages, want %d", len(one.Messages), len(r.Messages))
		}
		n := countPcap(t, c.do("GET", "/api/v1/calls/"+r.Call.ID+"/pcap?linked=1", nil))
		if n < len(both.Messages) {
			t.Fatalf("linked pcap has %d packets, want at least the %d SIP messages", n, len(both.Messages))
		}
	})

	t.Run("pcap holds the SIP frames as captured", func(t *testing.T) {
		r := findRec(t, ds, func(r *correlate.Record) bool { return len(r.Messages) > 3 && len(r.Call.Streams) > 0 })
		rec := c.do("GET", "/api/v1/calls/"+r.Call.ID+"/pcap", nil)
		if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Disposition"), "attachment") {
			t.Fatalf("pcap: %d %v", rec.Code, rec.Header())
		}
		frames := readPcap(t, rec.Body.Bytes())
		have := map[string]int{}
		for _, f := range frames {
			have[string(f)]++
		}
		for i, m := range r.Messages {
			if have[string(m.Frame)] == 0 {
				t.Fatalf("SIP message %d (%s) frame not in the pcap", i, m.Method)
			}
		}
		if len(frames) != uniqueFrames(r.Messages)+r.MediaCount() {
			t.Fatalf("pcap has %d frames, want %d SIP + %d media", len(frames), uniqueFrames(r.Messages), r.MediaCount())
		}
	})

	t.Run("stats top registrations", func(t *testing.T) {
		from, to := timeSpan(ds)
		rng := "from=" + from.Format(time.RFC3339Nano) + "&to=" + to.Format(time.RFC3339Nano)
		var stats struct {
			store.Stats
			StepS float64 `json:"step_s"`
		}
		c.getJSON("/api/v1/stats?"+rng+"&step=1h", 200, &stats)
		if stats.Total.Calls != len(ds.Records) {
			t.Fatalf("stats counts %d calls, stored %d", stats.Total.Calls, len(ds.Records))
		}
		sum := 0
		for _, b := range stats.Buckets {
			sum += b.Agg.Calls
		}
		if sum != len(ds.Records) || stats.StepS < 3600 {
			t.Fatalf("buckets sum to %d calls (step %v s), want %d", sum, stats.StepS, len(ds.Records))
		}
		var top struct{ Rows []store.TopRow }
		c.getJSON("/api/v1/top?"+rng+"&by=peer&metric=asr&n=3", 200, &top)
		if len(top.Rows) == 0 || len(top.Rows) > 3 {
			t.Fatalf("top: %d rows", len(top.Rows))
		}
		var regs struct{ Registrations []correlate.Registration }
		c.getJSON("/api/v1/registrations?limit=1000", 200, &regs)
		if len(regs.Registrations) != len(ds.Registrations) || len(regs.Registrations) == 0 {
			t.Fatalf("registrations: %d, want %d", len(regs.Registrations), len(ds.Registrations))
		}
	})

	t.Run("health, metrics, headers, assets", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz", "/", "/assets/app.js", "/assets/app.css"} {
			rec := c.do("GET", p, nil)
			if rec.Code != 200 {
				t.Fatalf("%s: %d", p, rec.Code)
			}
			h := rec.Header()
			if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") || h.Get("X-Frame-Options") != "DENY" ||
				h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
				t.Fatalf("%s: security headers missing: %v", p, h)
			}
		}
		body := c.do("GET", "/metrics", nil).Body.String()
		if !strings.Contains(body, `callscope_web_requests_total{code="200",route="/healthz"}`) {
			t.Fatalf("metrics lack request counts:\n%.2000s", body)
		}
		if b := c.do("GET", "/", nil).Body.String(); strings.Contains(b, "http://") || strings.Contains(b, "https://") {
			t.Fatal("the dashboard references an external URL")
		}
	})

	// Last, as it stores two more calls: legs two probes stored without linking them
	// (each saw one leg) are linked by their shared icid-value when read.
	t.Run("legs linked across probes by link keys", func(t *testing.T) {
		start := time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC).UnixNano()
		mk := func(id, callID string, at int64, keys ...string) *correlate.Record {
			return &correlate.Record{Call: correlate.Call{ID: id, CallID: callID, Start: correlate.Time(at), State: "answered",
				LinkedCallIDs: []string{}, UserAgents: []string{}}, LinkKeys: append([]string{"cid:" + callID}, keys...)}
		}
		recs := []*correlate.Record{
			mk("probe1-leg", "in-leg@sbc", start, "icid:x-9f2"),
			mk("probe2-leg", "out-leg@core", start+300e6, "icid:x-9f2"),
			mk("probe2-late", "late@core", start+int64(store.LegWindow)+1e9, "icid:x-9f2"), // outside the window
		}
		if err := st.WriteCalls(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		var got correlate.Call
		c.getJSON("/api/v1/calls/probe1-leg", 200, &got)
		if strings.Join(got.LinkedCallIDs, ",") != "out-leg@core" {
			t.Fatalf("probe1-leg linked to %v, want [out-leg@core]", got.LinkedCallIDs)
		}
		var lad Ladder
		c.getJSON("/api/v1/calls/probe2-leg/ladder?linked=1", 200, &lad)
		if len(lad.Calls) != 2 || lad.Calls[1].ID != "probe1-leg" {
			t.Fatalf("linked ladder of probe2-leg: %+v", lad.Calls)
		}
	})
}

func dur(c correlate.Call) float64 {
	if c.DurationMs == nil {
		return -1
	}
	return *c.DurationMs
}

func timeSpan(ds storetest.Dataset) (from, to time.Time) {
	lo, hi := int64(1<<62), int64(0)
	for _, r := range ds.Records {
		lo, hi = min(lo, int64(r.Call.Start)), max(hi, int64(r.Call.Start))
	}
	return time.Unix(0, lo).UTC().Truncate(time.Hour), time.Unix(0, hi).UTC().Add(time.Hour).Truncate(time.Hour)
}

func uniqueFrames(ms []correlate.Message) int {
	seen := map[string]bool{}
	for _, m := range ms {
		seen[string(m.Frame)+"@"+itoa(int(m.TS))] = true
	}
	return len(seen)
}

func readPcap(t *testing.T, b []byte) [][]byte {
	t.Helper()
	fr, err := capture.NewFileReader(bytes.NewReader(b), "export")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	var p capture.Packet
	for {
		err := fr.Next(&p)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("exported pcap unreadable: %v", err)
		}
		out = append(out, bytes.Clone(p.Data))
	}
}

func countPcap(t *testing.T, rec *httptest.ResponseRecorder) int {
	t.Helper()
	if rec.Code != 200 {
		t.Fatalf("pcap: %d %s", rec.Code, rec.Body.String())
	}
	return len(readPcap(t, rec.Body.Bytes()))
}

// jsonDiff names the first difference between two generic JSON values.
func jsonDiff(a, b any, path string) string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return path + ": not an object"
		}
		for k := range av {
			if _, ok := bv[k]; !ok {
				return path + "." + k + ": missing"
			}
			if d := jsonDiff(av[k], bv[k], path+"."+k); d != "" {
				return d
			}
		}
		for k := range bv {
			if _, ok := av[k]; !ok {
				return path + "." + k + ": unexpected"
			}
		}
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return path + ": arrays differ in length"
		}
		for i := range av {
			if d := jsonDiff(av[i], bv[i], path+"["+itoa(i)+"]"); d != "" {
				return d
			}
		}
	case float64:
		bv, ok := b.(float64)
		if !ok || (av != bv && (av-bv > 1e-9*max(1, av) || bv-av > 1e-9*max(1, av))) {
			return path + ": " + jsonString(a) + " vs " + jsonString(b)
		}
	default:
		if jsonString(a) != jsonString(b) {
			return path + ": " + jsonString(a) + " vs " + jsonString(b)
		}
	}
	return ""
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestAuth(t *testing.T) {
	st := openDuck(t)
	ds, err := storetest.Analyze(context.Background(), []string{demoPath(t)})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, st, ds)
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := Config{
		RequireLogin: true,
		Users:        []User{{Name: "alice", PasswordHash: string(hash), Role: RoleAdmin}, {Name: "bob", PasswordHash: string(hash), Role: RoleViewerMasked}},
		Tokens:       []Token{{Name: "ci", SHA256: HashToken("tok-123"), Role: RoleViewer}, {Name: "masked", SHA256: HashToken("tok-m"), Role: RoleViewerMasked}},
		SessionTTL:   time.Hour,
		Now:          func() time.Time { return now },
	}
	h := New(cfg, st, nil, prometheus.NewRegistry())
	anon := &client{t: t, h: h}
	id := ds.Records[0].Call.ID

	if rec := anon.do("GET", "/api/v1/calls", nil); rec.Code != 401 {
		t.Fatalf("anonymous API: %d", rec.Code)
	}
	if rec := anon.do("GET", "/", nil); rec.Code != 303 || rec.Header().Get("Location") != "/login" {
		t.Fatalf("anonymous page: %d %v", rec.Code, rec.Header())
	}
	for _, p := range []string{"/healthz", "/readyz", "/login"} {
		if rec := anon.do("GET", p, nil); rec.Code != 200 {
			t.Fatalf("%s without login: %d", p, rec.Code)
		}
	}
	if rec := anon.do("GET", "/metrics", nil); rec.Code != 401 {
		t.Fatalf("metrics without login: %d", rec.Code)
	}

	login := func(user, pass string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"user": {user}, "password": {pass}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, bad := range [][2]string{{"alice", "wrong"}, {"mallory", "s3cret"}, {"", ""}} {
		rec := login(bad[0], bad[1])
		if len(rec.Result().Cookies()) != 0 || (rec.Code != 303 && rec.Code != 400) || rec.Header().Get("Location") == "/" {
			t.Fatalf("bad login %v: %d %v", bad, rec.Code, rec.Header())
		}
	}
	rec := login("alice", "s3cret")
	cookies := rec.Result().Cookies()
	if rec.Code != 303 || len(cookies) != 1 {
		t.Fatalf("login: %d %v", rec.Code, cookies)
	}
	ck := cookies[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie attributes: %+v", ck)
	}
	withCookie := func(v string) *client {
		return &client{t: t, h: h, auth: func(r *http.Request) { r.AddCookie(&http.Cookie{Name: ck.Name, Value: v}) }}
	}
	withCookie(ck.Value).getJSON("/api/v1/calls/"+id, 200, nil)
	if rec := withCookie(ck.Value).do("GET", "/", nil); rec.Code != 200 {
		t.Fatalf("page with session: %d", rec.Code)
	}
	tampered := strings.Replace(ck.Value, ".", "x.", 1)
	withCookie(tampered).getJSON("/api/v1/calls", 401, nil)
	// A cookie claiming another role with alice's signature fails.
	forged := base64URL("alice\x00admin\x00"+itoa(int(now.Add(time.Hour).Unix()))) + "." + strings.SplitN(ck.Value, ".", 2)[1] + "A"
	withCookie(forged).getJSON("/api/v1/calls", 401, nil)

	bearer := func(tok string) *client {
		return &client{t: t, h: h, auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }}
	}
	var call correlate.Call
	bearer("tok-123").getJSON("/api/v1/calls/"+id, 200, &call)
	if call.ToUser != ds.Records[0].Call.ToUser || call.ToUser == "" {
		t.Fatalf("viewer sees %q, want unmasked %q", call.ToUser, ds.Records[0].Call.ToUser)
	}
	bearer("tok-999").getJSON("/api/v1/calls", 401, nil)

	// Masked viewers: numbers hidden everywhere, no pcap.
	var masked correlate.Call
	bearer("tok-m").getJSON("/api/v1/calls/"+id, 200, &masked)
	if want := maskDigits(call.ToUser); masked.ToUser != want || masked.ToUser == call.ToUser {
		t.Fatalf("masked to_user %q, want %q", masked.ToUser, want)
	}
	var lad Ladder
	bearer("tok-m").getJSON("/api/v1/calls/"+id+"/ladder", 200, &lad)
	if !strings.Contains(string(ds.Records[0].Messages[0].Raw), "sip:"+call.ToUser+"@") ||
		strings.Contains(lad.Messages[0].Raw, "sip:"+call.ToUser+"@") {
		t.Fatalf("masked ladder shows the number %s", call.ToUser)
	}
	bearer("tok-m").getJSON("/api/v1/calls/"+id+"/pcap", 403, nil)
	bearer("tok-m").getJSON("/api/v1/calls/pcap?max_calls=5", 403, nil)
	bearer("tok-123").getJSON("/api/v1/calls/pcap?max_calls=101", 400, nil) // over the cap
	var me identity
	bearer("tok-m").getJSON("/api/v1/me", 200, &me)
	if !me.Masked || me.Role != RoleViewerMasked {
		t.Fatalf("me: %+v", me)
	}

	// Sessions expire.
	now = now.Add(2 * time.Hour)
	withCookie(ck.Value).getJSON("/api/v1/calls", 401, nil)
}

func base64URL(s string) string {
	return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(b64(s)), "=")
}

func demoPath(t *testing.T) string {
	return filepath.Join("..", "testdata", "demo", "sipp-calls.pcap")
}

func TestMask(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"5551234", "xxxxx34"},
		{"12", "12"},
		{"alice", "alice"},
		{"<sip:+4930123456@example.com;user=phone>", "<sip:+xxxxxxxx56@example.com;user=phone>"},
		{`"Bob 5551234" <sip:5551234@10.0.0.1:5060>`, `"Bob xxxxx34" <sip:xxxxx34@10.0.0.1:5060>`},
		{"sip:10.0.0.1:5060", "sip:10.0.0.1:5060"},
		{"tel:+15551234567;phone-context=x", "tel:+xxxxxxxxx67;phone-context=x"},
		{"From: <SIP:0049301234@h>;tag=1\r\n", "From: <SIP:xxxxxxxx34@h>;tag=1\r\n"},
	} {
		got := tc.in
		if strings.Contains(tc.in, ":") || strings.Contains(tc.in, `"`) {
			got = maskText(tc.in)
		} else {
			got = maskDigits(tc.in)
		}
		if got != tc.want {
			t.Errorf("mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
