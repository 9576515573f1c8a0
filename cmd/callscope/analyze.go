package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/security"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// Report is the `analyze --json` document.
type Report struct {
	Capture        CaptureInfo              `json:"capture"`
	Calls          []correlate.Call         `json:"calls"`
	OrphanStreams  []correlate.Stream       `json:"orphan_streams"`
	Registrations  []correlate.Registration `json:"registrations"`
	SecurityEvents []security.Event         `json:"security_events"`
}

// CaptureInfo describes the input of a report.
type CaptureInfo struct {
	Files        []string          `json:"files"`
	Packets      uint64            `json:"packets"`
	Bytes        uint64            `json:"bytes"`
	First        correlate.Time    `json:"first"`
	Last         correlate.Time    `json:"last"`
	DecodeErrors map[string]uint64 `json:"decode_errors"`
	// DuplicateFrames counts frames dropped as capture duplicates (the same IP packet
	// again within 10 ms, as a SPAN session mirroring both directions delivers it).
	DuplicateFrames uint64   `json:"duplicate_frames"`
	FileErrors      []string `json:"file_errors"`
}

func runAnalyze(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files multiFlag
	fs.Var(&files, "r", "capture file to read (pcap, pcapng, optionally gzipped); repeat for several, merged by time")
	asJSON := fs.Bool("json", false, "print the JSON document instead of tables")
	ccfg := correlate.DefaultConfig()
	fs.DurationVar(&ccfg.RTPTimeout, "rtp-timeout", ccfg.RTPTimeout, "end an answered call without BYE after this much media silence")
	fs.DurationVar(&ccfg.MediaStopBeforeBye, "media-stop-before-bye", ccfg.MediaStopBeforeBye, "flag a call dropped when media stopped this long before the BYE")
	interval := fs.Duration("interval", time.Duration(ccfg.Quality.Interval), "quality interval length")
	fs.Float64Var(&ccfg.Quality.JitterBufferMs, "jitter-buffer", ccfg.Quality.JitterBufferMs, "simulated fixed jitter buffer depth in ms (E-model late discards and delay)")
	workers := fs.Int("workers", runtime.NumCPU(), workersUsage)
	alertsConfig := fs.String("alerts", "", "config file (as for serve): print the alerts its peers and alert rules raise on the capture instead of calls")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	files = append(files, fs.Args()...)
	if len(files) == 0 {
		fmt.Fprintln(stderr, "callscope analyze: at least one -r FILE is needed")
		return errUsage
	}
	ccfg.Quality.Interval = int64(*interval)
	if err := ccfg.Validate(); err != nil {
		return err
	}
	// serve's GOGC (memory.go) unless the GOGC variable says otherwise: at 20,000
	// concurrent calls peak RSS 213–227 → 180–187 MiB at the same wall time
	// (BENCHMARKS.md, session 8).
	if p, _ := gcPercent(0, os.Getenv("GOGC")); p > 0 {
		debug.SetGCPercent(p)
	}
	if *alertsConfig != "" {
		return analyzeAlerts(ctx, files, *alertsConfig, ccfg, *asJSON, stdout)
	}
	// The limit boundReportMemory sets holds while the report is written, and no longer:
	// runAnalyze also runs inside other processes (tests).
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	rep, err := analyzeFilesWorkers(ctx, files, decode.DefaultConfig(), ccfg, &callHooks{finishing: boundReportMemory}, *workers)
	if rep == nil {
		return err
	}
	if *asJSON {
		if werr := writeReportJSON(stdout, rep); werr != nil {
			return werr
		}
	} else {
		if werr := printTables(stdout, rep); werr != nil {
			return werr
		}
	}
	return err
}

// writeReportJSON writes rep byte for byte as a json.Encoder with SetIndent("", "  ")
// does, but one call, stream, registration or event at a time: encoding the whole
// document at once held all of it in memory, twice while its buffer grew (20,000 4-s
// calls: a 73 MB document, peak RssAnon 289 MiB against 116 MiB for the tables).
// TestReportJSONStreamed holds it to the Encoder on every golden and shared capture.
func writeReportJSON(w io.Writer, rep *Report) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("{\n  \"capture\": ")
	if err := writeIndented(bw, &rep.Capture, "  "); err != nil {
		return err
	}
	if err := writeJSONArray(bw, "calls", rep.Calls); err != nil {
		return err
	}
	if err := writeJSONArray(bw, "orphan_streams", rep.OrphanStreams); err != nil {
		return err
	}
	if err := writeJSONArray(bw, "registrations", rep.Registrations); err != nil {
		return err
	}
	if err := writeJSONArray(bw, "security_events", rep.SecurityEvents); err != nil {
		return err
	}
	bw.WriteString("\n}\n")
	return bw.Flush()
}

// writeJSONArray writes `,\n  "name": ` and xs as the indenting Encoder lays out an
// array one level deep: "null", "[]", or one element per indented block.
func writeJSONArray[T any](bw *bufio.Writer, name string, xs []T) error {
	bw.WriteString(",\n  \"" + name + "\": ")
	switch {
	case xs == nil:
		bw.WriteString("null")
		return nil
	case len(xs) == 0:
		bw.WriteString("[]")
		return nil
	}
	bw.WriteString("[\n")
	for i := range xs {
		bw.WriteString("    ")
		if err := writeIndented(bw, &xs[i], "    "); err != nil {
			return err
		}
		if i < len(xs)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("  ]")
	return nil
}

// writeIndented writes v as json.MarshalIndent(v, prefix, "  ") does.
func writeIndented(bw *bufio.Writer, v any, prefix string) error {
	b, err := json.MarshalIndent(v, prefix, "  ")
	if err != nil {
		return err
	}
	_, err = bw.Write(b)
	return err
}

// analyzeFiles runs capture → decode → correlate over files. It returns the report of
// everything read; err reports damaged files (the report still holds all packets before
// the damage).
func analyzeFiles(ctx context.Context, files []string, dcfg decode.Config, ccfg correlate.Config) (*Report, error) {
	return analyzeFilesWith(ctx, files, dcfg, ccfg, &callHooks{})
}

// analyzeFilesWith is analyzeFiles with hooks on every finished call (peer group, call
// metrics, alert engine; see alerting.go).
func analyzeFilesWith(ctx context.Context, files []string, dcfg decode.Config, ccfg correlate.Config, hooks *callHooks) (*Report, error) {
	return analyzeFilesWorkers(ctx, files, dcfg, ccfg, hooks, 1)
}

// analyzeFilesWorkers is analyzeFilesWith on workers goroutines (pipeline.workers); the
// report is the same for every value.
func analyzeFilesWorkers(ctx context.Context, files []string, dcfg decode.Config, ccfg correlate.Config, hooks *callHooks, workers int) (*Report, error) {
	rep := &Report{
		Capture:       CaptureInfo{Files: files, FileErrors: []string{}},
		Calls:         []correlate.Call{},
		OrphanStreams: []correlate.Stream{},
		Registrations: []correlate.Registration{},
	}
	rep.SecurityEvents = []security.Event{}
	sec, err := security.New(security.DefaultConfig(), security.Output{
		Ended: func(e *security.Event) { rep.SecurityEvents = append(rep.SecurityEvents, *e) },
	}, nil)
	if err != nil {
		return nil, err
	}
	// Only each call and its link keys are held, not its Record: the Record is garbage as
	// soon as its call is copied (at 20,000 concurrent calls, 13 MB less at the peak).
	var links []correlate.Links
	cor := correlate.New(ccfg, correlate.Output{
		Call: func(r *correlate.Record) {
			hooks.call(r)
			sec.Call(r)
			rep.Calls = append(rep.Calls, r.Call)
			links = append(links, correlate.Links{Keys: r.LinkKeys, Window: r.LinkWindow})
		},
		Orphan: func(s *correlate.Stream) { rep.OrphanStreams = append(rep.OrphanStreams, *s) },
		Registration: func(r *correlate.Registration) {
			hooks.registration(r)
			rep.Registrations = append(rep.Registrations, *r)
		},
	})
	pl, err := openPipeline(files, dcfg, cor)
	if err != nil {
		return nil, err
	}
	pl.sec = sec
	pl.workers = workers
	pl.finishing = func() {
		// Every call still open ends now: room for all of them at once, made after the
		// report's memory is bounded (it is not live heap the bound should grow by),
		// instead of append's growth, whose last step copied 7.5 MB of calls at 20,000
		// while the array before it was still live.
		if hooks.finishing != nil {
			hooks.finishing()
		}
		n := len(rep.Calls) + cor.ActiveCalls()
		rep.Calls = growTo(rep.Calls, n)
		links = growTo(links, n)
	}
	defer pl.close()
	if err := pl.run(ctx, nil); err != nil {
		return nil, err
	}
	security.Sort(rep.SecurityEvents)
	correlate.LinkCallList(rep.Calls, links)
	st := pl.src.Stats()
	if hooks.engine != nil {
		hooks.engine.Flush(st.Last) // the capture's end closes the last window
	}
	rep.Capture.Packets, rep.Capture.Bytes = st.Packets, st.Bytes
	rep.Capture.First, rep.Capture.Last = correlate.Time(st.First), correlate.Time(st.Last)
	rep.Capture.DecodeErrors = pl.dec.Errors().Map()
	rep.Capture.DuplicateFrames = pl.dec.Counters().DuplicateFrames
	ferrs := pl.src.Errors()
	for _, e := range ferrs {
		rep.Capture.FileErrors = append(rep.Capture.FileErrors, e.Error())
	}
	return rep, errors.Join(ferrs...)
}

// growTo returns s with room for n elements in all, exactly (append rounds up by a
// quarter).
func growTo[T any](s []T, n int) []T {
	if n <= cap(s) {
		return s
	}
	grown := make([]T, len(s), n)
	copy(grown, s)
	return grown
}

func fmtMs(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f", *v)
}

func fmtMOS(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}

func printTables(w io.Writer, rep *Report) error {
	c := rep.Capture
	fmt.Fprintf(w, "%d packets, %d bytes, %d calls, %d orphan streams, %d registrations\n",
		c.Packets, c.Bytes, len(rep.Calls), len(rep.OrphanStreams), len(rep.Registrations))
	if c.DuplicateFrames > 0 {
		fmt.Fprintf(w, "duplicate frames dropped: %d\n", c.DuplicateFrames)
	}
	if len(c.DecodeErrors) > 0 {
		fmt.Fprintf(w, "decode errors: %v\n", c.DecodeErrors)
	}
	var line []byte
	fmt.Fprintln(w)
	err := writeTable(w, func(yield func([]byte)) {
		yield([]byte("START\tCALL-ID\tFROM\tTO\tSTATE\tCODE\tPDD ms\tDUR ms\tENDED BY\tEND\tDROP\tSTREAMS\tMOS min"))
		for _, cl := range rep.Calls {
			start, _ := cl.Start.MarshalJSON()
			by := "-"
			if cl.EndedBy != nil {
				by = *cl.EndedBy
			}
			drop := "-"
			if cl.DropReason != nil {
				drop = string(*cl.DropReason)
			}
			line = fmt.Appendf(line[:0], "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s", bytes.Trim(start, `"`),
				trunc(cl.CallID, 28), cl.FromUser, cl.ToUser, cl.State, cl.FinalCode, fmtMs(cl.PDDMs), fmtMs(cl.DurationMs),
				by, cl.EndReason, drop, len(cl.Streams), fmtMOS(cl.MOSMin))
			yield(line)
		}
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	return writeTable(w, func(yield func([]byte)) {
		yield([]byte("CALL-ID\tSSRC\tSRC\tDST\tCODEC\tPACKETS\tLOST\tJITTER mean/max ms\tMAX DELTA ms\tMOS"))
		row := func(id string, s *correlate.Stream) {
			line = fmt.Appendf(line[:0], "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%.2f/%.2f\t%.1f\t%s", trunc(id, 28), s.SSRC, s.Src, s.Dst,
				s.Codec, s.Packets, s.Lost, s.JitterMeanMs, s.JitterMaxMs, s.MaxDeltaMs, fmtMOS(s.MOS))
			yield(line)
		}
		for i := range rep.Calls {
			cl := &rep.Calls[i]
			for j := range cl.Streams {
				row(cl.CallID, &cl.Streams[j])
			}
		}
		for i := range rep.OrphanStreams {
			row("(orphan)", &rep.OrphanStreams[i])
		}
	})
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
