package intent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/sqldb"
)

// ReplayStore records request jtis (store.DB). UseTx does it inside the
// caller's transaction, so that a jti commits together with the request's
// first audit entries.
type ReplayStore interface {
	Use(ctx context.Context, jti string, exp time.Time) (fresh bool, err error)
	UseTx(ctx context.Context, tx *sqldb.Tx, jti string, exp time.Time) (fresh bool, err error)
}

// replayState is the jti of a request whose proof was verified without
// consuming it (InvokeFresh). It is recorded by the request's first audit
// write, in the same commit.
type replayState struct {
	jti   string
	until time.Time

	mu   sync.Mutex
	done bool // recorded, or found to be a replay
}

type replayKey struct{}

// expecter is an audit log that can be told of an append to come
// (audit.Log.Expect).
type expecter interface {
	Expect(ctx context.Context) (context.Context, func())
}

// InvokeFresh is Invoke for a proof whose jti has not been recorded yet
// (identity.RequestVerifier.VerifyDeferred). The jti is recorded in the
// same commit as the request's first audit entries — for a tool that calls
// no host function, the one commit that holds its invoke and result
// entries — so a request costs one durable commit instead of three. A jti
// seen before is identity.ErrReplay, and then nothing of the request was
// recorded or done: a tool may have computed, but it made no host call
// (host calls wait for the first commit) and its output is withheld.
func (s *Service) InvokeFresh(ctx context.Context, proof *identity.Proof, body []byte) (*Result, *Outcome, error) {
	if s.Replay == nil {
		return nil, nil, fmt.Errorf("%w: no replay store", ErrUnavailable)
	}
	rs := &replayState{jti: proof.Jti, until: proof.ReplayUntil()}
	ctx, withdraw := s.Expect(ctx)
	defer withdraw()
	res, out, err := s.Invoke(context.WithValue(ctx, replayKey{}, rs), proof, body)
	if errors.Is(err, identity.ErrReplay) {
		return nil, nil, err
	}
	rs.mu.Lock()
	done := rs.done
	rs.mu.Unlock()
	if !done {
		// The request ended before writing anything (a store failure): the
		// jti is still recorded, and a replay still answered as one.
		fresh, uerr := s.Replay.Use(ctx, rs.jti, rs.until)
		if uerr != nil {
			return nil, nil, fmt.Errorf("%w: replay store: %v", ErrUnavailable, uerr)
		}
		if !fresh {
			return nil, nil, fmt.Errorf("intent: %w: jti already used", identity.ErrReplay)
		}
	}
	return res, out, err
}

// Expect announces an intent that will end in an audit commit, so that a
// commit under way waits for it and concurrent intents share one fsync
// (sqldb.DB.Expect). Call it as early as the request is known to be an
// intent (the HTTP layer does, before checking the proof) and pass the
// context on; call done when the request is over. InvokeFresh announces
// the intent itself when the caller did not.
func (s *Service) Expect(ctx context.Context) (context.Context, func()) {
	if e, ok := s.Audit.(expecter); ok {
		return e.Expect(ctx)
	}
	return ctx, func() {}
}

// appendAll writes entries (negative parents are relative, see
// audit.Log.AppendAll), recording the request's pending jti first when
// there is one. It returns identity.ErrReplay when that jti was used
// before; any other error means the log is unavailable.
func (s *Service) appendAll(ctx context.Context, entries ...audit.Entry) ([]int64, error) {
	rs, _ := ctx.Value(replayKey{}).(*replayState)
	var pre audit.Pre
	if rs != nil && s.Replay != nil {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if !rs.done {
			pre = func(ctx context.Context, tx *sqldb.Tx) error {
				fresh, err := s.Replay.UseTx(ctx, tx, rs.jti, rs.until)
				if err != nil {
					return fmt.Errorf("%w: replay store: %v", ErrUnavailable, err)
				}
				if !fresh {
					return fmt.Errorf("intent: %w: jti already used", identity.ErrReplay)
				}
				return nil
			}
		}
	}
	idx, err := s.Audit.AppendAll(ctx, pre, entries...)
	if pre != nil && (err == nil || errors.Is(err, identity.ErrReplay)) {
		rs.done = true
	}
	return idx, err
}

// appendOne is appendAll for one entry.
func (s *Service) appendOne(ctx context.Context, e audit.Entry) (int64, error) {
	idx, err := s.appendAll(ctx, e)
	if err != nil {
		return -1, err
	}
	return idx[0], nil
}

// auditFailure is the error a caller returns when an audit write failed:
// a replay stays a replay (and out, when given, says so), anything else is
// unavailable.
func (s *Service) auditFailure(out *Outcome, err error, what string) error {
	if errors.Is(err, identity.ErrReplay) {
		if out != nil {
			out.Decision = "replay"
		}
		return err
	}
	s.Logger.Error("audit append failed; "+what, "err", err)
	return fmt.Errorf("%w: audit log unavailable", ErrUnavailable)
}

// recordDecision writes e with the decision it records in out (its index
// and decision) or, when it cannot be written, returns auditFailure's error.
func (s *Service) recordDecision(ctx context.Context, e audit.Entry, out *Outcome, decision string) error {
	idx, err := s.appendOne(ctx, e)
	if err != nil {
		return s.auditFailure(out, err, "refusing")
	}
	out.Seq, out.Decision = idx, decision
	return nil
}
