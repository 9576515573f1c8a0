package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
)

// viaTabwriter is the oracle: lines through text/tabwriter as printTables used it.
func viaTabwriter(lines []string) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, tablePadding, ' ', 0)
	for _, l := range lines {
		fmt.Fprintln(tw, l)
	}
	tw.Flush()
	return b.String()
}

func viaWriteTable(t *testing.T, lines []string) string {
	t.Helper()
	var b bytes.Buffer
	passes := 0
	err := writeTable(&b, func(yield func([]byte)) {
		passes++
		buf := []byte{}
		for _, l := range lines {
			buf = append(buf[:0], l...)
			yield(buf) // one reused buffer, as printTables does
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if passes < 2 || passes > 3 {
		t.Errorf("rows called %d times", passes)
	}
	return b.String()
}

// TestWriteTable: writeTable's output is tabwriter's, byte for byte, on random tables
// (cells empty, long, multi-byte, the ellipsis trunc adds) and on lines tabwriter reads
// differently from plain cells (a cell count that changes, newlines, \v, \f, 0xff),
// where writeTable hands the lines to tabwriter.
func TestWriteTable(t *testing.T) {
	words := []string{"", "a", "-", "answered", "1000", "sip:alice@example.com", "…", "Grüße", "0x0000ABCD", "10.0.0.1:4000", "12.34/56.78", "日本語"}
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 200 {
		cols := 1 + r.IntN(8)
		rows := r.IntN(30)
		var lines []string
		for range rows + 1 {
			cells := make([]string, cols)
			for j := range cells {
				cells[j] = words[r.IntN(len(words))]
			}
			lines = append(lines, strings.Join(cells, "\t"))
		}
		if n%10 == 9 && len(lines) > 1 { // text tabwriter treats specially
			odd := []string{"x\ty", "a\nb", "v\vw", "f\fg", "e\xffh", "\t", ""}
			i := 1 + r.IntN(len(lines)-1)
			lines[i] += odd[r.IntN(len(odd))]
		}
		if got, want := viaWriteTable(t, lines), viaTabwriter(lines); got != want {
			t.Fatalf("table %d differs from tabwriter:\n%q\nwant\n%q", n, got, want)
		}
	}
	if got := viaWriteTable(t, nil); got != "" {
		t.Errorf("no lines: %q", got)
	}
}

// TestTablesAsTabwriter: analyze's tables for every golden and shared capture are what
// the tabwriter version of printTables wrote (its lines rebuilt here from the report).
func TestTablesAsTabwriter(t *testing.T) {
	for name, files := range parallelInputs(t) {
		rep, _ := analyzeFilesWorkers(context.Background(), files, decode.DefaultConfig(), correlate.DefaultConfig(), &callHooks{}, 1)
		if rep == nil {
			t.Fatalf("%s: no report", name)
		}
		var got bytes.Buffer
		if err := printTables(&got, rep); err != nil {
			t.Fatal(err)
		}
		calls := []string{"START\tCALL-ID\tFROM\tTO\tSTATE\tCODE\tPDD ms\tDUR ms\tENDED BY\tEND\tDROP\tSTREAMS\tMOS min"}
		streams := []string{"CALL-ID\tSSRC\tSRC\tDST\tCODEC\tPACKETS\tLOST\tJITTER mean/max ms\tMAX DELTA ms\tMOS"}
		row := func(id string, s correlate.Stream) {
			streams = append(streams, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%d\t%d\t%.2f/%.2f\t%.1f\t%s", trunc(id, 28), s.SSRC, s.Src, s.Dst,
				s.Codec, s.Packets, s.Lost, s.JitterMeanMs, s.JitterMaxMs, s.MaxDeltaMs, fmtMOS(s.MOS)))
		}
		for _, cl := range rep.Calls {
			start, _ := cl.Start.MarshalJSON()
			by, drop := "-", "-"
			if cl.EndedBy != nil {
				by = *cl.EndedBy
			}
			if cl.DropReason != nil {
				drop = string(*cl.DropReason)
			}
			calls = append(calls, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s", strings.Trim(string(start), `"`),
				trunc(cl.CallID, 28), cl.FromUser, cl.ToUser, cl.State, cl.FinalCode, fmtMs(cl.PDDMs), fmtMs(cl.DurationMs),
				by, cl.EndReason, drop, len(cl.Streams), fmtMOS(cl.MOSMin)))
			for _, s := range cl.Streams {
				row(cl.CallID, s)
			}
		}
		for _, s := range rep.OrphanStreams {
			row("(orphan)", s)
		}
		head, _, _ := strings.Cut(got.String(), "\n\n")
		want := head + "\n\n" + viaTabwriter(calls) + "\n" + viaTabwriter(streams)
		if got.String() != want {
			t.Errorf("%s: tables differ from tabwriter's at byte %d\n%s", name, firstDiff(got.Bytes(), []byte(want)), diffContext(got.Bytes(), []byte(want)))
		}
	}
}
