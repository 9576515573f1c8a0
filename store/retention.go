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
	// Logger receives failed passes; slog.Default() when nil.
	Logger *slog.Logger
}

// RetentionLoop drops stored days, once at start and then every cfg.Every, until ctx
// ends (then it returns nil). Each pass deletes every day wholly before RetentionCutoff
// of the clock, the newest stored call and cfg.Keep. A failed pass is logged and retried
// at the next tick. It runs on the caller's goroutine; its ticker stops when it returns.
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
	t := time.NewTicker(cfg.Every)
	defer t.Stop()
	for {
		if err := retentionPass(ctx, s, cfg.Keep, cfg.Now()); err != nil && ctx.Err() == nil {
			cfg.Logger.Warn("store: retention pass failed; retried next tick", "err", err, "every", cfg.Every)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// retentionPass drops what the cutoff counted from now leaves out.
func retentionPass(ctx context.Context, s Store, keep time.Duration, now time.Time) error {
	var newest time.Time
	p, err := s.SearchCalls(ctx, CallQuery{Limit: 1}) // newest start first
	if err != nil {
		return err
	}
	if len(p.Calls) > 0 {
		newest = time.Unix(0, int64(p.Calls[0].Start))
	}
	return s.DropBefore(ctx, RetentionCutoff(now, newest, keep))
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
