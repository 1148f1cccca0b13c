package sqldb

import (
	"context"
	"database/sql/driver"
	"errors"
)

// SQLite connections keep their prepared statements: every Exec and Query
// through database/sql on a connection prepares its SQL text again (the
// parser and code generator were about a tenth of the CPU of an intent),
// so cachingConn keeps, per connection, the prepared statement of each of
// the last maxCachedStmts distinct query texts and runs it again with new
// arguments. The texts are the packages' own constants (arguments are
// always bound, never formatted into SQL), so the set is small.

// maxCachedStmts bounds one connection's statement cache.
const maxCachedStmts = 128

// stmtConnector opens SQLite connections through drv and wraps each in a
// cachingConn.
type stmtConnector struct {
	drv driver.Driver
	dsn string
}

func (c stmtConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return newCachingConn(conn)
}

func (c stmtConnector) Driver() driver.Driver { return c.drv }

// sqliteConn is what the modernc.org/sqlite connection implements and
// cachingConn relies on.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// errNotSQLite is returned when the driver's connections or statements lack
// an interface cachingConn needs (a different driver version).
var errNotSQLite = errors.New("sqldb: driver connection lacks the interfaces of modernc.org/sqlite")

func newCachingConn(conn driver.Conn) (driver.Conn, error) {
	c, ok := conn.(sqliteConn)
	if !ok {
		_ = conn.Close()
		return nil, errNotSQLite
	}
	return &cachingConn{c: c, stmts: map[string]*cachedStmt{}}, nil
}

// cachingConn is one SQLite connection with its statement cache.
// database/sql uses a connection from one goroutine at a time, so it needs
// no lock.
type cachingConn struct {
	c     sqliteConn
	stmts map[string]*cachedStmt
	clock uint64 // use counter, for evicting the least recently used
}

// cachedStmt is a prepared statement; busy while rows read from it are
// open (a second query of the same text on the connection, inside a
// transaction, then gets a statement of its own).
type cachedStmt struct {
	s    sqliteStmt
	used uint64
	busy bool
}

// sqliteStmt is what a modernc.org/sqlite prepared statement implements and
// cachingConn runs.
type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// stmt returns the cached statement for query, preparing it if needed; own
// reports a statement outside the cache that the caller must close.
func (c *cachingConn) stmt(ctx context.Context, query string) (cs *cachedStmt, own bool, err error) {
	c.clock++
	if cs := c.stmts[query]; cs != nil && !cs.busy {
		cs.used = c.clock
		return cs, false, nil
	}
	prepared, err := c.c.PrepareContext(ctx, query)
	if err != nil {
		return nil, false, err
	}
	s, ok := prepared.(sqliteStmt)
	if !ok {
		_ = prepared.Close()
		return nil, false, errNotSQLite
	}
	cs = &cachedStmt{s: s, used: c.clock}
	if _, exists := c.stmts[query]; exists {
		return cs, true, nil
	}
	if len(c.stmts) >= maxCachedStmts {
		c.evict()
	}
	c.stmts[query] = cs
	return cs, false, nil
}

// evict closes the least recently used statement that is not busy.
func (c *cachingConn) evict() {
	var oldest string
	var found *cachedStmt
	for q, cs := range c.stmts {
		if !cs.busy && (found == nil || cs.used < found.used) {
			oldest, found = q, cs
		}
	}
	if found != nil {
		delete(c.stmts, oldest)
		_ = found.s.Close()
	}
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, own, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if own {
		defer cs.s.Close()
	}
	return cs.s.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, own, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := cs.s.QueryContext(ctx, args)
	if err != nil {
		if own {
			_ = cs.s.Close()
		}
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, cs: cs, own: own}, nil
}

// cachedRows frees its statement for reuse (or closes it) when closed.
type cachedRows struct {
	driver.Rows
	cs     *cachedStmt
	own    bool
	closed bool
}

func (r *cachedRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.Rows.Close()
	r.cs.busy = false
	if r.own {
		err = errors.Join(err, r.cs.s.Close())
	}
	return err
}

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) { return c.c.Prepare(query) }
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.c.PrepareContext(ctx, query)
}
func (c *cachingConn) Begin() (driver.Tx, error) {
	return c.c.BeginTx(context.Background(), driver.TxOptions{})
}
func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.c.BeginTx(ctx, opts)
}
func (c *cachingConn) Ping(ctx context.Context) error         { return c.c.Ping(ctx) }
func (c *cachingConn) ResetSession(ctx context.Context) error { return c.c.ResetSession(ctx) }
func (c *cachingConn) IsValid() bool                          { return c.c.IsValid() }

// Close closes every cached statement, then the connection.
func (c *cachingConn) Close() error {
	var err error
	for q, cs := range c.stmts {
		err = errors.Join(err, cs.s.Close())
		delete(c.stmts, q)
	}
	return errors.Join(err, c.c.Close())
}
