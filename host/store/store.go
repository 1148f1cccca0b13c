// Package store is the host's state: the replay cache, revocations, the
// plugin registry, held intents and budgets, in one database — an embedded
// SQLite file in WAL mode, or a PostgreSQL server shared by several nodes
// (package sqldb) — that other packages (audit, vault, policy, monitor) keep
// their own tables in too ([DB.SQLDB]).
//
// Every method is safe for concurrent use, also by several processes or
// nodes sharing the database. A write returns only once it is durable
// (SQLite synchronous=FULL; PostgreSQL synchronous_commit=on), so a committed
// transaction survives a crash or a power cut (DESIGN §7: "after SIGKILL and
// restart … replay store, revocations, plugins … are as acknowledged").
// Replay records, revocations and call counts go through the group commit
// ([sqldb.DB.Batch]): one fsync for many concurrent requests.
//
// # Several nodes
//
// On PostgreSQL every read-then-write is made safe against the other nodes:
// single conditional upserts (replay, policy, budgets), or a row locked with
// SELECT … FOR UPDATE (approvals, pending plugins), with the transaction run
// again when the server aborts it to break a deadlock. Schema migrations
// hold an advisory lock ([SchemaLock]), so nodes may start together.
// Nothing here is cached: a revocation recorded by one node is enforced by
// every node at its next check; it is also announced on
// [RevocationChannel].
//
// # Security
//
// The SQLite file is created with mode 0600 (SQLite gives its -wal and -shm
// files the same mode), because it holds plugin code and the replay cache an
// attacker would like to reset. Every pooled connection gets the same PRAGMAs
// through the DSN, so no connection ever runs without foreign keys, a busy
// timeout or full synchronisation. All SQL is parameterised; no caller string is
// ever spliced into a statement.
//
// The replay check ([DB.Use]) is a single atomic upsert: of any number of
// concurrent uses of one jti, on one host or several nodes sharing the
// database, exactly one is reported fresh.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/airlock-dev/airlock/host/sqldb"
)

var (
	// ErrNotFound reports that the asked-for row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrClosed reports a call on a closed DB.
	ErrClosed = errors.New("database closed")
	// ErrInvalid reports an argument the store refuses to record (empty key,
	// unknown revocation kind, hash that does not match its bytes).
	ErrInvalid = errors.New("invalid argument")
)

// FileMode is the permission of the database file.
const FileMode = sqldb.FileMode

// pruneEvery is how many replay inserts happen between two prunes of expired
// jti rows.
const pruneEvery = 1000

// DB is the host's database.
type DB struct {
	db      *sqldb.DB
	sql     *sql.DB
	closed  atomic.Bool
	inserts atomic.Uint64
	calls   atomic.Uint64    // AddCall count, for pruning call_counts
	now     func() time.Time // replaced in tests
	// revoked remembers revocation lookups on SQLite, whose only writer
	// is Revoke (sqldb.Memo); on PostgreSQL every check reads the table.
	revoked *sqldb.Memo[revKey, bool]
}

// Open opens or creates the SQLite database at path (e.g. DATA/airlock.db)
// with mode 0600 and applies the pending schema migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	sdb, err := sqldb.OpenSQLite(ctx, path)
	if err != nil {
		if errors.Is(err, sqldb.ErrInvalid) {
			return nil, fmt.Errorf("store: %w: %v", ErrInvalid, err)
		}
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := OpenDB(ctx, sdb)
	if err != nil {
		sdb.Close()
		return nil, err
	}
	return db, nil
}

// OpenURL opens the database a config's store setting names ("sqlite":
// the file DATA/airlock.db; "postgres://…": that server, see sqldb.Open)
// and applies the pending migrations.
func OpenURL(ctx context.Context, storeURL, dataDir string) (*DB, error) {
	sdb, err := sqldb.Open(ctx, storeURL, dataDir)
	if err != nil {
		return nil, err
	}
	db, err := OpenDB(ctx, sdb)
	if err != nil {
		sdb.Close()
		return nil, err
	}
	return db, nil
}

// OpenDB uses an open database (SQLite or PostgreSQL) and applies the
// pending schema migrations. Closing the returned DB closes sdb.
func OpenDB(ctx context.Context, sdb *sqldb.DB) (*DB, error) {
	db := &DB{db: sdb, sql: sdb.SQL(), now: time.Now, revoked: sqldb.NewMemo[revKey, bool](sdb, "revocations")}
	if err := db.migrate(ctx); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := db.pruneReplay(ctx); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return db, nil
}

// Close closes the database. Calls after Close return ErrClosed.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	if err := db.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// SQLDB returns the database (dialect, group commit, notifications) for
// packages that keep their own tables in it (audit, vault, policy, monitor).
// It must not be closed by them.
func (db *DB) SQLDB() *sqldb.DB { return db.db }

// SQL returns the underlying pool, for packages that keep their own tables in
// the same file (audit). It must not be closed by them.
func (db *DB) SQL() *sql.DB { return db.sql }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.check(); err != nil {
		return err
	}
	if err := db.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

func (db *DB) check() error {
	if db.closed.Load() {
		return fmt.Errorf("store: %w", ErrClosed)
	}
	return nil
}

// wrap gives a database error the package prefix, reporting ErrClosed when
// the DB was closed underneath the call.
func (db *DB) wrap(op string, err error) error {
	if db.closed.Load() || errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("store: %s: %w", op, ErrClosed)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// maxRetries bounds how often a transaction PostgreSQL aborted to break a
// deadlock or a serialization conflict is run again.
const maxRetries = 5

// retry runs fn again while it fails with a PostgreSQL deadlock (40P01) or
// serialization failure (40001): the server rolled the work back, so running
// it again is safe. Any other result is returned as is.
func (db *DB) retry(ctx context.Context, fn func() error) error {
	var err error
	for i := 0; i < maxRetries; i++ {
		if err = fn(); !Retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// Retryable reports whether err is a PostgreSQL deadlock (40P01) or
// serialization failure (40001), after which the whole transaction may be
// run again.
func Retryable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")
}

// forUpdate is the row-lock clause of a SELECT inside a read-then-write
// transaction: FOR UPDATE on PostgreSQL; nothing on SQLite, where every
// read-write transaction holds the write lock from BEGIN.
func (db *DB) forUpdate() string {
	if db.db.Dialect() == sqldb.Postgres {
		return " FOR UPDATE"
	}
	return ""
}
