package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/airlock-dev/airlock/host/sqldb"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// pgNode opens a new handle on the PostgreSQL database dsn, with the store's
// schema, as a node does.
func pgNode(t *testing.T, dsn string) *sqldb.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.OpenURL(ctx, dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.SQLDB()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Two nodes with the same master key share secrets; a node with another key
// refuses to open the vault; a rotation on one node reaches another once it
// has the new key.
func TestVaultPostgresNodes(t *testing.T) {
	noEnvKey(t)
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()

	a, err := OpenDataDir(ctx, pgNode(t, dsn), dirA)
	if err != nil {
		t.Fatal(err)
	}
	want := putAll(t, a)
	copyFile(t, filepath.Join(dirA, KeyFile), filepath.Join(dirB, KeyFile))
	b, err := OpenDataDir(ctx, pgNode(t, dsn), dirB)
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, b, want)

	if _, err := OpenDataDir(ctx, pgNode(t, dsn), dirC); !errors.Is(err, ErrCrypto) {
		t.Fatalf("a node with its own master key opened the vault: %v, want ErrCrypto", err)
	}

	// A stale master.key.new (a rotation that never committed) is removed
	// at open, reading vault_master from PostgreSQL.
	stale := filepath.Join(dirB, KeyFile+pendingSuffix)
	if err := writeKeyFile(stale, mustKey(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDataDir(ctx, pgNode(t, dsn), dirB); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stale %s left: %v", stale, err)
	}

	if err := RotateDataDir(ctx, pgNode(t, dsn), dirA); err != nil {
		t.Fatal(err)
	}
	checkAll(t, a, want)
	if _, err := b.Get(ctx, "default", "GITHUB_TOKEN"); !errors.Is(err, ErrCrypto) {
		t.Fatalf("node without the new key: %v, want ErrCrypto", err)
	}
	copyFile(t, filepath.Join(dirA, KeyFile), filepath.Join(dirB, KeyFile))
	checkAll(t, b, want)
}

// Writers on two nodes (sharing one key file) while one of them rotates:
// every acknowledged Put is readable afterwards under the new key.
func TestVaultPostgresPutsDuringRotation(t *testing.T) {
	noEnvKey(t)
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	nodes := make([]*Vault, 2)
	for i := range nodes {
		v, err := OpenDataDir(ctx, pgNode(t, dsn), dir)
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = v
	}
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = nodes[i%2].Put(ctx, "default", fmt.Sprintf("S%d", i), []byte(fmt.Sprintf("value-%08d", i)))
		})
	}
	if err := RotateDataDir(ctx, pgNode(t, dsn), dir); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	for _, v := range nodes {
		for i := range n {
			s, err := v.Get(ctx, "default", fmt.Sprintf("S%d", i))
			if err != nil || string(s.Expose()) != fmt.Sprintf("value-%08d", i) {
				t.Fatalf("S%d after rotation: %v", i, err)
			}
		}
	}
	var stale int
	if err := nodes[0].db.QueryRowContext(ctx, `SELECT count(*) FROM vault_secrets
		WHERE key_id <> (SELECT key_id FROM vault_master WHERE id = 1)`).Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d rows under another key than vault_master's (%v)", stale, err)
	}
}
