package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/airlock-dev/airlock/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// opener opens a new handle on one test database: the same file on SQLite,
// the same database on PostgreSQL (as another node would). Handles are
// closed when the test ends.
type opener func(t *testing.T) *DB

// eachDialect runs fn once on SQLite and once on PostgreSQL, each time with
// an empty database of its own.
func eachDialect(t *testing.T, fn func(t *testing.T, open opener)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "airlock.db")
		fn(t, func(t *testing.T) *DB {
			t.Helper()
			db, err := Open(context.Background(), path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.DSN(t)
		fn(t, func(t *testing.T) *DB {
			t.Helper()
			ctx := context.Background()
			db, err := OpenURL(ctx, dsn, "")
			if err != nil {
				t.Fatalf("OpenURL: %v", err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		})
	})
}
