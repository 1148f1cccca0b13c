package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// MaxBatch is the most callers one group commit serves.
const MaxBatch = 256

// batchTimeout bounds one batch transaction, commit included.
const batchTimeout = 30 * time.Second

// maxCommitDelay (a variable for tests) bounds how long a batch waits for
// the callers announced by Expect before it commits without them.
var maxCommitDelay = time.Millisecond

// ErrClosed reports a Batch on a closed DB.
var ErrClosed = errors.New("database closed")

// Tx is the transaction a Batch function runs in. Its statements must go
// through Tx, never through the DB: on SQLite the DB has one connection and
// the batch holds it.
type Tx struct {
	*sql.Tx
	onFail []func()
}

// OnFail registers f to run if this function's work does not become durable
// (the function failed, or the batch's COMMIT did). Hooks run on the
// batcher's goroutine before the next batch starts, so in-memory state that
// the function advanced can be put back before anyone builds on it.
func (t *Tx) OnFail(f func()) { t.onFail = append(t.onFail, f) }

type batchReq struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *Tx) error
	done chan error
}

// pending is a caller whose work is in the open batch transaction.
type pending struct {
	r  *batchReq
	tx *Tx
}

type batcher struct {
	db     *DB
	reqs   chan *batchReq
	exited chan struct{} // closed when loop returns
}

// Batch runs fn in a transaction shared with the other callers waiting at
// the same moment (group commit) and returns once that transaction has
// committed — the work is durable — or with fn's error or the commit's.
// fn runs inside a savepoint: when it returns an error, only its own work is
// rolled back. fn must not keep tx after it returns.
//
// Batch returns nil only if fn's work committed: a caller whose ctx ends
// while its fn is already running still waits for the commit (bounded by an
// internal timeout), so the answer is always the truth.
func (db *DB) Batch(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	r := &batchReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case db.batch.reqs <- r:
	case <-db.done:
		return fmt.Errorf("sqldb: %w", ErrClosed)
	case <-ctx.Done():
		return ctx.Err()
	}
	// Withdrawn only once queued: a batch that saw the announcement gone
	// before the request arrived would commit without it.
	if e := expectationOf(ctx); e != nil && e.db == db {
		e.withdraw()
	}
	select {
	case err := <-r.done:
		return err
	case <-db.batch.exited:
		// The batcher answers every request it took before it exits: no
		// answer means fn never ran.
		select {
		case err := <-r.done:
			return err
		default:
			return fmt.Errorf("sqldb: %w", ErrClosed)
		}
	}
}

// BatchStats returns how many batches this DB committed (or tried to) and
// how many Batch callers they served: their ratio is the mean group size.
func (db *DB) BatchStats() (batches, callers int64) {
	return db.batches.Load(), db.batched.Load()
}

type expectKey struct{}

// expectation is one caller announced by Expect.
type expectation struct {
	db   *DB
	gone atomic.Bool
}

// expectationOf returns the announcement ctx carries (Expect), or nil.
func expectationOf(ctx context.Context) *expectation {
	e, _ := ctx.Value(expectKey{}).(*expectation)
	return e
}

// withdraw takes the announcement back (once) and wakes a batch waiting
// for it.
func (e *expectation) withdraw() {
	if !e.gone.CompareAndSwap(false, true) {
		return
	}
	e.db.coming.Add(-1)
	select {
	case e.db.comingGone <- struct{}{}:
	default:
	}
}

// Expect announces that the caller is on its way to Batch, as one of
// several concurrent requests each ending in a durable write: while
// announced callers have not arrived, a batch waits for them (at most
// maxCommitDelay) instead of committing alone, so that concurrent
// requests share one commit and its fsync (PostgreSQL's commit_delay with
// commit_siblings, but told instead of guessed). Pass the returned context
// to Batch, which withdraws the announcement once the caller is queued;
// call the returned func (it is idempotent) when the caller is done, so
// that one that ends without calling Batch is not waited for.
//
// A lone caller, or one that announced nothing, never waits.
func (db *DB) Expect(ctx context.Context) (context.Context, func()) {
	if e := expectationOf(ctx); e != nil && e.db == db && !e.gone.Load() {
		return ctx, func() {} // announced already, by the caller's caller
	}
	e := &expectation{db: db}
	db.coming.Add(1)
	return context.WithValue(ctx, expectKey{}, e), e.withdraw
}

// startBatcher starts db's batcher; the constructors call it, so that it
// exists before Close can run (a batcher started on the first Batch could
// be added to db.wg while Close waits on it).
func (db *DB) startBatcher() {
	db.batch = &batcher{db: db, reqs: make(chan *batchReq, MaxBatch), exited: make(chan struct{})}
	db.wg.Add(1)
	go db.batch.loop()
}

// WithdrawAfter takes back the announcement ctx carries (Expect) once d
// has passed, unless the returned stop is called first. It is for work of
// unknown length between the announcement and Batch — a tool that may run
// for seconds — so that the commits meanwhile do not each wait out the
// delay for a caller that is not coming soon. It does nothing when ctx
// carries no announcement.
func WithdrawAfter(ctx context.Context, d time.Duration) (stop func()) {
	e := expectationOf(ctx)
	if e == nil || e.gone.Load() {
		return func() {}
	}
	t := time.AfterFunc(d, e.withdraw)
	return func() { t.Stop() }
}

// MaxCommitDelay is the longest a batch waits for announced callers.
func MaxCommitDelay() time.Duration { return maxCommitDelay }

// loop serves Batch callers until the DB closes, answering every request
// it takes, and closes exited when it returns.
func (b *batcher) loop() {
	defer b.db.wg.Done()
	defer close(b.exited)
	batch := make([]*batchReq, 0, MaxBatch)
	for {
		select {
		case r := <-b.reqs:
			batch = append(batch[:0], r)
		case <-b.db.done:
			b.drain(fmt.Errorf("sqldb: %w", ErrClosed))
			return
		}
		batch = b.gather(batch)
		b.db.batches.Add(1)
		b.db.batched.Add(int64(len(batch)))
		b.run(batch)
		clear(batch)
		b.db.finishCheckpoint()
	}
}

// gather adds to batch the requests already queued and, while callers
// announced by Expect are still on their way, waits for them (at most
// maxCommitDelay, and never past MaxBatch).
func (b *batcher) gather(batch []*batchReq) []*batchReq {
queued:
	for len(batch) < MaxBatch {
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		default:
			break queued
		}
	}
	if b.db.coming.Load() <= 0 {
		return batch
	}
	t := time.NewTimer(maxCommitDelay)
	defer t.Stop()
	for len(batch) < MaxBatch && b.db.coming.Load() > 0 {
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		case <-b.db.comingGone:
		case <-t.C:
			return batch
		case <-b.db.done:
			return batch
		}
	}
	return batch
}

// drain answers every queued caller with err.
func (b *batcher) drain(err error) {
	for {
		select {
		case r := <-b.reqs:
			r.done <- err
		default:
			return
		}
	}
}

// run executes one batch: BEGIN, each function in its savepoint, COMMIT.
func (b *batcher) run(batch []*batchReq) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	sqlTx, err := b.db.sql.BeginTx(ctx, nil)
	if err != nil {
		err = fmt.Errorf("sqldb: begin: %w", err)
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	var committed []pending
	for i, r := range batch {
		tx := &Tx{Tx: sqlTx}
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		sp := "b" + strconv.Itoa(i)
		if _, err := sqlTx.ExecContext(ctx, "SAVEPOINT "+sp); err != nil {
			refuse(r, tx, fmt.Errorf("sqldb: savepoint: %w", err))
			continue
		}
		if err := callFn(r, tx); err != nil {
			if _, rbErr := sqlTx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+sp); rbErr != nil {
				// The transaction is unusable: fail everyone.
				refuse(r, tx, err)
				b.abort(sqlTx, committed, rbErr, batch[i+1:])
				return
			}
			refuse(r, tx, err)
			continue
		}
		if _, err := sqlTx.ExecContext(ctx, "RELEASE SAVEPOINT "+sp); err != nil {
			refuse(r, tx, fmt.Errorf("sqldb: release savepoint: %w", err))
			b.abort(sqlTx, committed, err, batch[i+1:])
			return
		}
		committed = append(committed, pending{r, tx})
	}
	if err := sqlTx.Commit(); err != nil {
		err = fmt.Errorf("sqldb: commit: %w", err)
		for _, c := range committed {
			refuse(c.r, c.tx, err)
		}
		return
	}
	for _, c := range committed {
		c.r.done <- nil
	}
}

// abort rolls the batch back after the transaction broke, failing the
// callers whose work was in it and those not yet run.
func (b *batcher) abort(sqlTx *sql.Tx, done []pending, cause error, rest []*batchReq) {
	_ = sqlTx.Rollback()
	err := fmt.Errorf("sqldb: batch aborted: %w", cause)
	for _, c := range done {
		refuse(c.r, c.tx, err)
	}
	for _, r := range rest {
		r.done <- err
	}
}

// callFn runs r.fn, turning a panic into an error so one bad caller cannot
// stop the batcher.
func callFn(r *batchReq, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqldb: batch function panicked: %v", p)
		}
	}()
	return r.fn(r.ctx, tx)
}

// refuse answers r with err after running the undo hooks of its work.
func refuse(r *batchReq, tx *Tx, err error) {
	for _, f := range tx.onFail {
		f()
	}
	r.done <- err
}
