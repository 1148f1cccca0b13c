package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// OpenPostgres connects to the PostgreSQL server dsn names. It refuses a
// server whose commits are not durable (synchronous_commit off, fsync off).
func OpenPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx errors may quote the DSN: say only which one.
		return nil, fmt.Errorf("sqldb: %w: cannot parse PostgreSQL URL %s", ErrInvalid, RedactDSN(dsn))
	}
	sqlDB := sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg)})
	sqlDB.SetMaxOpenConns(16)
	sqlDB.SetMaxIdleConns(16)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{sql: sqlDB, read: sqlDB, dialect: Postgres, dsn: dsn, done: make(chan struct{}), comingGone: make(chan struct{}, 1)}
	if err := db.checkDurable(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	db.startBatcher()
	return db, nil
}

// checkDurable refuses a server that acknowledges commits before they are on
// disk.
func (db *DB) checkDurable(ctx context.Context) error {
	for _, setting := range []string{"fsync", "synchronous_commit"} {
		var v string
		if err := db.sql.QueryRowContext(ctx, "SELECT current_setting('"+setting+"')").Scan(&v); err != nil {
			return fmt.Errorf("sqldb: connect to PostgreSQL: %w", err)
		}
		if v == "off" {
			return fmt.Errorf("sqldb: %w: PostgreSQL runs with %s=off: acknowledged writes could be lost", ErrInvalid, setting)
		}
	}
	return nil
}

// Rebind rewrites the '?' placeholders of a portable statement to
// PostgreSQL's $1, $2, …, leaving '?' inside quoted strings, quoted
// identifiers and comments alone.
func Rebind(query string) string {
	if strings.IndexByte(query, '?') < 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(query) {
				if query[j] == c {
					if j+1 < len(query) && query[j+1] == c { // doubled quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			end := min(j+1, len(query))
			b.WriteString(query[i:end])
			i = end - 1
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+1])
			i += j
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			j := strings.Index(query[i+2:], "*/")
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+2+j+2])
			i += 2 + j + 1
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// rebindConnector hands out pgx connections that rebind placeholders.
type rebindConnector struct{ driver.Connector }

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, errors.New("sqldb: pgx returned an unexpected connection type")
	}
	return &rebindConn{sc}, nil
}

// rebindConn is a pgx stdlib connection that rebinds every statement. It
// implements the same optional database/sql/driver interfaces as
// *stdlib.Conn.
type rebindConn struct{ c *stdlib.Conn }

var (
	_ driver.Conn               = (*rebindConn)(nil)
	_ driver.ConnPrepareContext = (*rebindConn)(nil)
	_ driver.ConnBeginTx        = (*rebindConn)(nil)
	_ driver.ExecerContext      = (*rebindConn)(nil)
	_ driver.QueryerContext     = (*rebindConn)(nil)
	_ driver.Pinger             = (*rebindConn)(nil)
	_ driver.SessionResetter    = (*rebindConn)(nil)
	_ driver.NamedValueChecker  = (*rebindConn)(nil)
)

func (r *rebindConn) Prepare(query string) (driver.Stmt, error) { return r.c.Prepare(Rebind(query)) }
func (r *rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return r.c.PrepareContext(ctx, Rebind(query))
}
func (r *rebindConn) Close() error { return r.c.Close() }
func (r *rebindConn) Begin() (driver.Tx, error) {
	return r.c.BeginTx(context.Background(), driver.TxOptions{})
}
func (r *rebindConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return r.c.BeginTx(ctx, opts)
}
func (r *rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return r.c.ExecContext(ctx, Rebind(query), args)
}
func (r *rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return r.c.QueryContext(ctx, Rebind(query), args)
}
func (r *rebindConn) Ping(ctx context.Context) error              { return r.c.Ping(ctx) }
func (r *rebindConn) ResetSession(ctx context.Context) error      { return r.c.ResetSession(ctx) }
func (r *rebindConn) CheckNamedValue(nv *driver.NamedValue) error { return r.c.CheckNamedValue(nv) }
func (r *rebindConn) IsValid() bool                               { return !r.c.Conn().IsClosed() }

// Notify sends payload on channel to every node listening (PostgreSQL
// NOTIFY). On SQLite, where one process owns the file, it does nothing.
// Callers notify after their change committed.
func (db *DB) Notify(ctx context.Context, channel, payload string) error {
	if db.dialect != Postgres {
		return nil
	}
	if _, err := db.sql.ExecContext(ctx, `SELECT pg_notify(?, ?)`, channel, payload); err != nil {
		return fmt.Errorf("sqldb: notify %s: %w", channel, err)
	}
	return nil
}

// Listen calls fn with the payload of every notification on channel until
// the DB closes (PostgreSQL LISTEN, on a connection of its own that is
// re-established after a failure). After every (re)connection fn is called
// once with the empty payload: notifications sent while the connection was
// down are lost, so a listener must then reload everything it caches. On
// SQLite Listen does nothing. fn runs on the listener's goroutine.
func (db *DB) Listen(ctx context.Context, channel string, fn func(payload string)) error {
	if db.dialect != Postgres {
		return nil
	}
	conn, err := db.listenConn(ctx, channel)
	if err != nil {
		return err
	}
	db.wg.Add(1)
	go func() {
		defer db.wg.Done()
		db.listen(conn, channel, fn)
	}()
	return nil
}

func (db *DB) listenConn(ctx context.Context, channel string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(db.dsn)
	if err != nil {
		return nil, fmt.Errorf("sqldb: %w: cannot parse PostgreSQL URL %s", ErrInvalid, RedactDSN(db.dsn))
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sqldb: listen %s: %w", channel, err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("sqldb: listen %s: %w", channel, err)
	}
	return conn, nil
}

func (db *DB) listen(conn *pgx.Conn, channel string, fn func(string)) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-db.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		for conn != nil {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				conn.Close(context.Background())
				conn = nil
				break
			}
			fn(n.Payload)
		}
		if ctx.Err() != nil {
			return
		}
		for conn == nil {
			if !db.sleepOrDone(200 * time.Millisecond) {
				return
			}
			c, err := db.listenConn(ctx, channel)
			if err == nil {
				conn = c
				fn("") // missed notifications: reload everything
			}
		}
	}
}
