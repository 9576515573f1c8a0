package web

import (
	"context"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

// LiveRecords is implemented by a LiveSource that can also hand out a call not stored
// yet with its SIP messages and kept media frames so far: in progress, ended but
// lingering in the correlator, or waiting in the store writer. The record is a snapshot
// shared with other readers (the correlator publishes it and only ever appends beyond
// the slices it handed out), so the caller only reads it. Safe for concurrent use.
//
// With it, GET /api/v1/calls/:id/ladder and /pcap of a call not in the store yet answer
// from the record, like GET /api/v1/calls/:id does from ActiveCalls.
type LiveRecords interface {
	ActiveCall(id string) (*correlate.Record, bool)
}

// liveRecord returns the live record of the call with this id, if the live source has one.
func (s *server) liveRecord(id string) (*correlate.Record, bool) {
	lr, ok := s.live.(LiveRecords)
	if !ok || s.live == nil {
		return nil, false
	}
	return lr.ActiveCall(id)
}

// addLive appends, for each of ids the store has no messages of, the messages of its
// live record (in time order already: the correlator appends them as they come), and
// returns the ids it took from the live source.
func (s *server) addLive(ids []string, msgs []store.Message) ([]store.Message, []string) {
	var live []string
	have := make(map[string]bool, len(ids))
	for i := range msgs {
		have[msgs[i].CallUID] = true
	}
	for _, id := range ids {
		if have[id] {
			continue
		}
		r, ok := s.liveRecord(id)
		if !ok {
			continue
		}
		live = append(live, id)
		// A confirmed call's first messages may be packed in the live view
		// (correlate.Record.AllMessages); one that does not unpack still shows the rest.
		all, _ := r.AllMessages()
		for i := range all {
			msgs = append(msgs, storeMessage(&r.Call, &all[i]))
		}
	}
	return msgs, live
}

// addLiveMedia appends the kept frames of the calls addLive took from the live source.
// A waiting call's frames may be read from the store writer's write-ahead log
// (correlate.FileMediaPack); when that file went meanwhile, the store has the call
// now, so its frames are read from there; so are those of a call the live source no
// longer has (stored since addLive).
func (s *server) addLiveMedia(ctx context.Context, live []string, media []correlate.Frame) ([]correlate.Frame, error) {
	for _, id := range live {
		n := len(media)
		if r, ok := s.liveRecord(id); ok {
			var err error
			if media, err = r.AppendMedia(media); err == nil {
				continue
			}
		}
		stored, serr := s.st.Media(ctx, []string{id})
		if serr != nil {
			return media[:n], serr
		}
		media = append(media[:n], stored...)
	}
	return media, nil
}

// storeMessage renders a correlator message as the store returns it.
func storeMessage(cl *correlate.Call, m *correlate.Message) store.Message {
	return store.Message{
		CallUID: cl.ID, CallID: cl.CallID, TS: correlate.Time(m.TS),
		Src: m.Src.String(), Dst: m.Dst.String(), Transport: m.Transport,
		Request: m.Request, Method: m.Method, Status: m.Status, CSeq: m.CSeq, Retrans: m.Retrans,
		Raw: m.Raw, Frame: m.Frame, LinkType: m.LinkType,
	}
}
