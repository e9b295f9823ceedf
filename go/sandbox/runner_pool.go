//go:build linux

package sandbox

import "log/slog"

// takePrestarted hands out a pre-started init with config sent, or nil, and
// starts a replacement in the background. A pre-started init that died
// meanwhile (the write fails) is dropped.
func (r *Runner) takePrestarted(config []byte) *initHandle {
	if r.pool == nil {
		return nil
	}
	for {
		var h *initHandle
		select {
		case h = <-r.pool:
		default:
			r.refill()
			return nil
		}
		// The config goes first: the replacement's fork and start-up
		// would otherwise compete with it and with this init's wake-up.
		err := h.sendConfig(config)
		r.refill()
		if err != nil {
			h.discard()
			continue
		}
		h.prestarted = true
		return h
	}
}

// refill starts one init for the pool in the background.
func (r *Runner) refill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.spawning+len(r.pool) >= cap(r.pool) {
		return
	}
	r.spawning++
	generation := r.generation
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		h, err := r.startInit(-1, nil)
		r.mu.Lock()
		r.spawning--
		if err != nil {
			r.mu.Unlock()
			r.logger.Warn("cannot pre-start a sandbox init", slog.String("error", err.Error()))
			return
		}
		if r.closed || generation != r.generation {
			stale := !r.closed
			r.mu.Unlock()
			h.discard()
			if stale {
				r.refill()
			}
			return
		}
		r.pool <- h // cannot block: spawning+len(pool) < cap(pool) held
		r.mu.Unlock()
	}()
}

// Refresh replaces the pre-started inits, including those starting now, so
// that the next actions see the host mounts made until now (see
// Options.Prestart).
func (r *Runner) Refresh() {
	if r.pool == nil {
		return
	}
	// Everything in the pool now started before the new generation; an
	// init starting now is discarded when it comes up (see refill).
	r.mu.Lock()
	r.generation++
	var stale []*initHandle
drain:
	for {
		select {
		case h := <-r.pool:
			stale = append(stale, h)
		default:
			break drain
		}
	}
	r.mu.Unlock()
	for _, h := range stale {
		h.discard()
		r.refill()
	}
}

// Prestarted is how many pre-started inits wait for an action now.
func (r *Runner) Prestarted() int {
	if r.pool == nil {
		return 0
	}
	return len(r.pool)
}
