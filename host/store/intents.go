package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// IntentStatus is the state of an intent held for approval.
type IntentStatus string

// The states of DESIGN §9 plus "approved" (decided, not yet run).
const (
	IntentPending  IntentStatus = "pending"
	IntentApproved IntentStatus = "approved"
	IntentDenied   IntentStatus = "denied"
	IntentDone     IntentStatus = "done"
	IntentFailed   IntentStatus = "failed"
	IntentExpired  IntentStatus = "expired"
)

// String returns the status's wire name.
func (s IntentStatus) String() string { return string(s) }

// Intent is an intent held for human approval.
type Intent struct {
	ID, Realm, Agent, Tool, Request string
	Body                            []byte // the intent body exactly as signed
	Status                          IntentStatus
	CreatedAt, ExpiresAt            time.Time
	DecidedBy                       string
	Output                          []byte
	Problem                         string
}

// PutIntent stores a new pending intent.
func (db *DB) PutIntent(ctx context.Context, in Intent) error {
	if err := db.check(); err != nil {
		return err
	}
	_, err := db.sql.ExecContext(ctx, `
		INSERT INTO intents (id, realm, agent, tool, request, body, status, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
		in.ID, in.Realm, in.Agent, in.Tool, in.Request, nonNil(in.Body), in.CreatedAt.UnixMicro(), in.ExpiresAt.UnixMicro())
	if err != nil {
		return db.wrap("put intent", err)
	}
	return nil
}

const intentColumns = `id, realm, agent, tool, request, body, status, created_at, expires_at, decided_by, output, problem`

type scanner interface{ Scan(dest ...any) error }

func scanIntent(r scanner) (*Intent, error) {
	var (
		in       Intent
		st       string
		cr, ex   int64
		out      []byte
		decided  string
		problem  string
		bodyCopy []byte
	)
	if err := r.Scan(&in.ID, &in.Realm, &in.Agent, &in.Tool, &in.Request, &bodyCopy, &st, &cr, &ex, &decided, &out, &problem); err != nil {
		return nil, err
	}
	in.Body, in.Status, in.DecidedBy, in.Output, in.Problem = bodyCopy, IntentStatus(st), decided, out, problem
	in.CreatedAt, in.ExpiresAt = time.UnixMicro(cr).UTC(), time.UnixMicro(ex).UTC()
	return &in, nil
}

// GetIntent returns the intent id, or ErrNotFound.
func (db *DB) GetIntent(ctx context.Context, id string) (*Intent, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	in, err := scanIntent(db.sql.QueryRowContext(ctx, `SELECT `+intentColumns+` FROM intents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: intent: %w", ErrNotFound)
	}
	if err != nil {
		return nil, db.wrap("get intent", err)
	}
	return in, nil
}

// PendingIntents lists the pending intents of realm, oldest first.
func (db *DB) PendingIntents(ctx context.Context, realm string, limit int) ([]Intent, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT `+intentColumns+` FROM intents
		WHERE realm = ? AND status = 'pending' ORDER BY created_at LIMIT ?`, realm, limit)
	if err != nil {
		return nil, db.wrap("pending intents", err)
	}
	defer rows.Close()
	var out []Intent
	for rows.Next() {
		in, err := scanIntent(rows)
		if err != nil {
			return nil, db.wrap("pending intents", err)
		}
		out = append(out, *in)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("pending intents", err)
	}
	return out, nil
}

// CountPending counts the pending intents of one agent in realm.
func (db *DB) CountPending(ctx context.Context, realm, agent string) (int, error) {
	if err := db.check(); err != nil {
		return 0, err
	}
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM intents WHERE realm = ? AND agent = ? AND status = 'pending'`,
		realm, agent).Scan(&n); err != nil {
		return 0, db.wrap("count pending", err)
	}
	return n, nil
}

// DecideIntent moves a pending, unexpired intent to approved or denied,
// exactly once: the row is locked (FOR UPDATE on PostgreSQL; SQLite's write
// lock) while it is checked and changed, so of two decisions — a replayed
// approval, or two operators on two nodes — one wins and the other finds it
// no longer pending and gets ErrNotFound. An expired one becomes expired.
func (db *DB) DecideIntent(ctx context.Context, id string, to IntentStatus, by string, now time.Time) error {
	if err := db.check(); err != nil {
		return err
	}
	if to != IntentApproved && to != IntentDenied {
		return fmt.Errorf("store: decide intent: %w: status %q", ErrInvalid, to)
	}
	return db.retry(ctx, func() error { return db.decide(ctx, id, to, by, now) })
}

func (db *DB) decide(ctx context.Context, id string, to IntentStatus, by string, now time.Time) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap("decide intent", err)
	}
	defer tx.Rollback()
	var (
		status  string
		expires int64
	)
	err = tx.QueryRowContext(ctx, `SELECT status, expires_at FROM intents WHERE id = ?`+db.forUpdate(), id).
		Scan(&status, &expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && status != string(IntentPending)) {
		return fmt.Errorf("store: intent %s is not pending: %w", id, ErrNotFound)
	}
	if err != nil {
		return db.wrap("decide intent", err)
	}
	if expires <= now.UnixMicro() {
		if _, err := tx.ExecContext(ctx, `UPDATE intents SET status = 'expired' WHERE id = ?`, id); err != nil {
			return db.wrap("decide intent", err)
		}
		if err := tx.Commit(); err != nil {
			return db.wrap("decide intent", err)
		}
		return fmt.Errorf("store: intent %s is not pending: %w", id, ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE intents SET status = ?, decided_by = ? WHERE id = ?`,
		string(to), by, id); err != nil {
		return db.wrap("decide intent", err)
	}
	if err := tx.Commit(); err != nil {
		return db.wrap("decide intent", err)
	}
	return nil
}

// FinishIntent records the outcome of an approved intent.
func (db *DB) FinishIntent(ctx context.Context, id string, to IntentStatus, output []byte, problem string) error {
	if err := db.check(); err != nil {
		return err
	}
	res, err := db.sql.ExecContext(ctx, `UPDATE intents SET status = ?, output = ?, problem = ?
		WHERE id = ? AND status = 'approved'`, string(to), output, problem, id)
	if err != nil {
		return db.wrap("finish intent", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("store: intent %s is not approved: %w", id, ErrNotFound)
	}
	return nil
}

// ExpireIntents marks every pending intent past its expiry as expired.
func (db *DB) ExpireIntents(ctx context.Context, now time.Time) error {
	if err := db.check(); err != nil {
		return err
	}
	if _, err := db.sql.ExecContext(ctx, `UPDATE intents SET status = 'expired' WHERE status = 'pending' AND expires_at <= ?`, now.UnixMicro()); err != nil {
		return db.wrap("expire intents", err)
	}
	return nil
}
