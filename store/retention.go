package store

import (
	"context"
	"log/slog"
	"time"
)

// RetentionLoop deletes every day wholly older than keep from s, once at start and then
// every `every`, until ctx ends (then it returns nil). A failed pass is logged and
// retried at the next tick. It runs on the caller's goroutine.
func RetentionLoop(ctx context.Context, s Store, keep, every time.Duration) error {
	if keep <= 0 {
		return nil
	}
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.DropBefore(ctx, time.Now().Add(-keep)); err != nil && ctx.Err() == nil {
			slog.Warn("store: retention pass failed; retried next tick", "err", err, "every", every)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
