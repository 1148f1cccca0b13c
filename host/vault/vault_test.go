package vault

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPutGetListDelete(t *testing.T) {
	ctx := context.Background()
	v, _, _ := newVault(t)
	if err := v.Put(ctx, "default", "GITHUB_TOKEN", []byte(leakValue)); err != nil {
		t.Fatal(err)
	}
	if err := v.Put(ctx, "default", "API_KEY", []byte("first-value")); err != nil {
		t.Fatal(err)
	}
	if err := v.Put(ctx, "default", "API_KEY", []byte("second-value")); err != nil {
		t.Fatal(err)
	}
	s, err := v.Get(ctx, "default", "API_KEY")
	if err != nil || string(s.Expose()) != "second-value" {
		t.Fatalf("Get = %v, %v; want the overwritten value", err, s.Len())
	}
	infos, err := v.List(ctx, "default")
	if err != nil || len(infos) != 2 || infos[0].Name != "API_KEY" || infos[1].Name != "GITHUB_TOKEN" || infos[0].UpdatedAt.IsZero() {
		t.Fatalf("List = %+v, %v", infos, err)
	}
	vals, err := v.Values(ctx, "default")
	if err != nil || len(vals) != 2 || string(vals[0].Expose()) != "second-value" || string(vals[1].Expose()) != leakValue {
		t.Fatalf("Values: %d, %v", len(vals), err)
	}
	if ok, err := v.Present(ctx, "default", "GITHUB_TOKEN"); !ok || err != nil {
		t.Fatalf("Present = %v, %v", ok, err)
	}
	if err := v.Delete(ctx, "default", "GITHUB_TOKEN"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := v.Present(ctx, "default", "GITHUB_TOKEN"); ok {
		t.Fatal("deleted secret still present")
	}
	if _, err := v.Get(ctx, "default", "GITHUB_TOKEN"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get deleted = %v, want ErrNotFound", err)
	}
	if err := v.Delete(ctx, "default", "GITHUB_TOKEN"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete twice = %v, want ErrNotFound", err)
	}
}

func TestRealmsAreSeparate(t *testing.T) {
	ctx := context.Background()
	v, _, _ := newVault(t)
	if err := v.Put(ctx, "alpha", "TOKEN", []byte("alpha-secret")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
	}{
		{"get from another realm", func() error { _, err := v.Get(ctx, "beta", "TOKEN"); return err }},
		{"delete from another realm", func() error { return v.Delete(ctx, "beta", "TOKEN") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
		})
	}
	if ok, _ := v.Present(ctx, "beta", "TOKEN"); ok {
		t.Fatal("present in another realm")
	}
	if l, _ := v.List(ctx, "beta"); len(l) != 0 {
		t.Fatalf("listed in another realm: %+v", l)
	}
	if vals, _ := v.Values(ctx, "beta"); len(vals) != 0 {
		t.Fatal("values of another realm")
	}
}

func TestPutRefuses(t *testing.T) {
	ctx := context.Background()
	v, _, _ := newVault(t)
	good := []byte("0123456789")
	tests := []struct {
		name, realm, secret string
		value               []byte
	}{
		{"lowercase name", "default", "github_token", good},
		{"name starting with a digit", "default", "1TOKEN", good},
		{"name with a dash", "default", "GH-TOKEN", good},
		{"name with NUL", "default", "TOKEN\x00X", good},
		{"name with path", "default", "../TOKEN", good},
		{"empty name", "default", "", good},
		{"name of 65 characters", "default", "A" + strings.Repeat("B", 64), good},
		{"empty realm", "", "TOKEN", good},
		{"realm with NUL to forge the AAD", "a\x00b", "TOKEN", good},
		{"realm in upper case", "Default", "TOKEN", good},
		{"empty value", "default", "TOKEN", nil},
		{"value of 7 bytes", "default", "TOKEN", []byte("1234567")},
		{"value over 16 KiB", "default", "TOKEN", make([]byte, MaxSecretBytes+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := v.Put(ctx, tt.realm, tt.secret, tt.value); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Put = %v, want ErrInvalid", err)
			}
		})
	}
	for _, n := range []int{MinSecretBytes, MaxSecretBytes} {
		if err := v.Put(ctx, "default", "EDGE", bytes.Repeat([]byte{'x'}, n)); err != nil {
			t.Fatalf("Put of %d bytes: %v", n, err)
		}
	}
	if err := v.Put(ctx, "default", "A"+strings.Repeat("B", 63), good); err != nil {
		t.Fatalf("Put with a 64-character name: %v", err)
	}
}

func TestValueNeverInDatabaseFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	v, err := Open(ctx, db, mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	value := []byte("sk_live_PLAINTEXT_CANARY_0123456789")
	if err := v.Put(ctx, "default", "STRIPE_KEY", value); err != nil {
		t.Fatal(err)
	}
	if err := v.Put(ctx, "other", "STRIPE_KEY", value); err != nil {
		t.Fatal(err)
	}
	forms := map[string][]byte{
		"raw":         value,
		"hex":         []byte(hex.EncodeToString(value)),
		"base64":      []byte(base64.StdEncoding.EncodeToString(value)),
		"part of raw": value[8:24],
	}
	files, _ := filepath.Glob(filepath.Join(dir, databaseFile+"*"))
	if len(files) < 2 {
		t.Fatalf("expected the database and its WAL, found %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for name, form := range forms {
			if bytes.Contains(b, form) {
				t.Errorf("%s holds the value (%s)", filepath.Base(f), name)
			}
		}
	}
	if _, err := db.SQL().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, databaseFile))
	if bytes.Contains(b, value) {
		t.Error("database holds the value after a checkpoint")
	}
	if !bytes.Contains(b, []byte("STRIPE_KEY")) {
		t.Error("the test looked in the wrong file: the secret's name is not there either")
	}
}

func TestTamperedRowsFailToDecrypt(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		tamper string // SQL run after the Put of default/TOKEN
		get    [2]string
	}{
		{"row moved to another realm", `UPDATE vault_secrets SET realm = 'evil'`, [2]string{"evil", "TOKEN"}},
		{"row renamed to another secret", `UPDATE vault_secrets SET name = 'OTHER'`, [2]string{"default", "OTHER"}},
		{"ciphertext bit flipped", `UPDATE vault_secrets SET ciphertext = (substr(ciphertext, 1, 3) || x'ff' || substr(ciphertext, 5))`, [2]string{"default", "TOKEN"}},
		{"ciphertext truncated", `UPDATE vault_secrets SET ciphertext = substr(ciphertext, 1, 10)`, [2]string{"default", "TOKEN"}},
		{"salt replaced", `UPDATE vault_secrets SET salt = zeroblob(32)`, [2]string{"default", "TOKEN"}},
		{"salt shortened", `UPDATE vault_secrets SET salt = zeroblob(4)`, [2]string{"default", "TOKEN"}},
		{"nonce replaced", `UPDATE vault_secrets SET nonce = zeroblob(12)`, [2]string{"default", "TOKEN"}},
		{"key id forged", `UPDATE vault_secrets SET key_id = '0000000000000000'`, [2]string{"default", "TOKEN"}},
		{"ciphertext swapped with another secret's", `UPDATE vault_secrets SET
			salt = (SELECT salt FROM vault_secrets WHERE name = 'DECOY'),
			nonce = (SELECT nonce FROM vault_secrets WHERE name = 'DECOY'),
			ciphertext = (SELECT ciphertext FROM vault_secrets WHERE name = 'DECOY') WHERE name = 'TOKEN'`,
			[2]string{"default", "TOKEN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, db, _ := newVault(t)
			if err := v.Put(ctx, "default", "TOKEN", []byte(leakValue)); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(tt.tamper, "DECOY") {
				if err := v.Put(ctx, "default", "DECOY", []byte("decoy-value")); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.SQL().ExecContext(ctx, tt.tamper); err != nil {
				t.Fatal(err)
			}
			s, err := v.Get(ctx, tt.get[0], tt.get[1])
			if !errors.Is(err, ErrCrypto) {
				t.Fatalf("Get = %v (len %d), want ErrCrypto", err, s.Len())
			}
			if strings.Contains(err.Error(), leakValue) {
				t.Fatal("error holds the value")
			}
			if _, err := v.Values(ctx, tt.get[0]); !errors.Is(err, ErrCrypto) {
				t.Fatalf("Values = %v, want ErrCrypto (a scanner must not silently miss a value)", err)
			}
		})
	}
}

func TestWrongMasterKey(t *testing.T) {
	ctx := context.Background()
	v, db, _ := newVault(t)
	if err := v.Put(ctx, "default", "TOKEN", []byte(leakValue)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, db, mustKey(t)); !errors.Is(err, ErrCrypto) {
		t.Fatalf("Open with another master key = %v, want ErrCrypto", err)
	}
	// Even a vault that skipped Open's check cannot decrypt.
	wrong := &Vault{db: db.SQL(), sdb: db, master: mustKey(t)}
	if _, err := wrong.Get(ctx, "default", "TOKEN"); !errors.Is(err, ErrCrypto) {
		t.Fatalf("Get with another master key = %v, want ErrCrypto", err)
	}
	if err := wrong.Put(ctx, "default", "OTHER", []byte("another-value")); !errors.Is(err, ErrCrypto) {
		t.Fatalf("Put with another master key = %v, want ErrCrypto (no rows under mixed keys)", err)
	}
	// Forge the key id too: the derived key is still wrong.
	wrongKey := mustKey(t)
	if _, err := db.SQL().ExecContext(ctx, `UPDATE vault_secrets SET key_id = ?`, wrongKey.ID()); err != nil {
		t.Fatal(err)
	}
	wrong = &Vault{db: db.SQL(), sdb: db, master: wrongKey}
	if _, err := wrong.Get(ctx, "default", "TOKEN"); !errors.Is(err, ErrCrypto) {
		t.Fatalf("Get with a forged key id = %v, want ErrCrypto", err)
	}
}

func TestOpenRefusesZeroKey(t *testing.T) {
	db := openDB(t, t.TempDir())
	if _, err := Open(context.Background(), db, MasterKey{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open = %v, want ErrInvalid", err)
	}
}

func TestEmptyVaultAdoptsNewKey(t *testing.T) {
	ctx := context.Background()
	v, db, _ := newVault(t)
	if err := v.Put(ctx, "default", "TOKEN", []byte(leakValue)); err != nil {
		t.Fatal(err)
	}
	if err := v.Delete(ctx, "default", "TOKEN"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, db, mustKey(t)); err != nil {
		t.Fatalf("empty vault refused a new key: %v", err)
	}
}

func TestRotateKeepsEverySecret(t *testing.T) {
	ctx := context.Background()
	v, db, old := newVault(t)
	want := map[[2]string]string{
		{"default", "A"}: "value-of-a-123",
		{"default", "B"}: "value-of-b-456",
		{"other", "A"}:   "other-realm-a-789",
	}
	for k, val := range want {
		if err := v.Put(ctx, k[0], k[1], []byte(val)); err != nil {
			t.Fatal(err)
		}
	}
	next := mustKey(t)
	if err := v.Rotate(ctx, next); err != nil {
		t.Fatal(err)
	}
	for k, val := range want {
		s, err := v.Get(ctx, k[0], k[1])
		if err != nil || string(s.Expose()) != val {
			t.Fatalf("after rotation %v: %v", k, err)
		}
	}
	var stale int
	if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM vault_secrets WHERE key_id <> ?`, next.ID()).Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d rows not under the new key (%v)", stale, err)
	}
	if _, err := Open(ctx, db, old); !errors.Is(err, ErrCrypto) {
		t.Fatalf("old key opens the vault after rotation: %v", err)
	}
	if _, err := (&Vault{db: db.SQL(), sdb: db, master: old}).Get(ctx, "default", "A"); !errors.Is(err, ErrCrypto) {
		t.Fatalf("old key decrypts after rotation: %v", err)
	}
	if _, err := Open(ctx, db, next); err != nil {
		t.Fatalf("new key does not open the vault: %v", err)
	}
	if err := v.Rotate(ctx, next); !errors.Is(err, ErrInvalid) {
		t.Fatalf("rotate to the same key = %v, want ErrInvalid", err)
	}
}

func TestRotateRefusesForeignRows(t *testing.T) {
	ctx := context.Background()
	v, db, _ := newVault(t)
	for _, n := range []string{"A", "B"} {
		if err := v.Put(ctx, "default", n, []byte("value-"+n+"-123")); err != nil {
			t.Fatal(err)
		}
	}
	var before []byte
	db.SQL().QueryRowContext(ctx, `SELECT ciphertext FROM vault_secrets WHERE name = 'A'`).Scan(&before)
	if _, err := db.SQL().ExecContext(ctx, `UPDATE vault_secrets SET key_id = 'ffffffffffffffff' WHERE name = 'B'`); err != nil {
		t.Fatal(err)
	}
	if err := v.Rotate(ctx, mustKey(t)); !errors.Is(err, ErrCrypto) {
		t.Fatalf("Rotate = %v, want ErrCrypto", err)
	}
	var after []byte
	db.SQL().QueryRowContext(ctx, `SELECT ciphertext FROM vault_secrets WHERE name = 'A'`).Scan(&after)
	if !bytes.Equal(before, after) {
		t.Fatal("a failed rotation changed a row")
	}
	if s, err := v.Get(ctx, "default", "A"); err != nil || string(s.Expose()) != "value-A-123" {
		t.Fatalf("after a failed rotation: %v", err)
	}
}
