package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/airlock-dev/airlock/host/sqldb"
)

// AddEgress adds n bytes to the egress used by agent in realm on day and
// returns the new total. It implements budget.Counter.
func (db *DB) AddEgress(ctx context.Context, realm, agent, day string, n int64) (int64, error) {
	if err := db.check(); err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, fmt.Errorf("store: add egress: %w: negative byte count", ErrInvalid)
	}
	var total int64
	err := db.sql.QueryRowContext(ctx, `
		INSERT INTO egress_usage (realm, agent, day, bytes) VALUES (?, ?, ?, ?)
		ON CONFLICT (realm, agent, day) DO UPDATE SET bytes = egress_usage.bytes + excluded.bytes
		RETURNING egress_usage.bytes`, realm, agent, day, n).Scan(&total)
	if err != nil {
		return 0, db.wrap("add egress", err)
	}
	return total, nil
}

// Egress returns the egress bytes used by agent in realm on day.
func (db *DB) Egress(ctx context.Context, realm, agent, day string) (int64, error) {
	if err := db.check(); err != nil {
		return 0, err
	}
	return db.countOrZero(ctx, "egress", `SELECT bytes FROM egress_usage WHERE realm = ? AND agent = ? AND day = ?`,
		realm, agent, day)
}

// CallsIn returns the calls counted for agent in realm in minute (unix
// minutes). With AddCall it implements budget.CallCounter.
func (db *DB) CallsIn(ctx context.Context, realm, agent string, minute int64) (int64, error) {
	if err := db.check(); err != nil {
		return 0, err
	}
	return db.countOrZero(ctx, "calls", `SELECT calls FROM call_counts WHERE realm = ? AND agent = ? AND minute = ?`,
		realm, agent, minute)
}

// countOrZero returns the one integer query selects, or 0 when it selects
// no row (nothing counted yet); op names the operation in errors.
func (db *DB) countOrZero(ctx context.Context, op, query string, args ...any) (int64, error) {
	var n int64
	err := db.sql.QueryRowContext(ctx, query, args...).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, db.wrap(op, err)
	}
	return n, nil
}

// AddCall counts one call of agent in realm in minute (unix minutes) if no
// more than maxBefore calls are counted there already, and reports whether
// it did. The check and the increment are one statement, so nodes sharing
// the database never count past the limit together. The count goes through
// the group commit.
func (db *DB) AddCall(ctx context.Context, realm, agent string, minute, maxBefore int64) (bool, error) {
	if err := db.check(); err != nil {
		return false, err
	}
	if maxBefore < 0 {
		return false, nil
	}
	var counted bool
	err := db.retry(ctx, func() error {
		return db.db.Batch(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			res, err := tx.ExecContext(ctx, `
				INSERT INTO call_counts (realm, agent, minute, calls) VALUES (?, ?, ?, 1)
				ON CONFLICT (realm, agent, minute) DO UPDATE SET calls = call_counts.calls + 1
				WHERE call_counts.calls <= ?`, realm, agent, minute, maxBefore)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			counted = n == 1
			return err
		})
	})
	if err != nil {
		return false, db.wrap("add call", err)
	}
	if db.calls.Add(1)%pruneEvery == 0 {
		// Rows older than the previous minute are never read again.
		_, _ = db.sql.ExecContext(ctx, `DELETE FROM call_counts WHERE minute < ?`, minute-1)
	}
	return counted, nil
}
