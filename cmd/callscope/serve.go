package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/callscope/callscope/callmetrics"
	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/engine"
	"github.com/callscope/callscope/web"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
)

// lockedWriter serialises writes to an io.Writer shared by goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseServeConfig(args, stderr)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, &lockedWriter{w: stdout}, slog.New(slog.NewTextHandler(stderr, nil)))
}

// serve wires the components cfg (validated) describes and runs them until ctx ends or
// one fails. Each runs in the errgroup g under gctx and has a stop path:
//
//	web server         srv.Serve; stopped by srv.Shutdown when gctx ends
//	file replay        ingestFiles; checks gctx every 4096 packets, returns when done
//	live correlation   ingestLive; returns when gctx ends (the calls still open end
//	                   capture_end)
//	live sources       HEP listener and interface readers (their own goroutines, see
//	                   package capture); closed when gctx ends
//	retention          store.RetentionLoop; starts when the file replay is done, never
//	                   cuts after its oldest call; returns when gctx ends
//	security store     securityFeed.storeLoop; stopped after the group, when the
//	                   ingest goroutines have ended their security events
//
// The store writer (its own goroutine, package store) outlives the group: it is closed,
// flushing what is queued, after every producer has stopped.
func serve(ctx context.Context, cfg serveConfig, stdout io.Writer, log *slog.Logger) error {
	log.Info("go memory limit", "limit", applyMemoryLimit(&cfg), "gc_percent", applyGCPercent(&cfg)) // memory.go
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	live, err := newLiveCalls(reg)
	if err != nil {
		return err
	}
	ccfg := correlate.DefaultConfig()
	ccfg.KeepMessages = true
	ccfg.PackedRecords = true // the store writer reads them through Unpacked (correlate.Config)
	ccfg.KeepRTP = cfg.KeepRTP
	ccfg.MaxRetainedBytes = cfg.MaxRetainedBytes
	if err := ccfg.Validate(); err != nil {
		return err
	}

	// Live sources first: a taken port or a missing interface fails before anything is
	// created.
	var hepIn *capture.HEPListener
	if cfg.HEP != "" {
		if hepIn, err = capture.ListenHEP(cfg.HEP, capture.HEPConfig{Metrics: live.capture,
			AuthKey: []byte(cfg.HEPAuthKey), Allow: cfg.hepAllow, MaxSkew: cfg.hepMaxSkew}); err != nil {
			return err
		}
		defer hepIn.Close()
	}
	var capIn *capture.Live
	if len(cfg.Interfaces) > 0 {
		if capIn, err = capture.OpenLive(cfg.Interfaces, capture.LiveConfig{Filter: cfg.Filter, Fanout: cfg.CaptureReaders, Metrics: live.capture}); err != nil {
			return err
		}
		defer capIn.Close()
	}

	// One process per data directory: its spool, write-ahead log and frame spill
	// are this process's alone.
	dataDir := filepath.Dir(cfg.store.SpoolDir())
	unlock, err := store.LockDir(dataDir)
	if err != nil {
		return fmt.Errorf("%w: another serve uses it; give this one its own store path (for ClickHouse: another working directory)", err)
	}
	defer unlock()
	if cfg.KeepRTP != correlate.KeepRTPNone && cfg.FrameSpillMaxBytes > 0 {
		// Scratch only (a call's frames become durable in its record's WAL entry): what
		// a previous run left is of no use.
		ccfg.FrameSpillDir = filepath.Join(dataDir, "framespill")
		ccfg.FrameSpillMaxBytes = cfg.FrameSpillMaxBytes
		if err := os.RemoveAll(ccfg.FrameSpillDir); err != nil {
			log.Warn("frame spill: cannot clear the directory; kept frames stay in memory", "dir", ccfg.FrameSpillDir, "err", err)
			ccfg.FrameSpillDir = ""
		}
	}

	st, err := engine.Open(ctx, cfg.Store) // migrated
	if err != nil {
		return err
	}
	defer st.Close()
	// Pipeline: sources → decode → correlate → store.Writer. The writer never blocks the
	// correlator: beyond its bounded queue it spools to disk. It is closed last (below).
	wr, err := store.NewWriter(st, store.WriterConfig{SpoolDir: cfg.store.SpoolDir(), BatchSize: cfg.StoreBatchSize, Logger: log,
		Stored: live.unstored.stored, Held: live.unstored.held}, reg)
	if err != nil {
		return err
	}
	closeWriter := func() error {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := wr.Close(cctx); err != nil {
			return fmt.Errorf("store writer: %w", err)
		}
		return nil
	}

	wcfg := cfg.webConfig()
	wcfg.Logger = log
	// Call metrics and built-in alerting (alerting.go): one engine per ingest source.
	cm, err := callmetrics.New(reg, live.activeCalls)
	if err != nil {
		return errors.Join(err, closeWriter())
	}
	cm.Init(cfg.peers.Names())
	al, err := newAlerting(&cfg, reg, log)
	if err != nil {
		return errors.Join(err, closeWriter())
	}
	// Security analytics (securing.go): one detector per ingest source, like the engines.
	sec, err := newSecurityFeed(cfg.Security, reg, log)
	if err != nil {
		return errors.Join(err, closeWriter())
	}
	if al.notifier != nil {
		sec.notify = al.notifier.Notify // each security event raises an alert
	}
	fileSec, err := sec.detector()
	if err != nil {
		return errors.Join(err, closeWriter())
	}
	liveSec, err := sec.detector()
	if err != nil {
		return errors.Join(err, closeWriter())
	}
	// Retention keeps every call the file replay ingests and waits for it to end.
	oldest, ingested := &oldestIngested{}, make(chan struct{})
	fileHooks := &callHooks{peers: cfg.peers, metrics: cm, engine: al.engine(), oldest: oldest, sec: fileSec}
	liveHooks := &callHooks{peers: cfg.peers, metrics: cm, engine: al.engine(), sec: liveSec}
	if !cfg.Alerts.Disabled {
		wcfg.Alerts = al.active
	}
	handler := web.New(wcfg, st, live, reg)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), closeWriter())
	}
	url := "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(stdout, "callscope: serving %s (store %s)\n", url, cfg.Store)
	if hepIn != nil {
		fmt.Fprintf(stdout, "callscope: HEP input on %s (UDP and TCP)\n", hepIn.Addr())
	}
	if capIn != nil {
		fmt.Fprintf(stdout, "callscope: capturing on %s\n", strings.Join(cfg.Interfaces, ", "))
	}
	srv, err := web.NewServer(handler, web.ServerConfig{TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey})
	if err != nil {
		ln.Close()
		return err
	}

	// The security store loop outlives the group: the ingest goroutines end their events
	// as they stop, and those are stored too.
	secCtx, secStop := context.WithCancel(context.Background())
	secDone := make(chan struct{})
	go func() { sec.storeLoop(secCtx, st); close(secDone) }()
	stopSec := func() { secStop(); <-secDone }

	g, gctx := errgroup.WithContext(ctx)
	trims := prometheus.NewCounter(prometheus.CounterOpts{Name: "callscope_go_heap_trims_total",
		Help: "Times serve returned more than 64 MiB of freed Go heap to the OS at once (after a burst of calls ended)."})
	reg.MustRegister(trims)
	g.Go(func() error { trimHeap(gctx, trimEvery, trims); return nil })
	g.Go(func() error { al.storeLoop(gctx, st); return nil })
	g.Go(func() error { return al.notifier.Run(gctx) })
	g.Go(func() error {
		if err := web.Serve(srv, ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})

	if len(cfg.Files) > 0 {
		g.Go(func() error {
			defer close(ingested)
			n, err := ingestFiles(gctx, cfg.Files, ccfg, cfg.Workers, wr, live, fileHooks)
			if err != nil && gctx.Err() == nil {
				// A damaged file ends its ingestion; what was read before is served.
				log.Warn("capture file error", "err", err)
			}
			if ferr := wr.Flush(gctx); ferr != nil && gctx.Err() == nil {
				log.Warn("store flush after ingest", "err", ferr)
			}
			fmt.Fprintf(stdout, "callscope: ingested %d calls from %d file(s)\n", n, len(cfg.Files))
			return nil
		})
	} else {
		close(ingested)
	}
	if hepIn != nil || capIn != nil {
		// Live sources share one decoder and correlator (live time); files have their own.
		g.Go(func() error {
			n := ingestLive(gctx, hepIn, capIn, ccfg, cfg.Workers, wr, live, liveHooks)
			fmt.Fprintf(stdout, "callscope: live input: %d calls\n", n)
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			if hepIn != nil {
				hepIn.Close()
			}
			if capIn != nil {
				capIn.Close()
			}
			return nil
		})
	}
	if cfg.retention > 0 {
		g.Go(func() error {
			return store.RetentionLoop(gctx, st, store.RetentionConfig{Keep: cfg.retention, Every: cfg.retentionEvery, Logger: log, Start: ingested, Floor: oldest.floor})
		})
	}
	if cfg.Open {
		openBrowser(url)
	}
	err = g.Wait()
	stopSec()
	err = errors.Join(err, closeWriter())
	fmt.Fprintf(stdout, "callscope: stopped\n")
	return err
}

// ingestFiles replays files through decode and correlate and hands finished calls and
// registrations to the writer; it returns the number of calls.
func ingestFiles(ctx context.Context, files []string, ccfg correlate.Config, workers int, wr *store.Writer, live *liveCalls, hooks *callHooks) (int, error) {
	n := 0
	// B2BUA legs arrive linked: the correlator links legs while both are in its table.
	cor := correlate.New(ccfg, correlate.Output{
		Call: func(r *correlate.Record) {
			n++
			hooks.call(r)
			live.unstored.add(r)
			wr.WriteWait(ctx, r) // a file can wait: the calls it ends at once do not pile up in memory
		},
		Registration: func(r *correlate.Registration) { hooks.registration(r); wr.WriteRegistration(live.keepRegistration(r)) },
	})
	pl, err := openPipeline(files, decode.DefaultConfig(), cor)
	if err != nil {
		return 0, err
	}
	pl.sec = hooks.sec // fed every decoder event, finished with the replay
	defer pl.close()
	pl.workers = workers
	lastSnap := time.Now()
	err = pl.run(ctx, func() {
		// The dashboard's live view: in-progress calls, published at most once a second
		// by this (the correlator's) goroutine.
		if now := time.Now(); now.Sub(lastSnap) >= time.Second {
			lastSnap = now
			live.publishFiles(pl, true)
		}
	})
	live.publishFiles(pl, false)
	if err != nil {
		return n, err
	}
	if hooks.engine != nil {
		hooks.engine.Flush(pl.src.Stats().Last) // the capture's end closes the last window, as in analyze
	}
	live.files.snap.Store(nil)
	return n, errors.Join(pl.src.Errors()...)
}

func openBrowser(url string) {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if cmd.Start() == nil {
		go cmd.Wait() //nolint:errcheck // best effort; reaps the child
	}
}
