package store

import (
	"context"
	"log/slog"
	"time"
)

// RetentionConfig configures RetentionLoop.
type RetentionConfig struct {
	// Keep is how much to keep; zero or less keeps everything (the loop returns at once).
	Keep time.Duration
	// Every is the time between passes; one hour when zero.
	Every time.Duration
	// Now is the clock the cutoff is counted back from; time.Now when nil (tests inject
	// one).
	Now func() time.Time
	// Start, when not nil, holds the first pass back until it is closed (serve closes it
	// when its capture files are ingested, so the first pass sees their newest call).
	Start <-chan struct{}
	// Floor, when not nil, returns the start of the oldest call this process ingested
	// and must keep (zero: none); no pass cuts after it. Calls replayed from files older
	// than Keep are what the operator asked to look at, so retention never deletes them.
	Floor func() time.Time
	// Logger receives every deletion and failed passes; slog.Default() when nil.
	Logger *slog.Logger
}

// RetentionLoop drops stored days, once at start (after cfg.Start) and then every
// cfg.Every, until ctx ends (then it returns nil). Each pass deletes every day wholly
// before RetentionCutoff of the clock, the newest stored call and cfg.Keep, moved back
// to cfg.Floor when that is older, and logs what it deletes (the range and the number
// of calls). A failed pass is logged and retried at the next tick. It runs on the
// caller's goroutine; its ticker stops when it returns.
func RetentionLoop(ctx context.Context, s Store, cfg RetentionConfig) error {
	if cfg.Keep <= 0 {
		return nil
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Start != nil {
		select {
		case <-ctx.Done():
			return nil
		case <-cfg.Start:
		}
	}
	t := time.NewTicker(cfg.Every)
	defer t.Stop()
	for {
		if err := retentionPass(ctx, s, cfg); err != nil && ctx.Err() == nil {
			cfg.Logger.Warn("store: retention pass failed; retried next tick", "err", err, "every", cfg.Every)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// retentionPass drops what the cutoff leaves out and logs it.
func retentionPass(ctx context.Context, s Store, cfg RetentionConfig) error {
	var newest time.Time
	p, err := s.SearchCalls(ctx, CallQuery{Limit: 1}) // newest start first
	if err != nil {
		return err
	}
	if len(p.Calls) > 0 {
		newest = time.Unix(0, int64(p.Calls[0].Start))
	}
	cut := RetentionCutoff(cfg.Now(), newest, cfg.Keep)
	if cfg.Floor != nil {
		if f := cfg.Floor(); !f.IsZero() && f.Before(cut) {
			cut = f
		}
	}
	// DropBefore deletes whole days: count what goes first, so the log says it.
	end := DayFloor(cut)
	gone, err := s.Stats(ctx, StatsQuery{From: time.Unix(0, 0), To: end})
	if err != nil {
		return err
	}
	if err := s.DropBefore(ctx, cut); err != nil {
		return err
	}
	if gone.Total.Calls == 0 { // nothing a reader would miss: registrations and alert events only
		cfg.Logger.Debug("store: retention pass deleted no calls", "before", end.Format(time.RFC3339), "keep", cfg.Keep)
		return nil
	}
	cfg.Logger.Info("store: retention deleted calls", "calls", gone.Total.Calls, "before", end.Format(time.RFC3339), "keep", cfg.Keep,
		"newest_stored", newest.UTC().Format(time.RFC3339))
	return nil
}

// RetentionCutoff is the time before which stored days are dropped: keep counted back
// from now or, when the newest stored call is older, from that call (a capture file
// replayed from the past keeps its last `keep` of calls instead of losing them all at
// once). A newest call in the future (clock skew) counts from now. newest is zero for
// an empty store.
func RetentionCutoff(now, newest time.Time, keep time.Duration) time.Time {
	if !newest.IsZero() && newest.Before(now) {
		return newest.Add(-keep)
	}
	return now.Add(-keep)
}
