package clickhouse

// Media frames: one media_segments row per call holding its frames as one compressed
// segment (store.FrameCodec), inserted in the batch's block, instead of one
// media_frames row per packet. The row shares the call's day partition, so retention
// drops it with the call; ReplacingMergeTree(ver) and FINAL make a rewritten call's
// row replace the old one. Calls stored before migration 8 keep their media_frames
// rows, still read by Media.

import (
	"context"
	"fmt"
	"sort"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

var mediaSegments = table{
	name:      "media_segments",
	columns:   `call_uid String, call_start DateTime('UTC'), frames UInt32, data String, ver UInt64`,
	partition: "toYYYYMMDD(call_start)",
	order:     "call_uid",
	shardKey:  "cityHash64(call_uid)",
}

// writeFrames inserts the media_segments rows of recs: a call's segment from segOf when
// the writer handed one over (read from its file if it lies in one), else encoded here.
func (s *Store) writeFrames(ctx context.Context, recs []*correlate.Record, segOf map[*correlate.Record]store.Segment, ver uint64) error {
	var (
		uid, data []string
		callStart []int64
		frames    []uint32
		vers      []uint64
		scratch   []byte
		files     store.SegmentFiles
	)
	defer files.Close()
	for _, r := range recs {
		if r.MediaCount() == 0 {
			continue
		}
		var seg []byte
		if sg, ok := segOf[r]; ok {
			var err error
			if seg, err = files.Bytes(sg); err != nil {
				return fmt.Errorf("clickhouse: frame segment of %s: %w", r.Call.ID, err)
			}
		} else {
			seg, scratch = s.codec.EncodeRecord(nil, scratch, r)
		}
		cs, _ := split(int64(r.Call.Start))
		uid, callStart, frames = append(uid, callUID(&r.Call)), append(callStart, cs), append(frames, uint32(r.MediaCount()))
		data, vers = append(data, view(seg)), append(vers, ver)
	}
	if len(uid) == 0 {
		return nil
	}
	return s.insert(ctx, "media_segments", []string{"call_uid", "call_start", "frames", "data", "ver"},
		uid, callStart, frames, data, vers)
}

// Media returns the kept RTP/RTCP frames of the calls, in time order (frames of equal
// time: by call id, then as kept). It reads only these calls' segments.
func (s *Store) Media(ctx context.Context, ids []string) ([]correlate.Frame, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	secs, err := s.locate(ctx, ids)
	if err != nil || len(secs) == 0 {
		return nil, err
	}
	where := startsIn("call_start", secs) + ` AND call_uid IN (` + inList(ids) + `)`
	rows, err := s.conn.Query(ctx, `SELECT call_uid, data FROM media_segments FINAL WHERE `+where+` ORDER BY call_uid`)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: media: %w", err)
	}
	var out []correlate.Frame
	for rows.Next() {
		var uid, data string
		if err := rows.Scan(&uid, &data); err != nil {
			rows.Close()
			return nil, fmt.Errorf("clickhouse: scan segment: %w", err)
		}
		if out, err = s.codec.Decode(out, []byte(data)); err != nil {
			rows.Close()
			return nil, fmt.Errorf("clickhouse: media of %s: %w", uid, err)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: media: %w", err)
	}
	legacy, err := s.legacyMedia(ctx, where)
	if err != nil {
		return nil, err
	}
	out = append(out, legacy...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].TS < out[j].TS })
	return out, nil
}

// legacyMedia reads media_frames rows (calls stored before migration 8).
func (s *Store) legacyMedia(ctx context.Context, where string) ([]correlate.Frame, error) {
	rows, err := s.conn.Query(ctx, `SELECT toUInt32(ts), ts_ns, link_type, orig_len, data
FROM media_frames FINAL WHERE `+where+` ORDER BY ts, ts_ns, call_uid, seq`)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: media: %w", err)
	}
	defer rows.Close()
	var out []correlate.Frame
	for rows.Next() {
		var (
			f             correlate.Frame
			sec, ns, orig uint32
			data          string
		)
		if err := rows.Scan(&sec, &ns, &f.LinkType, &orig, &data); err != nil {
			return nil, fmt.Errorf("clickhouse: scan frame: %w", err)
		}
		f.TS, f.OrigLen, f.Data = join(sec, ns), int(orig), []byte(data)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: media: %w", err)
	}
	return out, nil
}
