package vault

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/airlock-dev/airlock/host/sqldb"
)

// Where the master key comes from (see LoadMasterKey).
const (
	// EnvMasterKey holds the master key itself, standard base64.
	EnvMasterKey = "AIRLOCK_MASTER_KEY"
	// EnvMasterKeyFile names a file holding the master key.
	EnvMasterKeyFile = "AIRLOCK_MASTER_KEY_FILE"
	// KeyFile is the master key file in the data dir.
	KeyFile = "master.key"
	// pendingSuffix marks the new key of a rotation until it is committed.
	pendingSuffix = ".new"
	// databaseFile is the host's SQLite database in the data dir, as
	// cmd/airlock opens it; LoadMasterKey reads vault_master from it to
	// resolve a rotation that crashed before its rename.
	databaseFile = "airlock.db"
	// maxKeyFile bounds what is read from a key file.
	maxKeyFile = 1 << 10
)

// errMalformed marks a key file whose content is not a key (as opposed to
// one that cannot be read or has loose permissions).
var errMalformed = errors.New("malformed")

// LoadMasterKey reads the master key: from env AIRLOCK_MASTER_KEY (standard
// base64) if set, else from the file env AIRLOCK_MASTER_KEY_FILE names if
// set, else from DATA/master.key, which it creates (mode 0600, atomically)
// when it does not exist. It refuses a key file that group or others may
// access.
//
// If a rotation crashed between its commit and its rename (master.key.new
// exists), it returns whichever key the vault's rows are under, read from
// DATA/airlock.db, and finishes or undoes the rename.
func LoadMasterKey(dataDir string) (MasterKey, error) {
	return loadMasterKey(context.Background(), nil, dataDir)
}

// loadMasterKey is LoadMasterKey reading vault_master through db, or through
// DATA/airlock.db when db is nil.
func loadMasterKey(ctx context.Context, db *sqldb.DB, dataDir string) (MasterKey, error) {
	if s := strings.TrimSpace(os.Getenv(EnvMasterKey)); s != "" {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return MasterKey{}, fmt.Errorf("vault: %w: %s is not standard base64", ErrInvalid, EnvMasterKey)
		}
		defer clear(b)
		if len(b) != MasterKeySize {
			return MasterKey{}, fmt.Errorf("vault: %w: %s holds %d bytes, want %d", ErrInvalid, EnvMasterKey, len(b), MasterKeySize)
		}
		return masterKeyFrom(b)
	}
	path, mayCreate := keyFilePath(dataDir)
	// Look for a pending rotation BEFORE reading the key file: a rotation
	// renames master.key.new over master.key after its commit, so a key
	// file read after seeing no pending file is never older than the rows.
	_, pendErr := os.Lstat(path + pendingSuffix)
	cur, err := readKeyFile(path)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && mayCreate:
		if _, err := os.Stat(path + pendingSuffix); err == nil {
			return MasterKey{}, fmt.Errorf("vault: %w: %s is missing but %s exists; restore the key file",
				ErrInvalid, path, path+pendingSuffix)
		}
		if cur, err = createKeyFile(path); err != nil {
			return MasterKey{}, err
		}
	default:
		return MasterKey{}, err
	}
	if errors.Is(pendErr, fs.ErrNotExist) {
		return cur, nil
	}
	if db == nil {
		dbPath := filepath.Join(dataDir, databaseFile)
		if _, err := os.Stat(dbPath); errors.Is(err, fs.ErrNotExist) {
			return cur, nil // no database, no rows: the current key is as good as any
		}
		if db, err = sqldb.OpenSQLite(ctx, dbPath); err != nil {
			return MasterKey{}, fmt.Errorf("vault: %w", err)
		}
		defer db.Close()
	}
	return resolvePending(ctx, db, path, cur)
}

// keyFilePath returns the master key file: AIRLOCK_MASTER_KEY_FILE if set
// (never created), else DATA/master.key (created when missing).
func keyFilePath(dataDir string) (path string, mayCreate bool) {
	if p := os.Getenv(EnvMasterKeyFile); p != "" {
		return p, false
	}
	return filepath.Join(dataDir, KeyFile), true
}

// resolvePending settles a master.key.new left by a rotation, holding the
// database's write lock so that no rotation runs meanwhile: if vault_master
// names the new key the rotation committed, and the new key is renamed over
// path; if it names cur the rotation never committed, and the new key is
// removed. It returns the key the rows are under (cur when neither matches,
// so that Open reports the mismatch).
func resolvePending(ctx context.Context, db *sqldb.DB, path string, cur MasterKey) (MasterKey, error) {
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'vault_master'`
	if db.Dialect() == sqldb.Postgres {
		q = `SELECT count(*) FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_name = 'vault_master'`
	}
	var tables int
	if err := db.SQL().QueryRowContext(ctx, q).Scan(&tables); err != nil {
		return MasterKey{}, fmt.Errorf("vault: resolve rotation: %w", err)
	}
	if tables == 0 {
		return cur, nil // no vault yet
	}
	tx, err := lockedTx(ctx, db)
	if err != nil {
		return MasterKey{}, fmt.Errorf("vault: resolve rotation: %w", err)
	}
	defer tx.Rollback()
	meta, err := readMeta(ctx, tx)
	if errors.Is(err, sql.ErrNoRows) {
		return cur, nil // the vault was never opened: no row is under any key
	} else if err != nil {
		return MasterKey{}, err
	}
	return settlePending(path, cur, meta)
}

// settlePending is resolvePending's file work; the caller holds the write
// lock. It returns the key whose ID is meta if it has it, else cur.
func settlePending(path string, cur MasterKey, meta string) (MasterKey, error) {
	newPath := path + pendingSuffix
	next, err := readKeyFile(newPath)
	switch {
	case errors.Is(err, fs.ErrNotExist) && cur.ID() != meta:
		// The pending file was there when the caller looked, and is gone
		// now: the rotation that committed renamed it over path after the
		// caller read cur. path holds the rows' key.
		if now, err := readKeyFile(path); err == nil && now.ID() == meta {
			return now, nil
		}
		return cur, nil
	case errors.Is(err, fs.ErrNotExist):
		return cur, nil
	case err == nil && next.ID() == meta:
		if err := os.Rename(newPath, path); err != nil {
			return MasterKey{}, fmt.Errorf("vault: finish rotation: %w", err)
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			return MasterKey{}, err
		}
		return next, nil
	case err == nil && cur.ID() != meta:
		// Neither key is the rows' key: leave both files for the operator.
		return cur, nil
	case err == nil || errors.Is(err, errMalformed):
		// The rotation never committed: its key was unused, or torn (a
		// rotation fsyncs the new key before it commits).
		if err := os.Remove(newPath); err != nil {
			return MasterKey{}, fmt.Errorf("vault: remove stale %s: %w", newPath, err)
		}
		return cur, syncDir(filepath.Dir(path))
	default:
		return MasterKey{}, err
	}
}

// vaultLock is the PostgreSQL advisory lock that stands for SQLite's write
// lock in lockedTx: every vault write and rotation, on every node, holds it.
const vaultLock int64 = 0x6169726c6f636b02 // "airlock\x02"

// lockedTx begins a transaction that holds the database's write lock (on
// PostgreSQL: vaultLock, then the vault_master row) from its first
// statement, whatever the DSN's _txlock.
func lockedTx(ctx context.Context, db *sqldb.DB) (*sql.Tx, error) {
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if db.Dialect() == sqldb.Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, vaultLock); err != nil {
			tx.Rollback()
			return nil, err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE vault_master SET key_id = key_id WHERE id = 1`); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// readKeyFile reads a master key file: standard base64 of 32 bytes, with
// surrounding white space. A file group or others may access is refused.
func readKeyFile(path string) (MasterKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return MasterKey{}, fmt.Errorf("vault: master key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return MasterKey{}, fmt.Errorf("vault: master key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return MasterKey{}, fmt.Errorf("vault: %w: master key %s is not a regular file", ErrInvalid, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return MasterKey{}, fmt.Errorf("vault: %w: master key %s has mode %#o; group and others must have no access (chmod 600)",
			ErrInvalid, path, perm)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return MasterKey{}, fmt.Errorf("vault: master key: %w", err)
	}
	defer clear(raw)
	if len(raw) > maxKeyFile {
		return MasterKey{}, fmt.Errorf("vault: %w: master key %s is too large (%w)", ErrInvalid, path, errMalformed)
	}
	b, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(raw)))
	if err != nil {
		return MasterKey{}, fmt.Errorf("vault: %w: master key %s is not standard base64 (%w)", ErrInvalid, path, errMalformed)
	}
	defer clear(b)
	if len(b) != MasterKeySize {
		return MasterKey{}, fmt.Errorf("vault: %w: master key %s holds %d bytes, want %d (%w)",
			ErrInvalid, path, len(b), MasterKeySize, errMalformed)
	}
	return masterKeyFrom(b)
}

func encodeKey(k MasterKey) []byte {
	out := make([]byte, base64.StdEncoding.EncodedLen(MasterKeySize), base64.StdEncoding.EncodedLen(MasterKeySize)+1)
	base64.StdEncoding.Encode(out, k.k[:])
	return append(out, '\n')
}

// writeKeyFile creates path (which must not exist) with mode 0600, writes k
// and fsyncs the file. The caller fsyncs the directory.
func writeKeyFile(path string, k MasterKey) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("vault: write master key: %w", err)
	}
	return writeKey(f, k)
}

// writeKey writes k to the new file f, fsyncs and closes it; on failure it
// removes the file.
func writeKey(f *os.File, k MasterKey) error {
	b := encodeKey(k)
	defer clear(b)
	_, err := f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("vault: write master key: %w", err)
	}
	return nil
}

// createKeyFile makes a new master key at path: written to a temporary file
// in the same directory, fsynced, then hard-linked to path, which fails if
// another process created path first; that process's key is then used.
func createKeyFile(path string) (MasterKey, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return MasterKey{}, fmt.Errorf("vault: create master key: %w", err)
	}
	k, err := NewMasterKey()
	if err != nil {
		return MasterKey{}, err
	}
	tmp, err := os.CreateTemp(dir, ".master.key.tmp-*") // mode 0600
	if err != nil {
		return MasterKey{}, fmt.Errorf("vault: create master key: %w", err)
	}
	if err := writeKey(tmp, k); err != nil {
		return MasterKey{}, err
	}
	defer os.Remove(tmp.Name())
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return readKeyFile(path)
	} else if err != nil {
		return MasterKey{}, fmt.Errorf("vault: create master key: %w", err)
	}
	if err := os.Remove(tmp.Name()); err != nil {
		return MasterKey{}, fmt.Errorf("vault: create master key: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return MasterKey{}, err
	}
	return k, nil
}

// syncDir fsyncs a directory so that a create, link or rename in it is
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("vault: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("vault: sync %s: %w", dir, err)
	}
	return nil
}
