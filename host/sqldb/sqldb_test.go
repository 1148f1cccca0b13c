package sqldb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/sqldb"
	"github.com/airlock-dev/airlock/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestRebind(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT ? , ?", "SELECT $1 , $2"},
		{"INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO UPDATE SET b = ? WHERE t.b <= ?",
			"INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET b = $3 WHERE t.b <= $4"},
		{"SELECT '?', ?", "SELECT '?', $1"},
		{"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"},
		{`SELECT "odd?col" FROM t WHERE a = ?`, `SELECT "odd?col" FROM t WHERE a = $1`},
		{"SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"},
		{"SELECT ? /* what? */, ?", "SELECT $1 /* what? */, $2"},
		{"SELECT '?", "SELECT '?"},          // unterminated quote: left alone
		{"SELECT ? -- ?", "SELECT $1 -- ?"}, // comment to end of input
		{"SELECT ? /* ?", "SELECT $1 /* ?"},
	} {
		if got := sqldb.Rebind(tt.in); got != tt.want {
			t.Errorf("Rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzRebind(f *testing.F) {
	f.Add("SELECT ? FROM t WHERE a = '?' -- ?\n AND b = ?")
	f.Add(`"?"'?'/*?*/--?`)
	f.Fuzz(func(t *testing.T, q string) {
		out := sqldb.Rebind(q)
		// Removing the $n placeholders and the '?' gives the same text.
		if strings.Count(q, "?") < strings.Count(out, "?") {
			t.Fatalf("Rebind added '?': %q -> %q", q, out)
		}
	})
}

func TestRedactDSN(t *testing.T) {
	for _, dsn := range []string{
		"postgres://user:hunter2@db.internal:5432/airlock",
		"postgresql://airlock:hunter2@h/db?sslmode=require",
		"postgres://u@h/db?password=hunter2",
		"postgres://u:hunter2@[::1",
	} {
		if got := sqldb.RedactDSN(dsn); strings.Contains(got, "hunter2") {
			t.Errorf("RedactDSN(%q) = %q keeps the password", dsn, got)
		}
	}
}

func TestOpenRefusesUnknownStore(t *testing.T) {
	_, err := sqldb.Open(context.Background(), "mysql://root:hunter2@h/db", t.TempDir())
	if !errors.Is(err, sqldb.ErrInvalid) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v, want ErrInvalid without the password", err)
	}
}

// dbs opens each dialect with an empty table kv(k, v).
func dbs(t *testing.T) map[string]*sqldb.DB {
	t.Helper()
	ctx := context.Background()
	out := map[string]*sqldb.DB{}
	dir := t.TempDir()
	lite, err := sqldb.OpenSQLite(ctx, filepath.Join(dir, "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "a.db"))
	if err != nil || fi.Mode().Perm() != sqldb.FileMode {
		t.Fatalf("sqlite file mode = %v, %v; want %v", fi.Mode().Perm(), err, sqldb.FileMode)
	}
	out["sqlite"] = lite
	pg, err := sqldb.OpenPostgres(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	out["postgres"] = pg
	for _, db := range out {
		t.Cleanup(func() { db.Close() })
		if _, err := db.SQL().ExecContext(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func count(t *testing.T, db *sqldb.DB) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRowContext(context.Background(), `SELECT count(*) FROM kv WHERE v >= ?`, 0).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Many concurrent callers: each one's row is there exactly when Batch said
// nil; a failing caller's work is rolled back and nobody else's is.
func TestBatchGroupCommit(t *testing.T) {
	for name, db := range dbs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			const n = 200
			var wg sync.WaitGroup
			errs := make([]error, n)
			failed := make([]bool, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = db.Batch(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
						if _, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, fmt.Sprint(i), i); err != nil {
							return err
						}
						tx.OnFail(func() { failed[i] = true })
						if i%7 == 0 {
							return errors.New("caller refuses")
						}
						return nil
					})
				}()
			}
			wg.Wait()
			want := 0
			for i, err := range errs {
				if i%7 == 0 {
					if err == nil || !failed[i] {
						t.Errorf("caller %d: err = %v, OnFail ran = %v; want an error and the hook", i, err, failed[i])
					}
					continue
				}
				if err != nil || failed[i] {
					t.Errorf("caller %d: err = %v, OnFail ran = %v", i, err, failed[i])
				}
				want++
			}
			if got := count(t, db); got != want {
				t.Fatalf("%d rows, want %d", got, want)
			}
		})
	}
}

// A statement error inside one caller's function (a duplicate key) leaves
// the transaction usable for the others, on PostgreSQL too, where an error
// aborts the whole transaction unless rolled back to a savepoint.
func TestBatchStatementErrorIsContained(t *testing.T) {
	for name, db := range dbs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			insert := func(k string) error {
				return db.Batch(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
					_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES (?, 1)`, k)
					return err
				})
			}
			if err := insert("a"); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, 20)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					k := fmt.Sprint("k", i)
					if i%2 == 0 {
						k = "a" // duplicate
					}
					errs[i] = insert(k)
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if (i%2 == 0) != (err != nil) {
					t.Errorf("insert %d: err = %v", i, err)
				}
			}
			if got := count(t, db); got != 11 {
				t.Fatalf("%d rows, want 11", got)
			}
		})
	}
}

// A panicking function fails alone; Batch after Close says ErrClosed.
func TestBatchPanicAndClose(t *testing.T) {
	for name, db := range dbs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			err := db.Batch(ctx, func(context.Context, *sqldb.Tx) error { panic("boom") })
			if err == nil {
				t.Fatal("a panicking function reported success")
			}
			if err := db.Batch(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ('after', 1)`)
				return err
			}); err != nil {
				t.Fatalf("batch after a panic: %v", err)
			}
			db.Close()
			if err := db.Batch(ctx, func(context.Context, *sqldb.Tx) error { return nil }); !errors.Is(err, sqldb.ErrClosed) {
				t.Fatalf("after Close: %v, want ErrClosed", err)
			}
		})
	}
}

// A cancelled caller's function never runs.
func TestBatchCancelledCallerDoesNotRun(t *testing.T) {
	for name, db := range dbs(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			ran := false
			err := db.Batch(ctx, func(context.Context, *sqldb.Tx) error { ran = true; return nil })
			if err == nil || ran {
				t.Fatalf("err = %v, ran = %v", err, ran)
			}
		})
	}
}

func TestNotifyListen(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a, err := sqldb.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqldb.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := make(chan string, 10)
	if err := b.Listen(ctx, "airlock_test", func(p string) { got <- p }); err != nil {
		t.Fatal(err)
	}
	if err := a.Notify(ctx, "airlock_test", "revoked:grant:123"); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "revoked:grant:123" {
			t.Fatalf("payload %q", p)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no notification arrived")
	}
}

// The reader pool sees what committed, and refuses writes.
func TestReader(t *testing.T) {
	for name, db := range dbs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := db.Batch(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ('r', 7)`)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			var v int
			if err := db.Reader().QueryRowContext(ctx, `SELECT v FROM kv WHERE k = ?`, "r").Scan(&v); err != nil || v != 7 {
				t.Fatalf("reader: v = %d, err = %v", v, err)
			}
			if name == "sqlite" {
				if _, err := db.Reader().ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ('w', 1)`); err == nil {
					t.Fatal("a write through the SQLite reader pool succeeded")
				}
			}
		})
	}
}
