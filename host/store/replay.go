package store

import (
	"context"
	"fmt"
	"time"

	"github.com/airlock-dev/airlock/host/sqldb"
)

// Use records that the request proof jti was seen and stays unusable until
// exp. It reports fresh=true the first time, and fresh=false while an earlier
// record of the same jti has not expired. It satisfies identity.ReplayStore.
//
// The check and the insert are one atomic statement, and it returns only once
// the record is durable, so a replay is refused across restarts and across
// processes or nodes sharing the database. Expired rows are pruned every few thousand
// inserts and at Open.
func (db *DB) Use(ctx context.Context, jti string, exp time.Time) (fresh bool, err error) {
	if err := db.check(); err != nil {
		return false, err
	}
	if jti == "" {
		return false, fmt.Errorf("store: replay: %w: empty jti", ErrInvalid)
	}
	now := db.now().Unix()
	// The upsert runs in a group commit (one fsync for many concurrent
	// requests) and the answer is given only after that commit.
	err = db.retry(ctx, func() error {
		return db.db.Batch(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			var err error
			fresh, err = db.useTx(ctx, tx, jti, exp, now)
			return err
		})
	})
	if err != nil {
		return false, db.wrap("replay", err)
	}
	if db.inserts.Add(1)%pruneEvery == 0 {
		// Opportunistic: the answer above is already durable, and rows a
		// failed prune leaves behind are deleted by the next one.
		_ = db.pruneReplay(ctx)
	}
	return fresh, nil
}

// UseTx is Use inside a transaction the caller commits (for example the
// group commit of a request's first audit entries): the jti is recorded if
// and only if that transaction commits. A replay is fresh=false.
func (db *DB) UseTx(ctx context.Context, tx *sqldb.Tx, jti string, exp time.Time) (fresh bool, err error) {
	if err := db.check(); err != nil {
		return false, err
	}
	if jti == "" {
		return false, fmt.Errorf("store: replay: %w: empty jti", ErrInvalid)
	}
	fresh, err = db.useTx(ctx, tx, jti, exp, db.now().Unix())
	if err != nil {
		return false, db.wrap("replay", err)
	}
	if db.inserts.Add(1)%pruneEvery == 0 {
		go func() { _ = db.pruneReplay(context.WithoutCancel(ctx)) }()
	}
	return fresh, nil
}

// useTx is the one atomic upsert: an existing row wins unless it has
// expired; then the jti is recorded again with the new expiry. Exactly one
// row changes when the jti is fresh and none when it is a replay.
func (db *DB) useTx(ctx context.Context, tx *sqldb.Tx, jti string, exp time.Time, now int64) (bool, error) {
	res, err := tx.ExecContext(ctx, `
		INSERT INTO replay (jti, exp) VALUES (?, ?)
		ON CONFLICT (jti) DO UPDATE SET exp = excluded.exp WHERE replay.exp <= ?`,
		jti, ceilUnix(exp), now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// pruneReplay deletes the jti records that have expired.
func (db *DB) pruneReplay(ctx context.Context) error {
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM replay WHERE exp <= ?`, db.now().Unix()); err != nil {
		return db.wrap("prune replay cache", err)
	}
	return nil
}

// ceilUnix rounds t up to whole seconds, so a record never expires early. A
// row is expired once the current whole second reaches it.
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}
