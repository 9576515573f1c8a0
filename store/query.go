package store

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Query defaults and limits shared by the engines.
const (
	DefaultLimit    = 50
	MaxLimit        = 1000
	DefaultRegLimit = 100
	DefaultTopN     = 10
	// MaxBuckets bounds the steps a StatsQuery may ask for.
	MaxBuckets = 100000
	// MOSBins is the number of 0.5-wide MOS histogram bins from 1.0 to 5.0.
	MOSBins = 8
)

// Sort keys of CallQuery.Sort.
const (
	SortStart    = "start"
	SortDuration = "duration"
	SortPDD      = "pdd"
	SortMOS      = "mos"
)

// ErrBadQuery is returned (wrapped) for an invalid query or cursor.
var ErrBadQuery = errors.New("store: bad query")

// Normalize applies the defaults of CallQuery and checks it: an empty Sort means
// start, newest first; Limit defaults to DefaultLimit and is capped at MaxLimit. Number
// is lowercased (the match is case-insensitive) and IP canonicalised. Engines sort by
// the key (a missing duration, PDD or MOS sorts as -1) and then by call id in the same
// direction; the cursor holds the last row's key and id.
func (q CallQuery) Normalize() (CallQuery, error) {
	if q.Sort == "" {
		q.Sort, q.Desc = SortStart, true
	}
	switch q.Sort {
	case SortStart, SortDuration, SortPDD, SortMOS:
	default:
		return q, fmt.Errorf("%w: unknown sort %q", ErrBadQuery, q.Sort)
	}
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit > MaxLimit {
		q.Limit = MaxLimit
	}
	q.Number = strings.ToLower(q.Number)
	if q.IP != "" {
		a, err := netip.ParseAddr(strings.Trim(q.IP, "[]"))
		if err != nil {
			return q, fmt.Errorf("%w: ip %q: %v", ErrBadQuery, q.IP, err)
		}
		q.IP = a.Unmap().String()
	}
	return q, nil
}

// Cursor is the decoded form of CallPage.Next: the sort key and id of the last call of a
// page. Int carries the start time (ns) for SortStart, Float the value otherwise.
type Cursor struct {
	Sort  string  `json:"s"`
	Desc  bool    `json:"d"`
	Int   int64   `json:"i,omitempty"`
	Float float64 `json:"f,omitempty"`
	ID    string  `json:"id"`
}

// Encode renders the cursor as an opaque URL-safe string.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses CallQuery.Cursor for q (normalised); a cursor made for another sort
// order is an error.
func DecodeCursor(q CallQuery) (*Cursor, error) {
	if q.Cursor == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
	if err != nil {
		return nil, fmt.Errorf("%w: cursor: %v", ErrBadQuery, err)
	}
	var c Cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: cursor: %v", ErrBadQuery, err)
	}
	if c.Sort != q.Sort || c.Desc != q.Desc {
		return nil, fmt.Errorf("%w: cursor is for sort %s desc=%v", ErrBadQuery, c.Sort, c.Desc)
	}
	return &c, nil
}

// HostOf returns the IP of an "ip:port" or "[ipv6]:port" address (the peer key and the
// IP filter columns), or "" when it has none.
func HostOf(addr string) string {
	if addr == "" {
		return ""
	}
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap().String()
	}
	if a, err := netip.ParseAddr(strings.Trim(addr, "[]")); err == nil {
		return a.Unmap().String()
	}
	return ""
}

// DayFloor returns the start of the UTC day holding t: DropBefore(t) deletes everything
// that started before DayFloor(t), i.e. every day wholly before t.
func DayFloor(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// MOSBin returns the histogram bin of a MOS value: 0.5 wide from 1.0, clamped to
// [0, MOSBins-1].
func MOSBin(mos float64) int {
	b := int((mos - 1) / 0.5)
	if mos < 1 {
		b = 0
	}
	if b >= MOSBins {
		b = MOSBins - 1
	}
	return b
}

// BucketOf returns the start (ns) of the step holding ts for a StatsQuery: steps are
// aligned to q.From, or to the Unix epoch when From is zero.
func (q StatsQuery) BucketOf(ts int64) int64 {
	var origin int64
	if !q.From.IsZero() {
		origin = q.From.UnixNano()
	}
	step := int64(q.Step)
	d := ts - origin
	b := d / step
	if d < 0 && d%step != 0 {
		b--
	}
	return origin + b*step
}

// Validate checks a StatsQuery: with a Step, From and To must bound at most MaxBuckets
// steps.
func (q StatsQuery) Validate() error {
	if q.Step < 0 {
		return fmt.Errorf("%w: negative step", ErrBadQuery)
	}
	if q.Step > 0 && !q.From.IsZero() && !q.To.IsZero() && q.To.Sub(q.From)/q.Step > MaxBuckets {
		return fmt.Errorf("%w: more than %d steps", ErrBadQuery, MaxBuckets)
	}
	return nil
}

// Ratios fills a bucket's ratios from its aggregate.
func (b *StatsBucket) Ratios() {
	b.ASR, b.NER, b.SCR, b.ACD = b.Agg.ASR(), b.Agg.NER(), b.Agg.SCR(), b.Agg.ACDSeconds()
}

// Ratios fills the totals' ratios from Total.
func (s *Stats) Ratios() {
	s.ASR, s.NER, s.SCR, s.ACD = s.Total.ASR(), s.Total.NER(), s.Total.SCR(), s.Total.ACDSeconds()
}

// SortTop orders Top rows worst first: by ASR ascending (metric asr) or average MOS
// ascending (metric mos), then by more calls, then by key.
func SortTop(rows []TopRow, metric string) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if metric == "mos" {
			am, bm := 99.0, 99.0
			if a.MOS != nil {
				am = *a.MOS
			}
			if b.MOS != nil {
				bm = *b.MOS
			}
			if am != bm {
				return am < bm
			}
		} else if a.ASR != b.ASR {
			return a.ASR < b.ASR
		}
		if a.Calls != b.Calls {
			return a.Calls > b.Calls
		}
		return a.Key < b.Key
	})
}
