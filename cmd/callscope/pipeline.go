package main

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/security"
)

// workersUsage documents --workers (analyze and serve).
const workersUsage = "goroutines for capture files and (serve) live input: 1 reads, decodes and correlates on one goroutine; " +
	"2 or more read and decode on a second one (same calls; one more busy core, a copy of each frame, up to 8 MiB more memory; see README)"

// pipeline replays capture files through one decoder into a correlator, on the calling
// goroutine (capture → decode → correlate, in packet-time order). analyze and serve both
// run it; what they do with the correlator's output is theirs.
type pipeline struct {
	src *capture.Merger
	dec *decode.Decoder
	cor *correlate.Correlator
	sec *security.Detector // nil: no security analytics; fed every decoder event beside cor

	// workers ≤ 1 runs everything on the calling goroutine (the reference path); more
	// decodes on a second goroutine (pipeline_parallel.go, which argues the output is
	// the same). mu guards src and dec while they are in use there.
	workers int
	mu      sync.Mutex

	// finishing, if not nil, is called on the correlating goroutine once the input is
	// read, right before the correlator finishes (analyze bounds its memory there).
	finishing func()
}

func openPipeline(files []string, dcfg decode.Config, cor *correlate.Correlator) (*pipeline, error) {
	src, err := capture.OpenFiles(files)
	if err != nil {
		return nil, err
	}
	return &pipeline{src: src, dec: decode.New(dcfg), cor: cor}, nil
}

// run reads every packet, then flushes the decoder and finishes the correlator. tick, if
// not nil, is called on this goroutine every 4096 packets. It returns early, without
// finishing, on ctx's end or a read error; damage inside a file is not an error here
// (the file stops, see src.Errors).
//
// With workers ≥ 2 the reading and decoding run on a second goroutine (runParallel);
// tick is then still called on this goroutine, with src and dec quiescent.
func (p *pipeline) run(ctx context.Context, tick func()) error {
	if p.workers >= 2 {
		return p.runParallel(ctx, tick)
	}
	var pkt capture.Packet
	src, dec := p.src, p.dec
	onEvent := p.cor.Event // bound once: a method value made per packet would allocate
	if sec := p.sec; sec != nil {
		cor := p.cor
		onEvent = func(ev *decode.Event) { cor.Event(ev); sec.Event(ev) }
	}
	for i := 0; ; i++ {
		if i&0xfff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if tick != nil {
				tick()
			}
		}
		if err := src.Next(&pkt); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
		dec.Decode(pkt.LinkType, pkt.TS, pkt.Data, onEvent)
	}
	dec.Flush(onEvent)
	if p.finishing != nil {
		p.finishing()
	}
	p.cor.Finish()
	if p.sec != nil {
		p.sec.Finish()
	}
	return nil
}

func (p *pipeline) close() { p.src.Close() }
