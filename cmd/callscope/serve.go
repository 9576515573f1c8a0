package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/callscope/callscope/capture"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callscope/callscope/callmetrics"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/engine"
	"github.com/callscope/callscope/web"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
)

// liveCalls holds what the ingesting goroutines publish for other goroutines: the file
// replay and the live sources (live.go) each publish their calls in progress
// (web.LiveSource lists both) and their counters (/metrics sums both); the file replay
// also its capture statistics.
type liveCalls struct {
	files, live published
	packets     atomic.Uint64
	bytes       atomic.Uint64
}

// published is what one ingesting goroutine, with its own decoder and correlator, makes
// visible to the others.
type published struct {
	snap atomic.Pointer[[]correlate.Call]
	cor  atomic.Pointer[correlate.Counters]
	dec  atomic.Pointer[decode.ErrorCounts]
}

// publish copies the counters of cor and dec for scrapes and, with snapshot, the calls
// in progress for the dashboard. Called on the goroutine that owns cor and dec.
func (p *published) publish(cor *correlate.Correlator, dec *decode.Decoder, snapshot bool) {
	if snapshot {
		snap := cor.Snapshot(liveSnapshotMax)
		p.snap.Store(&snap)
	}
	cc := cor.Counters()
	p.cor.Store(&cc)
	de := *dec.Errors()
	p.dec.Store(&de)
}

func (l *liveCalls) sources() [2]*published { return [2]*published{&l.files, &l.live} }

// publishFiles publishes the file replay's counters and capture statistics.
func (l *liveCalls) publishFiles(pl *pipeline, snapshot bool) {
	l.files.publish(pl.cor, pl.dec, snapshot)
	st := pl.src.Stats()
	l.packets.Store(st.Packets)
	l.bytes.Store(st.Bytes)
}

// registerMetrics exports the pipeline's published counters: capture packets and bytes,
// decode errors by reason, and the correlator's callscope_correlate_* metrics.
func (l *liveCalls) registerMetrics(reg prometheus.Registerer) error {
	if err := correlate.RegisterMetrics(reg, func() correlate.Counters {
		var sum correlate.Counters
		for _, src := range l.sources() {
			if c := src.cor.Load(); c != nil {
				sum = addCounters(sum, *c)
			}
		}
		return sum
	}); err != nil {
		return err
	}
	if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "callscope_capture_packets_total", Help: "Packets read from capture sources.",
	}, func() float64 { return float64(l.packets.Load()) })); err != nil {
		return err
	}
	if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "callscope_capture_bytes_total", Help: "Bytes of captured packets read.",
	}, func() float64 { return float64(l.bytes.Load()) })); err != nil {
		return err
	}
	return reg.Register(decodeErrors{l})
}

// decodeErrors exports callscope_decode_errors_total{reason}.
type decodeErrors struct{ l *liveCalls }

var decodeErrorsDesc = prometheus.NewDesc("callscope_decode_errors_total",
	"Packets or parts of packets that could not be decoded, by reason.", []string{"reason"}, nil)

func (d decodeErrors) Describe(ch chan<- *prometheus.Desc) { ch <- decodeErrorsDesc }

func (d decodeErrors) Collect(ch chan<- prometheus.Metric) {
	sum := map[string]uint64{}
	for _, src := range d.l.sources() {
		e := src.dec.Load()
		if e == nil {
			continue
		}
		for reason, n := range e.Map() {
			sum[reason] += n
		}
	}
	for reason, n := range sum {
		ch <- prometheus.MustNewConstMetric(decodeErrorsDesc, prometheus.CounterValue, float64(n), reason)
	}
}

// activeCalls is callscope_calls_active: the calls in the correlators' tables.
func (l *liveCalls) activeCalls() float64 {
	n := 0
	for _, src := range l.sources() {
		if c := src.cor.Load(); c != nil {
			n += c.ActiveCalls
		}
	}
	return float64(n)
}

func (l *liveCalls) ActiveCalls() []correlate.Call {
	var all []correlate.Call
	for _, src := range l.sources() {
		if s := src.snap.Load(); s != nil {
			all = append(all, *s...)
		}
	}
	return all
}

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

// openStore opens the store named by url and migrates its schema (idempotent).
func openStore(ctx context.Context, url string) (store.Store, error) {
	st, err := engine.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("store migrate: %w", err)
	}
	return st, nil
}

// spoolDir is where the writer spools while the store is down: beside a DuckDB file, or
// ./callscope-data/spool.
func spoolDir(url string) string {
	if p, ok := strings.CutPrefix(url, "duckdb:"); ok && p != "" {
		return filepath.Join(filepath.Dir(p), "spool")
	}
	return filepath.Join("callscope-data", "spool")
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	stdout = &lockedWriter{w: stdout}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := defaultServeConfig()
	var files, ifaces multiFlag
	fs.Var(&files, "r", "capture file to ingest (pcap, pcapng, gzipped or not); repeat for several")
	fs.Var(&ifaces, "i", "network interface to capture live (AF_PACKET; needs root or CAP_NET_RAW); repeat for several")
	hepAddr := fs.String("hep", "", "HEP listen address (UDP and TCP, e.g. :9060) for capture agents")
	filter := fs.String("filter", "", "capture filter for -i, a tcpdump expression run in the kernel (compiled with tcpdump)")
	configFile := fs.String("config", "", "config file (YAML, or JSON when named .json)")
	listen := fs.String("listen", cfg.Listen, "HTTP listen address; login is required when not loopback")
	storeURL := fs.String("store", cfg.Store, "store URL: duckdb:PATH or clickhouse://user:pass@host:9000/db")
	mask := fs.Bool("mask-numbers", false, "mask the digits of phone numbers (all but the last 2) for every viewer")
	keepRTP := fs.String("keep-rtp", cfg.KeepRTP, "RTP kept for pcap export: none, headers or full")
	retention := fs.String("retention", cfg.Retention, "drop stored days older than this (e.g. 30d; 0 keeps everything)")
	open := fs.Bool("open", false, "open the dashboard in a browser")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	files = append(files, fs.Args()...)
	if *configFile != "" {
		if err := loadConfigFile(*configFile, &cfg); err != nil {
			return err
		}
	}
	// Flags given on the command line override the file.
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "listen":
			cfg.Listen = *listen
		case "store":
			cfg.Store = *storeURL
		case "mask-numbers":
			cfg.MaskNumbers = *mask
		case "keep-rtp":
			cfg.KeepRTP = *keepRTP
		case "retention":
			cfg.Retention = *retention
		}
	})
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	// Live sources first: a taken port or a missing interface fails before anything is
	// created.
	if *filter != "" && len(ifaces) == 0 {
		return errors.New("serve --filter applies to live capture: give -i IFACE")
	}
	var hepIn *capture.HEPListener
	if *hepAddr != "" {
		var err error
		if hepIn, err = capture.ListenHEP(*hepAddr, capture.HEPConfig{}); err != nil {
			return err
		}
		defer hepIn.Close()
	}
	var capIn *capture.Live
	if len(ifaces) > 0 {
		var err error
		if capIn, err = capture.OpenLive(ifaces, capture.LiveConfig{Filter: *filter}); err != nil {
			return err
		}
		defer capIn.Close()
	}

	st, err := openStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	live := &liveCalls{}
	if err := live.registerMetrics(reg); err != nil {
		return err
	}
	wcfg := cfg.webConfig()
	wcfg.Logger = log
	// Call metrics and built-in alerting (alerting.go): one engine per ingest source.
	cm, err := callmetrics.New(reg, live.activeCalls)
	if err != nil {
		return err
	}
	cm.Init(cfg.peers.Names())
	al, err := newAlerting(&cfg, reg, log)
	if err != nil {
		return err
	}
	fileHooks := &callHooks{peers: cfg.peers, metrics: cm, engine: al.engine()}
	liveHooks := &callHooks{peers: cfg.peers, metrics: cm, engine: al.engine()}
	if !cfg.Alerts.Disabled {
		wcfg.Alerts = al.active
	}
	handler := web.New(wcfg, st, live, reg)

	if hepIn != nil {
		if err := registerHEPMetrics(reg, hepIn); err != nil {
			return err
		}
	}
	if capIn != nil {
		if err := registerLiveMetrics(reg, capIn); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	url := "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(stdout, "callscope: serving %s (store %s)\n", url, cfg.Store)
	if hepIn != nil {
		fmt.Fprintf(stdout, "callscope: HEP input on %s (UDP and TCP)\n", hepIn.Addr())
	}
	if capIn != nil {
		fmt.Fprintf(stdout, "callscope: capturing on %s\n", strings.Join(ifaces, ", "))
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { al.storeLoop(gctx, st); return nil })
	g.Go(func() error { return al.notifier.Run(gctx) })
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
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

	// Pipeline: files → decode → correlate → store.Writer. The writer never blocks the
	// correlator: beyond its bounded queue it spools to disk.
	wr, err := store.NewWriter(st, store.WriterConfig{SpoolDir: spoolDir(cfg.Store), BatchSize: cfg.StoreBatchSize, Logger: log}, reg)
	if err != nil {
		return err
	}
	ccfg := correlate.DefaultConfig()
	ccfg.KeepMessages = true
	ccfg.KeepRTP = cfg.KeepRTP
	if err := ccfg.Validate(); err != nil {
		return err
	}
	g.Go(func() error {
		if len(files) == 0 {
			return nil
		}
		n, err := ingestFiles(gctx, files, ccfg, wr, live, fileHooks)
		if err != nil && gctx.Err() == nil {
			// A damaged file ends its ingestion; what was read before is served.
			log.Warn("capture file error", "err", err)
		}
		if ferr := wr.Flush(gctx); ferr != nil && gctx.Err() == nil {
			log.Warn("store flush after ingest", "err", ferr)
		}
		fmt.Fprintf(stdout, "callscope: ingested %d calls from %d file(s)\n", n, len(files))
		return nil
	})
	if hepIn != nil || capIn != nil {
		// Live sources share one decoder and correlator (live time); files have their own.
		g.Go(func() error {
			n := ingestLive(gctx, hepIn, capIn, ccfg, wr, live, liveHooks)
			fmt.Fprintf(stdout, "callscope: live input: %d calls\n", n)
			return nil
		})
	}
	if cfg.retention > 0 {
		g.Go(func() error {
			retentionLoop(gctx, st, cfg.retention, log)
			return nil
		})
	}
	if *open {
		openBrowser(url)
	}
	err = g.Wait()
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cerr := wr.Close(cctx); cerr != nil {
		err = errors.Join(err, fmt.Errorf("store writer: %w", cerr))
	}
	fmt.Fprintf(stdout, "callscope: stopped\n")
	return err
}

// liveSnapshotMax caps the in-progress calls published to the dashboard.
const liveSnapshotMax = 500

// ingestFiles replays files through decode and correlate and hands finished calls and
// registrations to the writer; it returns the number of calls.
func ingestFiles(ctx context.Context, files []string, ccfg correlate.Config, wr *store.Writer, live *liveCalls, hooks *callHooks) (int, error) {
	n := 0
	// B2BUA legs arrive linked: the correlator links legs while both are in its table.
	cor := correlate.New(ccfg, correlate.Output{
		Call: func(r *correlate.Record) {
			n++
			hooks.call(r)
			wr.Write(r)
		},
		Registration: func(r *correlate.Registration) { hooks.registration(r); wr.WriteRegistration(*r) },
	})
	pl, err := openPipeline(files, decode.DefaultConfig(), cor)
	if err != nil {
		return 0, err
	}
	defer pl.close()
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

func retentionLoop(ctx context.Context, st store.Store, keep time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		var newest time.Time
		if p, err := st.SearchCalls(ctx, store.CallQuery{Limit: 1}); err == nil && len(p.Calls) > 0 {
			newest = time.Unix(0, int64(p.Calls[0].Start))
		}
		if err := st.DropBefore(ctx, retentionCutoff(time.Now(), newest, keep)); err != nil && ctx.Err() == nil {
			log.Warn("retention failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// retentionCutoff is the time before which stored days are dropped: keep before now, or
// keep before the newest stored call when that is older (a capture file replayed from the
// past keeps its last `keep` of calls instead of losing them all at once).
func retentionCutoff(now, newest time.Time, keep time.Duration) time.Time {
	if !newest.IsZero() && newest.Before(now) {
		return newest.Add(-keep)
	}
	return now.Add(-keep)
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
