package vault

import (
	"context"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadMasterKeyCreatesPrivateFile(t *testing.T) {
	noEnvKey(t)
	dir := filepath.Join(t.TempDir(), "data")
	k, err := LoadMasterKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key mode %#o, want 0600", fi.Mode().Perm())
	}
	again, err := LoadMasterKey(dir)
	if err != nil || again.ID() != k.ID() {
		t.Fatalf("second load: %v, id %s want %s", err, again.ID(), k.ID())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".master.key.tmp-*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestLoadMasterKeyConcurrentFirstStartsAgree(t *testing.T) {
	noEnvKey(t)
	dir := t.TempDir()
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := LoadMasterKey(dir)
			ids[i], errs[i] = k.ID(), err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("load %d: %v, id %s, want %s: two starts made two keys", i, errs[i], ids[i], ids[0])
		}
	}
}

func TestLoadMasterKeyFromEnvironment(t *testing.T) {
	noEnvKey(t)
	k := mustKey(t)
	t.Setenv(EnvMasterKey, base64.StdEncoding.EncodeToString(k.k[:]))
	dir := t.TempDir()
	got, err := LoadMasterKey(dir)
	if err != nil || got.ID() != k.ID() {
		t.Fatalf("env key: %v, id %s want %s", err, got.ID(), k.ID())
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("created master.key although the key came from the environment")
	}
	if err := RotateDataDir(context.Background(), openDB(t, dir), dir); !errors.Is(err, ErrInvalid) {
		t.Fatalf("RotateDataDir with an environment key = %v, want ErrInvalid (it would lose every secret)", err)
	}
}

func TestLoadMasterKeyRefuses(t *testing.T) {
	good := func(t *testing.T) []byte { k := mustKey(t); return encodeKey(k) }
	tests := []struct {
		name  string
		env   string // AIRLOCK_MASTER_KEY
		file  func(t *testing.T) []byte
		mode  os.FileMode
		isDir bool
		want  error
	}{
		{name: "env key not base64", env: "not base64!", want: ErrInvalid},
		{name: "env key too short", env: base64.StdEncoding.EncodeToString(make([]byte, 16)), want: ErrInvalid},
		{name: "env key too long", env: base64.StdEncoding.EncodeToString(make([]byte, 33)), want: ErrInvalid},
		{name: "key file readable by others", file: good, mode: 0o604, want: ErrInvalid},
		{name: "key file readable by group", file: good, mode: 0o640, want: ErrInvalid},
		{name: "key file writable by group", file: good, mode: 0o620, want: ErrInvalid},
		{name: "key file holding garbage", file: func(*testing.T) []byte { return []byte("hello world") }, mode: 0o600, want: ErrInvalid},
		{name: "key file holding 16 bytes", file: func(*testing.T) []byte {
			return []byte(base64.StdEncoding.EncodeToString(make([]byte, 16)))
		}, mode: 0o600, want: ErrInvalid},
		{name: "key file huge", file: func(*testing.T) []byte { return make([]byte, 1<<20) }, mode: 0o600, want: ErrInvalid},
		{name: "key file is a directory", isDir: true, want: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noEnvKey(t)
			dir := t.TempDir()
			if tt.env != "" {
				t.Setenv(EnvMasterKey, tt.env)
			}
			path := filepath.Join(dir, KeyFile)
			switch {
			case tt.isDir:
				os.Mkdir(path, 0o700)
			case tt.file != nil:
				if err := os.WriteFile(path, tt.file(t), 0o600); err != nil {
					t.Fatal(err)
				}
				os.Chmod(path, tt.mode)
			}
			if _, err := LoadMasterKey(dir); !errors.Is(err, tt.want) {
				t.Fatalf("LoadMasterKey = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestLoadMasterKeyFile(t *testing.T) {
	noEnvKey(t)
	k := mustKey(t)
	path := filepath.Join(t.TempDir(), "operator.key")
	t.Setenv(EnvMasterKeyFile, path)
	dir := t.TempDir()
	if _, err := LoadMasterKey(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing AIRLOCK_MASTER_KEY_FILE = %v, want not-exist (never created)", err)
	}
	if err := os.WriteFile(path, encodeKey(k), 0o400); err != nil {
		t.Fatal(err)
	}
	got, err := LoadMasterKey(dir)
	if err != nil || got.ID() != k.ID() {
		t.Fatalf("key file: %v, id %s want %s", err, got.ID(), k.ID())
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("created master.key although AIRLOCK_MASTER_KEY_FILE was set")
	}
}

// putAll writes secrets and returns them.
func putAll(t *testing.T, v *Vault) map[[2]string]string {
	t.Helper()
	want := map[[2]string]string{
		{"default", "GITHUB_TOKEN"}: "ghp_rotate_me_0123456789",
		{"default", "SLACK"}:        "xoxb-rotate-me-9876543210",
		{"other", "GITHUB_TOKEN"}:   "ghp_other_realm_abcdefgh",
	}
	for k, val := range want {
		if err := v.Put(context.Background(), k[0], k[1], []byte(val)); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

func checkAll(t *testing.T, v *Vault, want map[[2]string]string) {
	t.Helper()
	for k, val := range want {
		s, err := v.Get(context.Background(), k[0], k[1])
		if err != nil || string(s.Expose()) != val {
			t.Fatalf("secret %v lost: %v", k, err)
		}
	}
}

func TestRotateDataDir(t *testing.T) {
	noEnvKey(t)
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	v, err := OpenDataDir(ctx, db, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := putAll(t, v)
	old, _ := LoadMasterKey(dir)

	if err := RotateDataDir(ctx, db, dir); err != nil {
		t.Fatal(err)
	}
	next, err := LoadMasterKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if next.ID() == old.ID() {
		t.Fatal("master.key did not change")
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile+pendingSuffix)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("master.key.new left behind")
	}
	if fi, _ := os.Stat(filepath.Join(dir, KeyFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("rotated master.key mode %#o", fi.Mode().Perm())
	}
	fresh, err := Open(ctx, db, next)
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, fresh, want)
	if _, err := Open(ctx, db, old); !errors.Is(err, ErrCrypto) {
		t.Fatalf("old key after rotation: %v, want ErrCrypto", err)
	}
	if _, err := (&Vault{db: db.SQL(), sdb: db, master: old}).Get(ctx, "default", "GITHUB_TOKEN"); !errors.Is(err, ErrCrypto) {
		t.Fatalf("old key decrypts after rotation: %v", err)
	}

	// The running vault (OpenDataDir) follows the rotation made under it,
	// for reads and for writes.
	checkAll(t, v, want)
	if err := v.Put(ctx, "default", "AFTER", []byte("written-after-rotation")); err != nil {
		t.Fatal(err)
	}
	want[[2]string{"default", "AFTER"}] = "written-after-rotation"
	checkAll(t, fresh, want)

	// A vault opened with a bare key cannot follow, and fails closed.
	if err := (&Vault{db: db.SQL(), sdb: db, master: old}).Put(ctx, "default", "STALE", []byte("stale-writer")); !errors.Is(err, ErrCrypto) {
		t.Fatalf("write under the retired key = %v, want ErrCrypto", err)
	}
}

func TestRotateDataDirEmptyVaultSeenByRunningHost(t *testing.T) {
	noEnvKey(t)
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	v, err := OpenDataDir(ctx, db, dir)
	if err != nil {
		t.Fatal(err)
	}
	// A second process on the same file rotates the empty vault.
	other := openDB(t, dir)
	if err := RotateDataDir(ctx, other, dir); err != nil {
		t.Fatal(err)
	}
	// The running host's next write must be under the new key, or the next
	// start would not read it.
	if err := v.Put(ctx, "default", "TOKEN", []byte(leakValue)); err != nil {
		t.Fatal(err)
	}
	k, err := LoadMasterKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	restarted, err := Open(ctx, db, k)
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, restarted, map[[2]string]string{{"default", "TOKEN"}: leakValue})
}

// crashAfterCommit does what RotateDataDir does up to the commit, and stops
// before the rename.
func crashAfterCommit(t *testing.T, dir string, v *Vault) MasterKey {
	t.Helper()
	next := mustKey(t)
	if err := writeKeyFile(filepath.Join(dir, KeyFile+pendingSuffix), next); err != nil {
		t.Fatal(err)
	}
	if err := v.Rotate(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	return next
}

func TestRotationCrashRecovery(t *testing.T) {
	tests := []struct {
		name string
		// crash leaves the data dir as a crash would and returns the key the
		// rows are under.
		crash func(t *testing.T, dir string, v *Vault, cur MasterKey) MasterKey
		load  func(t *testing.T, dir string) (MasterKey, error)
	}{
		{"crash between commit and rename, LoadMasterKey",
			func(t *testing.T, dir string, v *Vault, _ MasterKey) MasterKey { return crashAfterCommit(t, dir, v) },
			func(t *testing.T, dir string) (MasterKey, error) { return LoadMasterKey(dir) }},
		{"crash between commit and rename, OpenDataDir",
			func(t *testing.T, dir string, v *Vault, _ MasterKey) MasterKey { return crashAfterCommit(t, dir, v) },
			func(t *testing.T, dir string) (MasterKey, error) {
				v, err := OpenDataDir(context.Background(), openDB(t, dir), dir)
				if err != nil {
					return MasterKey{}, err
				}
				return v.master, nil
			}},
		{"crash before commit, new key unused",
			func(t *testing.T, dir string, _ *Vault, cur MasterKey) MasterKey {
				if err := writeKeyFile(filepath.Join(dir, KeyFile+pendingSuffix), mustKey(t)); err != nil {
					t.Fatal(err)
				}
				return cur
			},
			func(t *testing.T, dir string) (MasterKey, error) { return LoadMasterKey(dir) }},
		{"crash while writing the new key, torn file",
			func(t *testing.T, dir string, _ *Vault, cur MasterKey) MasterKey {
				if err := os.WriteFile(filepath.Join(dir, KeyFile+pendingSuffix), []byte("QUJD"), 0o600); err != nil {
					t.Fatal(err)
				}
				return cur
			},
			func(t *testing.T, dir string) (MasterKey, error) { return LoadMasterKey(dir) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noEnvKey(t)
			ctx := context.Background()
			dir := t.TempDir()
			db := openDB(t, dir)
			v, err := OpenDataDir(ctx, db, dir)
			if err != nil {
				t.Fatal(err)
			}
			want := putAll(t, v)
			rowsKey := tt.crash(t, dir, v, v.master)

			got, err := tt.load(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID() != rowsKey.ID() {
				t.Fatalf("loaded key %s, rows are under %s", got.ID(), rowsKey.ID())
			}
			if _, err := os.Stat(filepath.Join(dir, KeyFile+pendingSuffix)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatal("master.key.new not settled")
			}
			onDisk, err := readKeyFile(filepath.Join(dir, KeyFile))
			if err != nil || onDisk.ID() != rowsKey.ID() {
				t.Fatalf("master.key is %s, rows are under %s (%v)", onDisk.ID(), rowsKey.ID(), err)
			}
			restarted, err := Open(ctx, db, got)
			if err != nil {
				t.Fatal(err)
			}
			checkAll(t, restarted, want)
			// And the next rotation works from the settled state.
			if err := RotateDataDir(ctx, db, dir); err != nil {
				t.Fatal(err)
			}
			k, _ := LoadMasterKey(dir)
			restarted, err = Open(ctx, db, k)
			if err != nil {
				t.Fatal(err)
			}
			checkAll(t, restarted, want)
		})
	}
}

func TestRotateDataDirRefusesForeignRows(t *testing.T) {
	noEnvKey(t)
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	v, err := OpenDataDir(ctx, db, dir)
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, v)
	before, _ := LoadMasterKey(dir)
	if _, err := db.SQL().ExecContext(ctx, `UPDATE vault_secrets SET key_id = 'ffffffffffffffff' WHERE realm = 'other'`); err != nil {
		t.Fatal(err)
	}
	if err := RotateDataDir(ctx, db, dir); !errors.Is(err, ErrCrypto) {
		t.Fatalf("RotateDataDir = %v, want ErrCrypto", err)
	}
	after, err := readKeyFile(filepath.Join(dir, KeyFile))
	if err != nil || after.ID() != before.ID() {
		t.Fatal("a refused rotation changed master.key")
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile+pendingSuffix)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a refused rotation left master.key.new")
	}
}

func TestStaleNewKeyBeforeFirstOpen(t *testing.T) {
	noEnvKey(t)
	ctx := context.Background()
	dir := t.TempDir()
	cur, err := LoadMasterKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeKeyFile(filepath.Join(dir, KeyFile+pendingSuffix), mustKey(t)); err != nil {
		t.Fatal(err)
	}
	v, err := OpenDataDir(ctx, openDB(t, dir), dir)
	if err != nil {
		t.Fatal(err)
	}
	if v.master.ID() != cur.ID() {
		t.Fatal("a new vault took the key of a rotation that never happened")
	}
}

// A loader that saw master.key.new and read master.key just before the
// rotation that committed renamed one over the other must not answer with
// the old key: it reads master.key again (TestVaultPostgresPutsDuringRotation
// once failed on this, "secrets are under master key id …, this host has …").
func TestSettlePendingAfterTheRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, KeyFile)
	old, err := NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	next, err := NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	// The rotation is over: master.key is the new key, no pending file;
	// the caller still holds the old key it read a moment earlier.
	if err := writeKeyFile(path, next); err != nil {
		t.Fatal(err)
	}
	got, err := settlePending(path, old, next.ID())
	if err != nil || got.ID() != next.ID() {
		t.Fatalf("settlePending = %v, %v; want the new key %s", got.ID(), err, next.ID())
	}
	// Neither key is the rows' key: the caller's key comes back, for Open
	// to report the mismatch.
	if got, err := settlePending(path, old, "0000000000000000"); err != nil || got.ID() != old.ID() {
		t.Fatalf("settlePending with a foreign key id = %v, %v; want the caller's key", got.ID(), err)
	}
}
