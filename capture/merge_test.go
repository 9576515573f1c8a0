package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// tagged returns a payload naming its file and sequence number, so a
// returned packet can be checked against what was written without copies.
func tagged(file, seq int) []byte {
	b := make([]byte, 40+seq%7)
	binary.BigEndian.PutUint32(b, uint32(file))
	binary.BigEndian.PutUint32(b[4:], uint32(seq))
	return b
}

type wpkt struct {
	file, seq int
	ts        int64
}

// writeThree writes three files in three formats with the given timestamps.
func writeThree(t *testing.T, dir string, ts [3][]int64) []string {
	t.Helper()
	var paths []string
	for f := range 3 {
		var buf bytes.Buffer
		switch f {
		case 0:
			w, err := NewPcapWriter(&buf, LinkEthernet, 0, true)
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range ts[f] {
				w.WritePacket(x, tagged(f, i), 0)
			}
		case 1:
			w := NewPcapngWriter(&buf)
			w.AddInterface(LinkLinuxSLL, 0, "a")
			w.AddInterface(LinkRaw, 0, "b")
			for i, x := range ts[f] {
				w.WritePacket(i%2, x, tagged(f, i), 0)
			}
			w.Flush()
		case 2:
			w, err := NewPcapWriter(&buf, LinkNull, 0, true)
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range ts[f] {
				w.WritePacket(x, tagged(f, i), 0)
			}
		}
		p := filepath.Join(dir, []string{"a.pcap", "b.pcapng", "c.pcap"}[f])
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func drainMerger(t *testing.T, m *Merger) []wpkt {
	t.Helper()
	var out []wpkt
	var p Packet
	for {
		err := m.Next(&p)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		f, seq := int(binary.BigEndian.Uint32(p.Data)), int(binary.BigEndian.Uint32(p.Data[4:]))
		if f != p.File || !bytes.Equal(p.Data, tagged(f, seq)) {
			t.Fatalf("packet claims file %d seq %d but Packet.File=%d / data damaged", f, seq, p.File)
		}
		out = append(out, wpkt{f, seq, p.TS})
	}
}

func TestMergeThreeFiles(t *testing.T) {
	tests := []struct {
		name string
		ts   [3][]int64
		want []wpkt // nil: stable sort by (ts, file)
	}{
		{
			name: "interleaved with ties",
			ts: [3][]int64{
				{10, 20, 30, 40, 50},
				{5, 20, 25, 40, 60, 70},
				{1, 20, 30, 80},
			},
		},
		{
			name: "one file empty, one far later",
			ts:   [3][]int64{{}, {100, 200}, {1, 2, 3}},
		},
		{
			name: "backwards time inside a file keeps file order",
			ts:   [3][]int64{{10, 5, 30}, {7, 8}, {20}},
			// heads 10,7,20 → 7(b0); 10,8,20 → 8(b1); 10,-,20 → 10(a0);
			// then a1=5 is the smallest head → 5(a1); 30,20 → 20(c0); 30(a2).
			want: []wpkt{{1, 0, 7}, {1, 1, 8}, {0, 0, 10}, {0, 1, 5}, {2, 0, 20}, {0, 2, 30}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paths := writeThree(t, t.TempDir(), tt.ts)
			m, err := OpenFiles(paths)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			got := drainMerger(t, m)
			want := tt.want
			if want == nil {
				for f := range 3 {
					for i, x := range tt.ts[f] {
						want = append(want, wpkt{f, i, x})
					}
				}
				sort.SliceStable(want, func(i, j int) bool { return want[i].ts < want[j].ts })
			}
			if len(got) != len(want) {
				t.Fatalf("got %d packets, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("position %d: got %+v, want %+v\n got  %v\n want %v", i, got[i], want[i], got, want)
				}
			}
			st := m.Stats()
			if st.Files != 3 || st.Packets != uint64(len(want)) || len(m.Errors()) != 0 {
				t.Fatalf("stats %+v errors %v", st, m.Errors())
			}
			minTS, maxTS := want[0].ts, want[0].ts
			var bytesWant uint64
			for _, w := range want {
				minTS, maxTS = min(minTS, w.ts), max(maxTS, w.ts)
				bytesWant += uint64(len(tagged(w.file, w.seq)))
			}
			if st.First != minTS || st.Last != maxTS || st.Bytes != bytesWant {
				t.Fatalf("stats %+v, want first %d last %d bytes %d", st, minTS, maxTS, bytesWant)
			}
			if err := m.Next(new(Packet)); err != io.EOF {
				t.Fatalf("after the end: %v", err)
			}
		})
	}
}

func TestMergeDamagedFileContinues(t *testing.T) {
	dir := t.TempDir()
	paths := writeThree(t, dir, [3][]int64{{1, 3, 5, 7, 9}, {2, 4, 6, 8}, {0}})
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	// Cut file 0 inside its third record: 24-byte header, records of 16+40+seq.
	third := int64(24 + (16 + 40) + (16 + 41))
	if err := os.WriteFile(paths[0], b[:third+20], 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := OpenFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := drainMerger(t, m)
	var from [3]int
	for _, g := range got {
		from[g.file]++
	}
	if from != [3]int{2, 4, 1} {
		t.Fatalf("packets per file %v, want [2 4 1]", from)
	}
	errs := m.Errors()
	if len(errs) != 1 {
		t.Fatalf("errors: %v", errs)
	}
	var fe *FileError
	if !errors.As(errs[0], &fe) || fe.File != paths[0] || fe.Offset != third || !errors.Is(errs[0], ErrTruncated) {
		t.Fatalf("error %v", errs[0])
	}
}

func TestOpenFilesFailure(t *testing.T) {
	dir := t.TempDir()
	paths := writeThree(t, dir, [3][]int64{{1}, {2}, {3}})
	bad := filepath.Join(dir, "bad.pcap")
	os.WriteFile(bad, []byte("this is not a capture file"), 0o644)
	if _, err := OpenFiles(append(paths, bad)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v", err)
	}
	if _, err := OpenFiles([]string{paths[0], filepath.Join(dir, "missing")}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
	m, err := OpenFiles(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Next(new(Packet)); err != io.EOF {
		t.Fatalf("empty merger: %v", err)
	}
}

// TestMergeRealFilesLarge merges real captures larger than the read buffer,
// so buffers refill while other files' heads are pending: every file's
// subsequence must equal the file read alone, byte for byte.
func TestMergeRealFilesLarge(t *testing.T) {
	dir := sharedTestdata(t)
	names := []string{"goffinet__branch-scenario-sipp.pcapng", "voipshark__SIP-SRTP-Normal_Call_two_parties.pcap",
		"goffinet__test_voip.pcap.pcapng", "wswiki__FAX-Call-t38-CA-TDM-SIP-FB-1.pcap"}
	var paths []string
	var alone [][]rec
	for _, n := range names {
		p := filepath.Join(dir, n)
		paths = append(paths, p)
		r, err := OpenFile(p)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := readAll(t, r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		alone = append(alone, recs)
	}
	m, err := OpenFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	next := make([]int, len(paths))
	heads := func() (int64, int) { // smallest pending (ts, file) per the merge rule
		best, bf := int64(0), -1
		for f := range alone {
			if next[f] < len(alone[f]) && (bf < 0 || alone[f][next[f]].TS < best) {
				best, bf = alone[f][next[f]].TS, f
			}
		}
		return best, bf
	}
	var p Packet
	n := 0
	for {
		err := m.Next(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		_, wf := heads()
		if p.File != wf {
			t.Fatalf("packet %d from file %d, want file %d", n, p.File, wf)
		}
		w := alone[p.File][next[p.File]]
		if p.TS != w.TS || p.Offset != w.Offset || !bytes.Equal(p.Data, w.Data) {
			t.Fatalf("packet %d (file %d #%d) differs from the file read alone", n, p.File, next[p.File])
		}
		next[p.File]++
		n++
	}
	total := 0
	for f := range alone {
		total += len(alone[f])
		if next[f] != len(alone[f]) {
			t.Fatalf("file %d: %d of %d packets merged", f, next[f], len(alone[f]))
		}
	}
	if st := m.Stats(); st.Packets != uint64(total) {
		t.Fatalf("stats %+v, want %d packets", st, total)
	}
}
