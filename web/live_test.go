package web

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/callscope/callscope/correlate"
	"github.com/prometheus/client_golang/prometheus"
)

// waitingCall is a live source holding one call that waits for the store, as serve's
// unstored calls hold it once the writer's WAL has its frames: the SIP messages in
// memory, the frames in a file (correlate.FileMediaPack).
type waitingCall struct{ rec *correlate.Record }

func (w waitingCall) ActiveCalls() []correlate.Call { return []correlate.Call{w.rec.Call} }

func (w waitingCall) ActiveCall(id string) (*correlate.Record, bool) {
	return w.rec, id == w.rec.Call.ID
}

// storedMeanwhile answers for its call once (addLive takes the messages), then no
// longer: the store took the call before the frames were asked for.
type storedMeanwhile struct {
	rec   *correlate.Record
	asked *int
}

func (w storedMeanwhile) ActiveCalls() []correlate.Call { return nil }

func (w storedMeanwhile) ActiveCall(id string) (*correlate.Record, bool) {
	*w.asked++
	return w.rec, id == w.rec.Call.ID && *w.asked == 1
}

// TestPcapWaitingCallFramesGone: the pcap of a call still waiting for the store whose
// frames file went (the WAL entry was done: the store has the call now) carries the
// frames read from the store, not the SIP alone. The store is given the call's frames
// but not its messages, so the messages come from the live record as they do while a
// call waits; the expected count is the record's own SIP frames plus its media frames.
// The same holds when the live source no longer has the call by the time its frames are
// read (stored between the two).
func TestPcapWaitingCallFramesGone(t *testing.T) {
	ds := testData(t)
	r := findRec(t, ds, func(r *correlate.Record) bool { return len(r.Messages) > 3 && r.MediaCount() > 0 })
	st := openDuck(t)
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	stored := *r
	stored.Messages = nil
	if err := st.WriteCalls(ctx, []*correlate.Record{&stored}); err != nil {
		t.Fatal(err)
	}
	waiting := *r
	waiting.Media = nil
	waiting.Pack = correlate.FileMediaPack(r.MediaCount(), filepath.Join(t.TempDir(), "wal-gone.log"), 0, 1000)
	want, err := r.AppendMedia(nil)
	if err != nil {
		t.Fatal(err)
	}
	var asked int
	for name, live := range map[string]LiveSource{
		"frames file gone":        waitingCall{&waiting},
		"call gone from the live": storedMeanwhile{&waiting, &asked},
	} {
		t.Run(name, func(t *testing.T) {
			c := &client{t: t, h: New(Config{KeepRTP: "headers"}, st, live, prometheus.NewRegistry())}
			rec := c.do("GET", "/api/v1/calls/"+r.Call.ID+"/pcap", nil)
			if rec.Code != 200 {
				t.Fatalf("pcap: %d %s", rec.Code, rec.Body.String())
			}
			frames := readPcap(t, rec.Body.Bytes())
			have := map[string]int{}
			for _, f := range frames {
				have[string(f)]++
			}
			for i, f := range want {
				if have[string(f.Data)] == 0 {
					t.Fatalf("media frame %d not in the pcap", i)
				}
			}
			if len(frames) != uniqueFrames(r.Messages)+r.MediaCount() {
				t.Fatalf("pcap has %d frames, want %d SIP + %d media", len(frames), uniqueFrames(r.Messages), r.MediaCount())
			}
		})
	}
	if asked != 2 {
		t.Errorf("the live source was asked %d times for the call gone from it, want 2 (messages, then frames)", asked)
	}
}
