package monitor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/airlock-dev/airlock/host/sqldb"
)

// quarantineSchema is created with IF NOT EXISTS on the host's database.
const quarantineSchema = `CREATE TABLE IF NOT EXISTS quarantine (
	realm  TEXT NOT NULL,
	agent  TEXT NOT NULL,
	reason TEXT NOT NULL,
	at     INTEGER NOT NULL, -- unix microseconds
	PRIMARY KEY (realm, agent)
)`

// pgQuarantineSchema is quarantineSchema in PostgreSQL's dialect.
const pgQuarantineSchema = `CREATE TABLE IF NOT EXISTS quarantine (
	realm  TEXT NOT NULL,
	agent  TEXT NOT NULL,
	reason TEXT NOT NULL,
	at     BIGINT NOT NULL,
	PRIMARY KEY (realm, agent)
)`

// MaxReasonBytes bounds the reason stored with a quarantine.
const MaxReasonBytes = 512

// Quarantined is one row of the quarantine list.
type Quarantined struct {
	Realm, Agent, Reason string
	At                   time.Time
}

// QuarantineStore is the durable list of quarantined agents: an agent on it
// gets "quarantined" (403) on every request until an operator releases it.
// Every method is one statement, safe for concurrent use and for several
// nodes sharing a PostgreSQL database; there nothing is cached, so a
// quarantine or a release on one node takes effect on all at their next
// check. On SQLite, whose file only this process writes, IsQuarantined
// remembers its answers until the next Quarantine or Release
// (sqldb.Memo).
type QuarantineStore struct {
	db   *sql.DB
	read *sql.DB // lookups: never wait behind a commit
	now  func() time.Time
	memo *sqldb.Memo[quarantineKey, bool]
}

// quarantineKey is one remembered IsQuarantined answer.
type quarantineKey struct{ realm, agent string }

// OpenQuarantineStore creates the quarantine table if needed, in the
// dialect of db.
func OpenQuarantineStore(ctx context.Context, db *sqldb.DB) (*QuarantineStore, error) {
	if db == nil {
		return nil, errors.New("monitor: nil database")
	}
	ddl := quarantineSchema
	if db.Dialect() == sqldb.Postgres {
		ddl = pgQuarantineSchema
	}
	if err := db.CreateSchema(ctx, ddl); err != nil {
		return nil, fmt.Errorf("monitor: create quarantine table: %w", err)
	}
	return &QuarantineStore{db: db.SQL(), read: db.Reader(), now: time.Now,
		memo: sqldb.NewMemo[quarantineKey, bool](db, "quarantine")}, nil
}

// Quarantine puts (realm, agent) on the list with reason (e.g. the alert
// kind). Quarantining an agent already on the list keeps the first reason
// and time.
func (q *QuarantineStore) Quarantine(ctx context.Context, realm, agent, reason string) error {
	if realm == "" || agent == "" {
		return errors.New("monitor: quarantine needs a realm and an agent")
	}
	// PostgreSQL text holds neither NUL nor invalid UTF-8.
	reason = strings.ToValidUTF8(strings.ReplaceAll(reason, "\x00", ""), "\uFFFD")
	if len(reason) > MaxReasonBytes {
		i := MaxReasonBytes
		for i > 0 && !utf8.RuneStart(reason[i]) {
			i-- // never cut a character in two
		}
		reason = reason[:i]
	}
	_, err := q.db.ExecContext(ctx, `INSERT INTO quarantine (realm, agent, reason, at) VALUES (?, ?, ?, ?)
		ON CONFLICT (realm, agent) DO NOTHING`, realm, agent, reason, q.now().UnixMicro())
	q.memo.Invalidate() // whatever the outcome: the write may have happened
	if err != nil {
		return fmt.Errorf("monitor: quarantine: %w", err)
	}
	return nil
}

// Release takes (realm, agent) off the list and reports whether it was on it.
func (q *QuarantineStore) Release(ctx context.Context, realm, agent string) (bool, error) {
	res, err := q.db.ExecContext(ctx, `DELETE FROM quarantine WHERE realm = ? AND agent = ?`, realm, agent)
	q.memo.Invalidate() // whatever the outcome: the write may have happened
	if err != nil {
		return false, fmt.Errorf("monitor: release: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("monitor: release: %w", err)
	}
	return n > 0, nil
}

// IsQuarantined reports whether (realm, agent) is on the list. An error
// means "unknown": callers fail closed and refuse the request.
func (q *QuarantineStore) IsQuarantined(ctx context.Context, realm, agent string) (bool, error) {
	key := quarantineKey{realm, agent}
	if on, ok := q.memo.Get(key); ok {
		return on, nil
	}
	gen := q.memo.Gen()
	var one int
	err := q.read.QueryRowContext(ctx,
		`SELECT 1 FROM quarantine WHERE realm = ? AND agent = ?`, realm, agent).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		q.memo.Put(gen, key, false)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("monitor: quarantine check: %w", err)
	}
	q.memo.Put(gen, key, true)
	return true, nil
}

// List returns the quarantined agents of realm, oldest first.
func (q *QuarantineStore) List(ctx context.Context, realm string) ([]Quarantined, error) {
	rows, err := q.db.QueryContext(ctx,
		`SELECT agent, reason, at FROM quarantine WHERE realm = ? ORDER BY at, agent`, realm)
	if err != nil {
		return nil, fmt.Errorf("monitor: list quarantine: %w", err)
	}
	defer rows.Close()
	var out []Quarantined
	for rows.Next() {
		r := Quarantined{Realm: realm}
		var at int64
		if err := rows.Scan(&r.Agent, &r.Reason, &at); err != nil {
			return nil, fmt.Errorf("monitor: list quarantine: %w", err)
		}
		r.At = time.UnixMicro(at).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("monitor: list quarantine: %w", err)
	}
	return out, nil
}
