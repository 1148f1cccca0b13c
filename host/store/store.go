// Package store is the host's embedded state: one SQLite database in WAL mode
// that holds the replay cache, revocations and the plugin registry (and, through
// [DB.SQL], the audit log of package audit).
//
// Every method is safe for concurrent use. A write returns only once it is
// durable: the database runs with synchronous=FULL, so a committed
// transaction survives a crash or a power cut (DESIGN §7: "after SIGKILL and
// restart … replay store, revocations, plugins … are as acknowledged").
//
// # Security
//
// The database file is created with mode 0600 (SQLite gives its -wal and -shm
// files the same mode), because it holds plugin code and the replay cache an
// attacker would like to reset. Every pooled connection gets the same PRAGMAs
// through the DSN, so no connection ever runs without foreign keys, a busy
// timeout or full synchronisation. All SQL is parameterised; no caller string is
// ever spliced into a statement.
//
// The replay check ([DB.Use]) is a single atomic upsert: of any number of
// concurrent uses of one jti, on one host or several processes sharing the
// file, exactly one is reported fresh.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
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
const FileMode os.FileMode = 0o600

// pruneEvery is how many replay inserts happen between two prunes of expired
// jti rows.
const pruneEvery = 1000

// pragmas are applied to every pooled connection through the DSN.
var pragmas = []string{
	"journal_mode(WAL)",
	"synchronous(FULL)",
	"busy_timeout(5000)",
	"foreign_keys(ON)",
}

// DB is the host's SQLite database.
type DB struct {
	sql     *sql.DB
	closed  atomic.Bool
	inserts atomic.Uint64
	now     func() time.Time // replaced in tests
}

// Open opens or creates the database at path (e.g. DATA/airlock.db) with mode
// 0600, sets its PRAGMAs on every connection and applies the pending schema
// migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: %w: path %q: %v", ErrInvalid, path, err)
	}
	// The driver splits the DSN at the first '?': a path holding one would
	// silently lose its tail and the PRAGMAs with it.
	if strings.ContainsRune(abs, '?') {
		return nil, fmt.Errorf("store: %w: path %q contains '?'", ErrInvalid, path)
	}
	if err := createPrivate(abs); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}

	q := make([]string, 0, len(pragmas)+1)
	for _, p := range pragmas {
		q = append(q, "_pragma="+p)
	}
	// Read-write transactions take the write lock at BEGIN, so a transaction
	// that reads before it writes never fails with SQLITE_BUSY half-way.
	// Read-only transactions stay deferred and never block writers.
	q = append(q, "_txlock=immediate")
	sqlDB, err := sql.Open("sqlite", abs+"?"+strings.Join(q, "&"))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	// One connection: writers queue in Go (bounded by their context) instead
	// of racing for SQLite's write lock and failing with SQLITE_BUSY under
	// load, which surfaced as spurious 503s at 32 concurrent agents.
	sqlDB.SetMaxOpenConns(1)
	db := &DB{sql: sqlDB, now: time.Now}
	if err := db.migrate(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := db.pruneReplay(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	return db, nil
}

// createPrivate makes sure path exists with mode 0600 before SQLite opens it,
// so the file is never readable by others, not even for an instant.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	// An existing file keeps its mode through O_CREATE: tighten it.
	if err := os.Chmod(path, FileMode); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return nil
}

// Close closes the database. Calls after Close return ErrClosed.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

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
