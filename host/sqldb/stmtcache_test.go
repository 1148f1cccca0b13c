package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// cacheOf returns the statement cache of one connection of db.
func cacheOf(t *testing.T, conn *sql.Conn) *cachingConn {
	t.Helper()
	var cc *cachingConn
	if err := conn.Raw(func(c any) error {
		var ok bool
		cc, ok = c.(*cachingConn)
		if !ok {
			return fmt.Errorf("connection is %T, not a caching connection", c)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return cc
}

func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	db, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	cc := cacheOf(t, conn)

	t.Run("a repeated query runs its prepared statement again", func(t *testing.T) {
		for i := range 20 {
			if _, err := conn.ExecContext(ctx, `INSERT INTO t (k, v) VALUES (?, ?)`, i, fmt.Sprint("v", i)); err != nil {
				t.Fatal(err)
			}
		}
		first := cc.stmts[`INSERT INTO t (k, v) VALUES (?, ?)`]
		if first == nil {
			t.Fatal("the insert is not cached")
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO t (k, v) VALUES (?, ?)`, 100, "x"); err != nil {
			t.Fatal(err)
		}
		if cc.stmts[`INSERT INTO t (k, v) VALUES (?, ?)`] != first {
			t.Fatal("the insert was prepared again")
		}
		var n int
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 21 {
			t.Fatalf("count = %d, %v; want 21", n, err)
		}
	})

	t.Run("the same query while its rows are open gets its own statement", func(t *testing.T) {
		const q = `SELECT v FROM t WHERE k < ? ORDER BY k`
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		outer, err := tx.QueryContext(ctx, q, 3)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for outer.Next() {
			var v string
			if err := outer.Scan(&v); err != nil {
				t.Fatal(err)
			}
			var inner string
			if err := tx.QueryRowContext(ctx, q, 1).Scan(&inner); err != nil || inner != "v0" {
				t.Fatalf("inner query = %q, %v", inner, err)
			}
			got = append(got, v)
		}
		if err := outer.Close(); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != "[v0 v1 v2]" {
			t.Fatalf("outer rows %v, want [v0 v1 v2]", got)
		}
		if cs := cc.stmts[q]; cs == nil || cs.busy {
			t.Fatal("the cached statement is missing or still busy after its rows closed")
		}
	})

	t.Run("the cache is bounded and evicted statements still answer", func(t *testing.T) {
		for i := range maxCachedStmts + 40 {
			var v string
			// A distinct text each time (a constant in the SQL, for the test only).
			if err := conn.QueryRowContext(ctx, fmt.Sprintf(`SELECT v FROM t WHERE k = ? AND %d = %d`, i, i), i%20).Scan(&v); err != nil {
				t.Fatal(err)
			}
			if v != fmt.Sprint("v", i%20) {
				t.Fatalf("got %q", v)
			}
		}
		if len(cc.stmts) > maxCachedStmts {
			t.Fatalf("%d statements cached, bound %d", len(cc.stmts), maxCachedStmts)
		}
	})

	t.Run("a schema change does not break a cached statement", func(t *testing.T) {
		const q = `SELECT * FROM t WHERE k = ?`
		var k int
		var v string
		if err := conn.QueryRowContext(ctx, q, 1).Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, `ALTER TABLE t ADD COLUMN w TEXT DEFAULT 'w'`); err != nil {
			t.Fatal(err)
		}
		var w string
		if err := conn.QueryRowContext(ctx, q, 1).Scan(&k, &v, &w); err != nil || w != "w" {
			t.Fatalf("after ALTER: w = %q, %v", w, err)
		}
	})

	t.Run("a failed statement leaves the connection usable", func(t *testing.T) {
		const ins = `INSERT INTO t (k, v) VALUES (?, ?)`
		if _, err := conn.ExecContext(ctx, ins, 1, "duplicate"); err == nil {
			t.Fatal("duplicate key accepted")
		}
		if _, err := conn.ExecContext(ctx, ins, 1000, "fresh"); err != nil {
			t.Fatalf("insert after a failed insert: %v", err)
		}
	})
}

// TestCheckpointer checks that committed pages reach the database file
// without any commit checkpointing (wal_autocheckpoint is 0): the
// checkpointer copies them within a few of its periods.
func TestCheckpointer(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SQL().ExecContext(ctx, `CREATE TABLE t (v BLOB)`); err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 1024)
	for range 2000 {
		if _, err := db.SQL().ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, blob); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * checkpointEvery)
	for {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() >= 2000*1024 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file is %d bytes %s after 2 MB were committed: no checkpoint", st.Size(), 10*checkpointEvery)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
