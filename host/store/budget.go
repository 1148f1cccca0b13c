package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
		ON CONFLICT (realm, agent, day) DO UPDATE SET bytes = bytes + excluded.bytes
		RETURNING bytes`, realm, agent, day, n).Scan(&total)
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
	var total int64
	err := db.sql.QueryRowContext(ctx, `SELECT bytes FROM egress_usage WHERE realm = ? AND agent = ? AND day = ?`,
		realm, agent, day).Scan(&total)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, db.wrap("egress", err)
	}
	return total, nil
}
