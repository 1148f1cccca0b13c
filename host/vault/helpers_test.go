package vault

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/airlock-dev/airlock/host/sqldb"
	"github.com/airlock-dev/airlock/host/store"
)

// openDB opens a host database in dir as the host does (store.Open: WAL,
// synchronous=FULL).
func openDB(t *testing.T, dir string) *sqldb.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(dir, databaseFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.SQLDB()
}

// noEnvKey clears the master key environment for the test.
func noEnvKey(t *testing.T) {
	t.Helper()
	t.Setenv(EnvMasterKey, "")
	t.Setenv(EnvMasterKeyFile, "")
}

func mustKey(t *testing.T) MasterKey {
	t.Helper()
	k, err := NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newVault opens a vault under a fresh master key in a fresh database.
func newVault(t *testing.T) (*Vault, *sqldb.DB, MasterKey) {
	t.Helper()
	db := openDB(t, t.TempDir())
	k := mustKey(t)
	v, err := Open(context.Background(), db, k)
	if err != nil {
		t.Fatal(err)
	}
	return v, db, k
}
