package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/sqldb"
	"github.com/airlock-dev/airlock/internal/pgtest"
)

func openTest(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "airlock.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestOpenSetsPragmasOnEveryConnection(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	// The pool holds one connection (writers queue in Go, never on
	// SQLITE_BUSY); with no idle connections kept, each round below gets a
	// freshly opened one, so the check is not answered by one lucky
	// connection.
	if got := db.SQL().Stats().MaxOpenConnections; got != 1 {
		t.Fatalf("MaxOpenConnections = %d, want 1", got)
	}
	db.SQL().SetMaxIdleConns(0)
	for i := range 4 {
		c, err := db.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			pragma, want string
		}{
			{"journal_mode", "wal"},
			{"synchronous", "2"}, // FULL
			{"busy_timeout", "5000"},
			{"foreign_keys", "1"},
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatalf("conn %d: PRAGMA %s: %v", i, tc.pragma, err)
			}
			if !strings.EqualFold(got, tc.want) {
				t.Errorf("conn %d: PRAGMA %s = %q, want %q", i, tc.pragma, got, tc.want)
			}
		}
		c.Close()
	}
}

func TestFileModeIsPrivate(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		pre  os.FileMode // 0 = file does not exist yet
	}{
		{"new database readable by others", 0},
		{"existing world-readable database", 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "airlock.db")
			if tc.pre != 0 {
				if err := os.WriteFile(path, nil, tc.pre); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tc.pre); err != nil {
					t.Fatal(err)
				}
			}
			db, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// Write something so the -wal file exists.
			if _, err := db.Use(ctx, "j", time.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{path, path + "-wal"} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != FileMode {
					t.Errorf("%s: mode %o, want %o", filepath.Base(p), got, FileMode)
				}
			}
		})
	}
}

func TestOpenRefusesPathThatWouldDropPragmas(t *testing.T) {
	_, err := Open(context.Background(), filepath.Join(t.TempDir(), "a?_pragma=journal_mode(DELETE)"))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open = %v, want ErrInvalid", err)
	}
}

func TestMigrationsIdempotentOnReopen(t *testing.T) {
	eachDialect(t, testMigrationsIdempotentOnReopen)
}

func testMigrationsIdempotentOnReopen(t *testing.T, open opener) {
	ctx := context.Background()
	db := open(t)
	if err := db.Revoke(ctx, Revocation{Realm: "r", Kind: KindAgent, Subject: "did:key:zA"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for range 2 {
		db2 := open(t)
		var v int
		if err := db2.SQL().QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != len(migrations) {
			t.Errorf("schema version %d, want %d", v, len(migrations))
		}
		var rows int
		if err := db2.SQL().QueryRowContext(ctx, "SELECT count(*) FROM schema_version").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 1 {
			t.Errorf("schema_version has %d rows, want 1", rows)
		}
		db2.Close()
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		ctx := context.Background()
		db, path := openTest(t)
		if _, err := db.SQL().ExecContext(ctx, "UPDATE schema_version SET version = 999"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if db2, err := Open(ctx, path); err == nil {
			db2.Close()
			t.Fatal("Open of a database from a newer build succeeded")
		}
	})
	t.Run("postgres", func(t *testing.T) {
		ctx := context.Background()
		dsn := pgtest.DSN(t)
		sdb, err := sqldb.OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		db, err := OpenDB(ctx, sdb)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().ExecContext(ctx, "UPDATE schema_version SET version = 999"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		sdb, err = sqldb.OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer sdb.Close()
		if _, err := OpenDB(ctx, sdb); err == nil {
			t.Fatal("OpenDB of a database from a newer build succeeded")
		}
	})
}

func TestMigrationListsAgree(t *testing.T) {
	if len(migrations) != len(pgMigrations) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL ones", len(migrations), len(pgMigrations))
	}
}

// Nodes starting at the same moment on an empty PostgreSQL database all come
// up, with the schema applied once.
func TestMigrationsConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	const n = 4
	dbs := make([]*DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sdb, err := sqldb.OpenPostgres(ctx, dsn)
			if err != nil {
				errs[i] = err
				return
			}
			if dbs[i], errs[i] = OpenDB(ctx, sdb); errs[i] != nil {
				sdb.Close()
			}
		})
	}
	wg.Wait()
	for i, db := range dbs {
		if db != nil {
			t.Cleanup(func() { db.Close() })
		}
		if errs[i] != nil {
			t.Fatalf("node %d did not open: %v", i, errs[i])
		}
	}
	var v, rows int
	if err := dbs[0].SQL().QueryRowContext(ctx,
		"SELECT max(version), count(*) FROM schema_version").Scan(&v, &rows); err != nil {
		t.Fatal(err)
	}
	if v != len(pgMigrations) || rows != 1 {
		t.Fatalf("schema_version: version %d in %d rows, want %d in 1", v, rows, len(pgMigrations))
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Ping": func() error { return db.Ping(ctx) },
		"Use":  func() error { _, err := db.Use(ctx, "j", time.Now()); return err },
		"Revoke": func() error {
			return db.Revoke(ctx, Revocation{Realm: "r", Kind: KindGrant, Subject: "j"})
		},
		"Revoked":      func() error { _, err := db.Revoked(ctx, "r", KindGrant, "j"); return err },
		"Revocations":  func() error { _, err := db.Revocations(ctx); return err },
		"PutPlugin":    func() error { return db.PutPlugin(ctx, Plugin{Realm: "r", Name: "n"}) },
		"GetPlugin":    func() error { _, err := db.GetPlugin(ctx, "r", "n"); return err },
		"ListPlugins":  func() error { _, err := db.ListPlugins(ctx, ""); return err },
		"DeletePlugin": func() error { return db.DeletePlugin(ctx, "r", "n") },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
