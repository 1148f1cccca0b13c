// Package budget enforces the per-agent budgets of a grant (DESIGN §2):
// calls per minute and egress bytes per day. Timeouts and memory are
// enforced by the runtime from the effective limits.
//
// # Security
//
// Budgets are kept per (realm, agent), so one agent exhausting its budget
// never consumes or slows another's: the call limiter takes one short lock
// per decision and holds no lock while a tool runs. Egress bytes are durable
// (the store), so a restart does not refill a day's budget. Calls per minute
// are kept in memory on a single host (a restart resets at most one minute)
// and in the shared database when several nodes serve as one host
// ([Calls.Shared]), so that an agent cannot multiply its budget by the
// number of nodes behind the load balancer.
package budget

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// ErrExceeded is returned when a budget is spent.
var ErrExceeded = errors.New("budget: exceeded")

type key struct{ realm, agent string }

// window is a sliding one-minute window approximated by two fixed buckets.
type window struct {
	start     time.Time // start of the current bucket
	cur, prev int
}

// Calls limits calls per minute per (realm, agent). The zero value is ready
// and counts in memory.
type Calls struct {
	// Shared, when set, keeps the counts in a database the nodes of a
	// multi-node host share (the store implements it); the in-memory count
	// is then not used.
	Shared CallCounter

	mu sync.Mutex
	w  map[key]*window
}

// CallCounter is a per-minute call count shared by several nodes (the store
// implements it).
type CallCounter interface {
	// CallsIn returns the calls counted for (realm, agent) in minute (unix
	// minutes).
	CallsIn(ctx context.Context, realm, agent string, minute int64) (int64, error)
	// AddCall counts one call in minute if at most maxBefore calls are
	// counted there already, atomically, and reports whether it did.
	AddCall(ctx context.Context, realm, agent string, minute, maxBefore int64) (bool, error)
}

// sharedTimeout bounds one decision against the shared counter when the
// caller gives no context ([Calls.Allow]).
const sharedTimeout = 5 * time.Second

// Allow records one call and reports whether it is within perMinute
// (0 = unlimited). A refused call is not counted. With a Shared counter it
// is [Calls.AllowContext] under a timeout of its own.
func (c *Calls) Allow(realm, agent string, perMinute int, now time.Time) error {
	if perMinute > 0 && c.Shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		defer cancel()
		return c.AllowContext(ctx, realm, agent, perMinute, now)
	}
	return c.AllowContext(context.Background(), realm, agent, perMinute, now)
}

// AllowContext is Allow for a caller with a context. With a Shared counter
// the window is the same two-bucket approximation, with the buckets in the
// database; an error of the database refuses the call (fail closed) with an
// error that is not ErrExceeded.
func (c *Calls) AllowContext(ctx context.Context, realm, agent string, perMinute int, now time.Time) error {
	if perMinute <= 0 {
		return nil
	}
	if c.Shared != nil {
		return c.allowShared(ctx, realm, agent, perMinute, now)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w == nil {
		c.w = map[key]*window{}
	}
	k := key{realm, agent}
	w := c.w[k]
	if w == nil {
		w = &window{start: now.Truncate(time.Minute)}
		c.w[k] = w
	}
	bucket := now.Truncate(time.Minute)
	switch d := bucket.Sub(w.start); {
	case d >= 2*time.Minute:
		w.prev, w.cur, w.start = 0, 0, bucket
	case d >= time.Minute:
		w.prev, w.cur, w.start = w.cur, 0, bucket
	}
	// weight the previous bucket by how much of it is still inside the window
	frac := 1 - float64(now.Sub(w.start))/float64(time.Minute)
	used := float64(w.prev)*frac + float64(w.cur)
	if used+1 > float64(perMinute) {
		return fmt.Errorf("%w: more than %d calls per minute", ErrExceeded, perMinute)
	}
	w.cur++
	if len(c.w) > 100000 {
		c.prune(now)
	}
	return nil
}

func (c *Calls) allowShared(ctx context.Context, realm, agent string, perMinute int, now time.Time) error {
	bucket := now.Truncate(time.Minute)
	minute := bucket.Unix() / 60
	prev, err := c.Shared.CallsIn(ctx, realm, agent, minute-1)
	if err != nil {
		return fmt.Errorf("budget: calls per minute: %w", err)
	}
	frac := 1 - float64(now.Sub(bucket))/float64(time.Minute)
	// used + 1 <= perMinute, with used = prev*frac + cur and cur an integer:
	// cur <= floor(perMinute - 1 - prev*frac).
	maxBefore := int64(math.Floor(float64(perMinute) - 1 - float64(prev)*frac))
	ok, err := c.Shared.AddCall(ctx, realm, agent, minute, maxBefore)
	if err != nil {
		return fmt.Errorf("budget: calls per minute: %w", err)
	}
	if !ok {
		return fmt.Errorf("%w: more than %d calls per minute", ErrExceeded, perMinute)
	}
	return nil
}

func (c *Calls) prune(now time.Time) {
	for k, w := range c.w {
		if now.Sub(w.start) >= 2*time.Minute {
			delete(c.w, k)
		}
	}
}

// Counter is durable per-day usage (the store implements it).
type Counter interface {
	// AddEgress adds n bytes to (realm, agent, day) and returns the new total.
	AddEgress(ctx context.Context, realm, agent, day string, n int64) (int64, error)
	// Egress returns the bytes used on (realm, agent, day).
	Egress(ctx context.Context, realm, agent, day string) (int64, error)
}

// Day names the UTC day of t, the unit of egress budgets.
func Day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// CheckEgress refuses when (realm, agent) has already spent perDay bytes
// today (0 = unlimited).
func CheckEgress(ctx context.Context, c Counter, realm, agent string, perDay int64, now time.Time) error {
	if perDay <= 0 {
		return nil
	}
	used, err := c.Egress(ctx, realm, agent, Day(now))
	if err != nil {
		return fmt.Errorf("budget: %w", err)
	}
	if used >= perDay {
		return fmt.Errorf("%w: %d egress bytes per day", ErrExceeded, perDay)
	}
	return nil
}
