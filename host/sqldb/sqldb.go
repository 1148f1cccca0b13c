package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
)

// Dialect is the SQL dialect of a DB.
type Dialect int

// The dialects.
const (
	SQLite Dialect = iota + 1
	Postgres
)

// String returns "sqlite" or "postgres".
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// ErrInvalid reports a store setting the package refuses.
var ErrInvalid = errors.New("invalid store")

// FileMode is the permission of the SQLite database file.
const FileMode os.FileMode = 0o600

// DB is an open database. It is safe for concurrent use.
type DB struct {
	sql     *sql.DB
	read    *sql.DB // SQLite: a pool of query-only connections; PostgreSQL: sql
	ckpt    *sql.DB // SQLite: the checkpointer's connection; PostgreSQL: nil
	dialect Dialect
	dsn     string // PostgreSQL only: for the LISTEN connections

	batch *batcher

	// coming counts the callers announced by Expect that have not reached
	// Batch yet; comingGone wakes a batch waiting for them when one of
	// them withdraws without calling Batch.
	coming     atomic.Int64
	comingGone chan struct{}

	batches, batched atomic.Int64 // BatchStats

	memoGens sync.Map // table name → *atomic.Uint64: its Memos' generation

	// backfilled is set by the checkpointer when a checkpoint copied the
	// WAL into the database file: the batcher then finishes the job
	// between two batches (finishCheckpoint), so that the next commit
	// starts the WAL over instead of growing it.
	backfilled atomic.Bool

	closeOnce sync.Once
	closeErr  error
	done      chan struct{} // closed by Close: stops listeners and the batcher
	wg        sync.WaitGroup
}

// IsPostgres reports whether store (the config's "store" value) names a
// PostgreSQL server.
func IsPostgres(store string) bool {
	return strings.HasPrefix(store, "postgres://") || strings.HasPrefix(store, "postgresql://")
}

// Open opens the database a config's store value names: "sqlite" is the file
// DATA/airlock.db, "postgres://…" a PostgreSQL server.
func Open(ctx context.Context, store, dataDir string) (*DB, error) {
	switch {
	case store == "" || store == "sqlite":
		return OpenSQLite(ctx, filepath.Join(dataDir, "airlock.db"))
	case IsPostgres(store):
		return OpenPostgres(ctx, store)
	}
	return nil, fmt.Errorf("sqldb: %w: %q is neither \"sqlite\" nor a postgres:// URL", ErrInvalid, RedactDSN(store))
}

// sqlitePragmas are applied to every pooled SQLite connection through the DSN.
// busy_timeout comes first, so that the others wait for a lock held by
// another process opening the same file instead of failing with
// SQLITE_BUSY.
var sqlitePragmas = []string{
	"busy_timeout(5000)",
	"journal_mode(WAL)",
	"synchronous(FULL)",
	"foreign_keys(ON)",
	// Commits never checkpoint: the checkpointer does, off the commit path
	// (checkpointLoop). A WAL that a checkpoint emptied is cut back to
	// 64 MiB when it restarts.
	"wal_autocheckpoint(0)",
	"journal_size_limit(67108864)",
}

// OpenSQLite opens or creates the SQLite database at path with mode 0600.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqldb: %w: path %q: %v", ErrInvalid, path, err)
	}
	// The driver splits the DSN at the first '?': a path holding one would
	// silently lose its tail and the PRAGMAs with it.
	if strings.ContainsRune(abs, '?') {
		return nil, fmt.Errorf("sqldb: %w: path %q contains '?'", ErrInvalid, path)
	}
	if err := createPrivate(abs); err != nil {
		return nil, fmt.Errorf("sqldb: %w", err)
	}
	useFdatasync()
	q := make([]string, 0, len(sqlitePragmas)+1)
	for _, p := range sqlitePragmas {
		q = append(q, "_pragma="+p)
	}
	// Read-write transactions take the write lock at BEGIN, so a transaction
	// that reads before it writes never fails with SQLITE_BUSY half-way.
	q = append(q, "_txlock=immediate")
	sqlDB := openSQLite(abs + "?" + strings.Join(q, "&"))
	// One connection: writers queue in Go (bounded by their context) instead
	// of racing for SQLite's write lock and failing with SQLITE_BUSY.
	sqlDB.SetMaxOpenConns(1)
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("sqldb: open %s: %w", abs, err)
	}
	// Readers: WAL lets them run while the writer commits, so a lookup never
	// waits for another request's fsync. query_only makes a write through
	// them fail instead of bypassing the writer.
	readDB := openSQLite(abs + "?" + strings.Join(append(q[:len(q)-1:len(q)-1], "_pragma=query_only(1)"), "&"))
	readDB.SetMaxOpenConns(readers)
	readDB.SetMaxIdleConns(readers)
	ckptDB := openSQLite(abs + "?" + strings.Join(q[:len(q)-1], "&"))
	ckptDB.SetMaxOpenConns(1)
	db := &DB{sql: sqlDB, read: readDB, ckpt: ckptDB, dialect: SQLite, done: make(chan struct{}), comingGone: make(chan struct{}, 1)}
	db.startBatcher()
	db.wg.Add(1)
	go db.checkpointLoop()
	return db, nil
}

// maxWALFrames is the WAL size (in pages) past which the checkpointer
// restarts the WAL instead of copying it passively: 256 MiB of 4 KiB pages.
const maxWALFrames = 1 << 16

// checkpointEvery (a variable for tests) is how often the checkpointer
// copies the WAL into the database file.
var checkpointEvery = time.Second

// checkpointLoop runs a PASSIVE checkpoint every checkpointEvery until the
// DB closes. With SQLite's automatic checkpoint, the commit that crosses
// 1000 WAL pages copies them into the database and syncs it before it
// returns, stalling every caller of its group commit for milliseconds;
// here that work runs on its own connection, in parallel with commits (a
// PASSIVE checkpoint never blocks the writer or the readers). Durability
// is the WAL's: a commit is acknowledged once the WAL is synced
// (synchronous FULL), checkpointed or not.
//
// A passive checkpoint alone never lets the WAL start over while commits
// keep coming: SQLite rewinds the WAL only when a write transaction begins
// with every frame already copied, and by the time a checkpoint finishes,
// newer commits have added frames. The WAL would grow for ever, and every
// commit that grows the file makes fdatasync write the file's size through
// the file system's journal too (half as much CPU again per commit, and
// twice the wall time, measured here). So after each checkpoint that
// copied frames the batcher, between two batches, copies the few frames
// committed since (finishCheckpoint); its next commit then rewinds the WAL
// and overwrites the file's existing pages. Past maxWALFrames (the rewind
// kept failing: a reader was always on the WAL) the next checkpoint is a
// RESTART, which waits for the readers.
func (db *DB) checkpointLoop() {
	defer db.wg.Done()
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	restart := false
	for {
		select {
		case <-db.done:
			return
		case <-t.C:
		}
		mode := "PASSIVE"
		if restart {
			mode = "RESTART"
		}
		busy, frames, copied := db.checkpoint(db.ckpt, mode)
		if busy == 0 && copied > 0 {
			db.backfilled.Store(true)
		}
		// A WAL that passive checkpoints never get to restart (readers
		// always on it) would grow without bound: past maxWALFrames the
		// next checkpoint waits for the readers and restarts it.
		restart = frames > maxWALFrames
	}
}

// checkpoint runs PRAGMA wal_checkpoint(mode) on conn and returns its
// three numbers: busy (1 if it could not finish), the WAL's frames, and
// the frames copied into the database file. A failure is logged and
// reported as busy.
func (db *DB) checkpoint(conn *sql.DB, mode string) (busy, frames, copied int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied); err != nil {
		slog.Default().Debug("sqldb: checkpoint", "mode", mode, "error", err)
		return 1, 0, 0
	}
	return busy, frames, copied
}

// finishCheckpoint runs on the batcher between two batches, after the
// checkpointer copied the WAL: a PASSIVE checkpoint on the writer's own
// connection copies what was committed since, and no commit can come in
// between, so the next write transaction finds the WAL fully copied and
// starts it over from its first frame. It costs one sync of the database
// file, about once per checkpointEvery.
func (db *DB) finishCheckpoint() {
	if db.ckpt == nil || !db.backfilled.CompareAndSwap(true, false) {
		return
	}
	db.checkpoint(db.sql, "PASSIVE")
}

// useFdatasync makes SQLite commit with fdatasync(2) instead of fsync(2),
// as SQLite's own Linux builds do (the transpiled library keeps the
// source default): a WAL commit then waits for the data and the file's
// size, not for its timestamps to go through the file system's journal.
// Durability is the same. Where the platform has no fdatasync, commits
// keep fsync.
var useFdatasync = sync.OnceFunc(func() { _, _ = sqlite.Fdatasync(true) })

// openSQLite returns a pool of SQLite connections to dsn, each with its
// statement cache (stmtcache.go). Nothing is opened until first use.
func openSQLite(dsn string) *sql.DB {
	return sql.OpenDB(stmtConnector{drv: &sqlite.Driver{}, dsn: dsn})
}

// readers is the size of the SQLite reader pool.
const readers = 8

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

// SQL returns the connection pool for writes and for reads that must see
// the writer's own uncommitted state. Callers must not close it.
func (db *DB) SQL() *sql.DB { return db.sql }

// Reader returns a pool for read-only queries outside any transaction: on
// SQLite its connections never wait for a commit in progress (WAL), and
// they see every transaction that committed before the query began. Writes
// through it fail. Callers must not close it.
func (db *DB) Reader() *sql.DB { return db.read }

// Dialect returns the database's SQL dialect.
func (db *DB) Dialect() Dialect { return db.dialect }

// Close stops the listeners and the batcher, then closes the pool.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.done)
		db.wg.Wait()
		err := db.sql.Close()
		if db.ckpt != nil {
			err = errors.Join(err, db.ckpt.Close())
		}
		if db.read != db.sql {
			err = errors.Join(err, db.read.Close())
		}
		if err != nil {
			db.closeErr = fmt.Errorf("sqldb: close: %w", err)
		}
	})
	return db.closeErr
}

// RedactDSN returns dsn without its password: only the scheme, host and path
// of a URL survive. Anything that does not parse as a URL is replaced whole.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		if IsPostgres(dsn) {
			return "postgres://…"
		}
		if dsn == "sqlite" {
			return dsn
		}
		return "…"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// sleepOrDone waits d or until the DB closes; it reports whether the DB is
// still open.
func (db *DB) sleepOrDone(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-db.done:
		return false
	}
}

// SchemaLock is the PostgreSQL advisory lock (pg_advisory_xact_lock) held
// by every transaction that creates or migrates tables, so that nodes
// starting together never race on the schema.
const SchemaLock int64 = 0x6169726c6f636b01 // "airlock\x01"

// CreateSchema runs ddl (statements with IF NOT EXISTS) in one transaction
// that, on PostgreSQL, holds SchemaLock.
func (db *DB) CreateSchema(ctx context.Context, ddl string) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := db.LockSchema(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, ddl); err != nil {
		return err
	}
	return tx.Commit()
}

// LockSchema takes SchemaLock inside tx on PostgreSQL; on SQLite the
// transaction's write lock already serialises schema changes.
func (db *DB) LockSchema(ctx context.Context, tx *sql.Tx) error {
	if db.dialect != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, SchemaLock)
	return err
}
