package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/airlock-dev/airlock/host/sqldb"
)

// migrations are applied in order (on SQLite; pgMigrations on PostgreSQL); migrations[i] brings the schema from
// version i to version i+1. Never edit a migration that has shipped: append a
// new one.
var migrations = []string{
	// 1: replay cache, revocations, plugin registry.
	`CREATE TABLE replay (
		jti TEXT PRIMARY KEY,
		exp INTEGER NOT NULL -- unix seconds, rounded up
	) WITHOUT ROWID;
	CREATE INDEX replay_exp ON replay(exp);

	CREATE TABLE revocations (
		realm   TEXT NOT NULL,
		kind    TEXT NOT NULL CHECK (kind IN ('grant', 'agent', 'publisher')),
		subject TEXT NOT NULL,
		at      INTEGER NOT NULL, -- unix microseconds
		by      TEXT NOT NULL,
		PRIMARY KEY (realm, kind, subject)
	) WITHOUT ROWID;

	CREATE TABLE plugins (
		realm           TEXT NOT NULL,
		name            TEXT NOT NULL,
		version         TEXT NOT NULL,
		manifest_sha256 TEXT NOT NULL,
		manifest        BLOB NOT NULL,
		manifest_jws    TEXT NOT NULL,
		module_sha256   TEXT NOT NULL,
		module          BLOB NOT NULL,
		publisher       TEXT NOT NULL,
		installed_by    TEXT NOT NULL,
		installed_at    INTEGER NOT NULL, -- unix microseconds
		PRIMARY KEY (realm, name)
	);`,
	// 2: re-installs that change a tool's surface wait here for approval.
	`CREATE TABLE pending_plugins (
		realm           TEXT NOT NULL,
		name            TEXT NOT NULL,
		version         TEXT NOT NULL,
		manifest_sha256 TEXT NOT NULL,
		manifest        BLOB NOT NULL,
		manifest_jws    TEXT NOT NULL,
		module_sha256   TEXT NOT NULL,
		module          BLOB NOT NULL,
		publisher       TEXT NOT NULL,
		installed_by    TEXT NOT NULL,
		installed_at    INTEGER NOT NULL,
		PRIMARY KEY (realm, name)
	);`,
	// 3: durable per-day budgets.
	`CREATE TABLE egress_usage (
		realm TEXT NOT NULL,
		agent TEXT NOT NULL,
		day   TEXT NOT NULL, -- UTC YYYY-MM-DD
		bytes INTEGER NOT NULL,
		PRIMARY KEY (realm, agent, day)
	) WITHOUT ROWID;`,
	// 4: intents held for human approval, and their outcome.
	`CREATE TABLE intents (
		id          TEXT PRIMARY KEY,
		realm       TEXT NOT NULL,
		agent       TEXT NOT NULL,
		tool        TEXT NOT NULL,
		request     TEXT NOT NULL, -- request proof jti of the original intent
		body        BLOB NOT NULL, -- the intent body exactly as signed
		status      TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'done', 'failed', 'expired')),
		created_at  INTEGER NOT NULL, -- unix microseconds
		expires_at  INTEGER NOT NULL,
		decided_by  TEXT NOT NULL DEFAULT '',
		output      BLOB,
		problem     TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX intents_pending ON intents(realm, status);
	CREATE INDEX intents_agent ON intents(realm, agent, status);`,
	// 5: calls-per-minute budgets shared by the nodes of a PostgreSQL
	// store (one row per realm, agent and minute).
	`CREATE TABLE call_counts (
		realm  TEXT NOT NULL,
		agent  TEXT NOT NULL,
		minute INTEGER NOT NULL, -- unix minutes
		calls  INTEGER NOT NULL,
		PRIMARY KEY (realm, agent, minute)
	) WITHOUT ROWID;`,
}

// pgMigrations are migrations in PostgreSQL's dialect: BIGINT for unix
// times, BYTEA for BLOB, no WITHOUT ROWID. pgMigrations[i] must create what
// migrations[i] creates, with the same names.
var pgMigrations = []string{
	// 1
	`CREATE TABLE replay (
		jti TEXT PRIMARY KEY,
		exp BIGINT NOT NULL
	);
	CREATE INDEX replay_exp ON replay(exp);

	CREATE TABLE revocations (
		realm   TEXT NOT NULL,
		kind    TEXT NOT NULL CHECK (kind IN ('grant', 'agent', 'publisher')),
		subject TEXT NOT NULL,
		at      BIGINT NOT NULL,
		by      TEXT NOT NULL,
		PRIMARY KEY (realm, kind, subject)
	);

	CREATE TABLE plugins (
		realm           TEXT NOT NULL,
		name            TEXT NOT NULL,
		version         TEXT NOT NULL,
		manifest_sha256 TEXT NOT NULL,
		manifest        BYTEA NOT NULL,
		manifest_jws    TEXT NOT NULL,
		module_sha256   TEXT NOT NULL,
		module          BYTEA NOT NULL,
		publisher       TEXT NOT NULL,
		installed_by    TEXT NOT NULL,
		installed_at    BIGINT NOT NULL,
		PRIMARY KEY (realm, name)
	);`,
	// 2
	`CREATE TABLE pending_plugins (
		realm           TEXT NOT NULL,
		name            TEXT NOT NULL,
		version         TEXT NOT NULL,
		manifest_sha256 TEXT NOT NULL,
		manifest        BYTEA NOT NULL,
		manifest_jws    TEXT NOT NULL,
		module_sha256   TEXT NOT NULL,
		module          BYTEA NOT NULL,
		publisher       TEXT NOT NULL,
		installed_by    TEXT NOT NULL,
		installed_at    BIGINT NOT NULL,
		PRIMARY KEY (realm, name)
	);`,
	// 3
	`CREATE TABLE egress_usage (
		realm TEXT NOT NULL,
		agent TEXT NOT NULL,
		day   TEXT NOT NULL,
		bytes BIGINT NOT NULL,
		PRIMARY KEY (realm, agent, day)
	);`,
	// 4
	`CREATE TABLE intents (
		id          TEXT PRIMARY KEY,
		realm       TEXT NOT NULL,
		agent       TEXT NOT NULL,
		tool        TEXT NOT NULL,
		request     TEXT NOT NULL,
		body        BYTEA NOT NULL,
		status      TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'done', 'failed', 'expired')),
		created_at  BIGINT NOT NULL,
		expires_at  BIGINT NOT NULL,
		decided_by  TEXT NOT NULL DEFAULT '',
		output      BYTEA,
		problem     TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX intents_pending ON intents(realm, status);
	CREATE INDEX intents_agent ON intents(realm, agent, status);`,
	// 5
	`CREATE TABLE call_counts (
		realm  TEXT NOT NULL,
		agent  TEXT NOT NULL,
		minute BIGINT NOT NULL,
		calls  BIGINT NOT NULL,
		PRIMARY KEY (realm, agent, minute)
	);`,
}

// SchemaLock is the PostgreSQL advisory lock (pg_advisory_xact_lock) that
// every package creating tables in the shared database takes for the
// transaction that does it, so that nodes starting at the same moment never
// run the same DDL concurrently (CREATE TABLE IF NOT EXISTS is not safe
// against that on PostgreSQL).
const SchemaLock = sqldb.SchemaLock

// migrate applies the pending migrations, each in its own transaction
// together with the version bump, so a crash leaves the schema at a version.
// On PostgreSQL each transaction holds [SchemaLock]: of several nodes
// starting at once, one applies a migration and the others then find it
// applied.
func (db *DB) migrate(ctx context.Context) error {
	list := migrations
	if db.db.Dialect() == sqldb.Postgres {
		list = pgMigrations
	}
	for {
		done, err := db.migrateOne(ctx, list)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if done {
			return nil
		}
	}
}

func (db *DB) migrateOne(ctx context.Context, list []string) (done bool, err error) {
	// SQLite: BEGIN IMMEDIATE (see sqldb.OpenSQLite), so two processes
	// opening the same file never apply the same migration twice.
	// PostgreSQL: the advisory lock does the same for nodes.
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if err := db.db.LockSchema(ctx, tx); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return false, err
	}
	var v int
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err {
	case nil:
	case sql.ErrNoRows:
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return false, err
		}
	default:
		return false, err
	}
	switch {
	case v == len(list):
		return true, tx.Commit()
	case v > len(list) || v < 0:
		return false, fmt.Errorf("database schema version %d is newer than this build (%d)", v, len(list))
	}
	if _, err := tx.ExecContext(ctx, list[v]); err != nil {
		return false, fmt.Errorf("version %d: %w", v+1, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, v+1); err != nil {
		return false, err
	}
	return false, tx.Commit()
}
