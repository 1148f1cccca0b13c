package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/host/sqldb"
)

// Value sizes Put accepts.
const (
	MinSecretBytes = 8
	MaxSecretBytes = 16 << 10
)

var (
	nameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)
	// realmRE is grant.ValidRealm's grammar (kept here so that the vault
	// does not depend on the grant package).
	realmRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

// ValidName reports whether s is a well-formed secret name:
// ^[A-Z][A-Z0-9_]{0,63}$.
func ValidName(s string) bool { return nameRE.MatchString(s) }

const schema = `
CREATE TABLE IF NOT EXISTS vault_secrets (
	realm      TEXT NOT NULL,
	name       TEXT NOT NULL,
	key_id     TEXT NOT NULL,
	salt       BLOB NOT NULL,
	nonce      BLOB NOT NULL,
	ciphertext BLOB NOT NULL,
	updated_at INTEGER NOT NULL, -- unix microseconds
	PRIMARY KEY (realm, name)
);
CREATE TABLE IF NOT EXISTS vault_master (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	key_id TEXT NOT NULL -- the master key id every vault_secrets row is under
);`

// pgSchema is schema in PostgreSQL's dialect.
const pgSchema = `
CREATE TABLE IF NOT EXISTS vault_secrets (
	realm      TEXT NOT NULL,
	name       TEXT NOT NULL,
	key_id     TEXT NOT NULL,
	salt       BYTEA NOT NULL,
	nonce      BYTEA NOT NULL,
	ciphertext BYTEA NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (realm, name)
);
CREATE TABLE IF NOT EXISTS vault_master (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	key_id TEXT NOT NULL
);`

// Vault stores secrets encrypted in the host database. It is safe for
// concurrent use, also by several processes sharing the database file or
// several nodes sharing a PostgreSQL database (which must all hold the same
// master key).
type Vault struct {
	db  *sql.DB
	sdb *sqldb.DB

	mu     sync.RWMutex
	master MasterKey
	// reload re-reads the master key after another process rotated it; nil
	// when the vault was opened with a bare key.
	reload func(context.Context) (MasterKey, error)
}

// Info describes a stored secret without its value.
type Info struct {
	Name      string
	UpdatedAt time.Time
}

// Open creates the vault's tables in db if needed and checks that master is
// the key the stored rows are under (ErrCrypto otherwise; an empty vault
// adopts master). db is the host's database (see package store).
func Open(ctx context.Context, db *sqldb.DB, master MasterKey) (*Vault, error) {
	if db == nil {
		return nil, fmt.Errorf("vault: %w: nil database", ErrInvalid)
	}
	if !master.valid() {
		return nil, fmt.Errorf("vault: %w: zero master key", ErrInvalid)
	}
	if err := initSchema(ctx, db, master); err != nil {
		return nil, err
	}
	return &Vault{db: db.SQL(), sdb: db, master: master}, nil
}

// OpenDataDir loads the master key as LoadMasterKey does (resolving a
// rotation left half-done through db) and opens the vault. The vault then
// follows a rotation that `airlock vault rotate` makes while it runs: when
// it meets rows under a new key id it reloads the key from dataDir.
//
// With a PostgreSQL store every node must load the same master key: set the
// same AIRLOCK_MASTER_KEY (or AIRLOCK_MASTER_KEY_FILE) on each, or copy
// DATA/master.key to each before its first start; a node with another key
// refuses to start (ErrCrypto) once the vault holds a secret.
func OpenDataDir(ctx context.Context, db *sqldb.DB, dataDir string) (*Vault, error) {
	if db == nil {
		return nil, fmt.Errorf("vault: %w: nil database", ErrInvalid)
	}
	if err := createSchema(ctx, db); err != nil {
		return nil, err
	}
	master, err := loadMasterKey(ctx, db, dataDir)
	if err != nil {
		return nil, err
	}
	v, err := Open(ctx, db, master)
	if err != nil {
		return nil, err
	}
	v.reload = func(ctx context.Context) (MasterKey, error) { return loadMasterKey(ctx, db, dataDir) }
	return v, nil
}

// createSchema creates the vault's tables in the dialect of db; on
// PostgreSQL under sqldb.SchemaLock, so that nodes starting together do not
// race on it.
func createSchema(ctx context.Context, db *sqldb.DB) error {
	ddl := schema
	if db.Dialect() == sqldb.Postgres {
		ddl = pgSchema
	}
	err := db.CreateSchema(ctx, ddl)
	if err != nil {
		return fmt.Errorf("vault: create tables: %w", err)
	}
	return nil
}

// initSchema creates the tables and records or checks the vault's master key
// id, in one transaction.
func initSchema(ctx context.Context, db *sqldb.DB, master MasterKey) error {
	if err := createSchema(ctx, db); err != nil {
		return err
	}
	tx, err := lockedTx(ctx, db)
	if err != nil {
		return fmt.Errorf("vault: open: %w", err)
	}
	defer tx.Rollback()
	var rows int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM vault_secrets`).Scan(&rows); err != nil {
		return fmt.Errorf("vault: open: %w", err)
	}
	meta, err := readMeta(ctx, tx)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && meta != master.ID() && rows == 0):
		// A new or empty vault takes the key it is opened with.
		if _, err := tx.ExecContext(ctx, `INSERT INTO vault_master (id, key_id) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id`, master.ID()); err != nil {
			return fmt.Errorf("vault: open: %w", err)
		}
	case err != nil:
		return err
	case meta != master.ID():
		return fmt.Errorf("vault: %w: the master key (id %s) is not the key the vault's secrets are under (id %s)",
			ErrCrypto, master.ID(), meta)
	}
	if rows > 0 {
		var foreign int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM vault_secrets WHERE key_id <> ?`,
			master.ID()).Scan(&foreign); err != nil {
			return fmt.Errorf("vault: open: %w", err)
		}
		if foreign > 0 {
			return fmt.Errorf("vault: %w: %d secrets are under another master key than id %s", ErrCrypto, foreign, master.ID())
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("vault: open: %w", err)
	}
	return nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readMeta returns the master key id recorded in vault_master, or an error
// wrapping sql.ErrNoRows when there is none.
func readMeta(ctx context.Context, q querier) (string, error) {
	var id string
	if err := q.QueryRowContext(ctx, `SELECT key_id FROM vault_master WHERE id = 1`).Scan(&id); err != nil {
		return "", fmt.Errorf("vault: read master key id: %w", err)
	}
	return id, nil
}

// keyFor returns the master key whose id is want: the current one, or, after
// a rotation by another process, the reloaded one.
func (v *Vault) keyFor(ctx context.Context, want string) (MasterKey, error) {
	v.mu.RLock()
	m := v.master
	v.mu.RUnlock()
	if m.ID() == want {
		return m, nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.master.ID() == want {
		return v.master, nil
	}
	if v.reload != nil {
		if k, err := v.reload(ctx); err == nil && k.ID() == want {
			v.master = k
			return k, nil
		}
	}
	return MasterKey{}, fmt.Errorf("vault: %w: secrets are under master key id %s, this host has %s", ErrCrypto, want, v.master.ID())
}

func checkRealmName(realm, name string) error {
	if !realmRE.MatchString(realm) {
		return fmt.Errorf("vault: %w: realm %q", ErrInvalid, realm)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("vault: %w: secret name %q (want ^[A-Z][A-Z0-9_]{0,63}$)", ErrInvalid, name)
	}
	return nil
}

// Put stores value as secret name of realm, replacing any earlier value. The
// value must be MinSecretBytes to MaxSecretBytes long. The row is sealed
// with a fresh salt and nonce, so writing the same value twice stores
// different bytes.
func (v *Vault) Put(ctx context.Context, realm, name string, value []byte) error {
	if err := checkRealmName(realm, name); err != nil {
		return err
	}
	if n := len(value); n < MinSecretBytes || n > MaxSecretBytes {
		return fmt.Errorf("vault: %w: secret %s is %d bytes, want %d to %d", ErrInvalid, name, n, MinSecretBytes, MaxSecretBytes)
	}
	// The row must be sealed under the key vault_master names at commit;
	// another process may rotate between reading it and committing, so
	// check again under the write lock and retry.
	for range 3 {
		meta, err := readMeta(ctx, v.db)
		if err != nil {
			return err
		}
		key, err := v.keyFor(ctx, meta)
		if err != nil {
			return err
		}
		s, err := seal(key, realm, name, value)
		if err != nil {
			return err
		}
		done, err := v.put(ctx, realm, name, s)
		if err != nil || done {
			return err
		}
	}
	return fmt.Errorf("vault: %w: the master key kept changing", ErrCrypto)
}

func (v *Vault) put(ctx context.Context, realm, name string, s sealed) (done bool, err error) {
	tx, err := lockedTx(ctx, v.sdb)
	if err != nil {
		return false, fmt.Errorf("vault: put: %w", err)
	}
	defer tx.Rollback()
	if meta, err := readMeta(ctx, tx); err != nil {
		return false, err
	} else if meta != s.keyID {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO vault_secrets (realm, name, key_id, salt, nonce, ciphertext, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (realm, name) DO UPDATE SET key_id = excluded.key_id, salt = excluded.salt,
			nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
		realm, name, s.keyID, s.salt, s.nonce, s.data, time.Now().UnixMicro()); err != nil {
		return false, fmt.Errorf("vault: put: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("vault: put: %w", err)
	}
	return true, nil
}

// Delete removes secret name of realm; ErrNotFound if there is none.
func (v *Vault) Delete(ctx context.Context, realm, name string) error {
	if err := checkRealmName(realm, name); err != nil {
		return err
	}
	res, err := v.db.ExecContext(ctx, `DELETE FROM vault_secrets WHERE realm = ? AND name = ?`, realm, name)
	if err != nil {
		return fmt.Errorf("vault: delete: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("vault: delete: %w", err)
	} else if n == 0 {
		return fmt.Errorf("vault: secret %s in realm %s: %w", name, realm, ErrNotFound)
	}
	return nil
}

// Get returns secret name of realm; ErrNotFound if there is none, ErrCrypto
// if its row does not decrypt.
func (v *Vault) Get(ctx context.Context, realm, name string) (Secret, error) {
	if err := checkRealmName(realm, name); err != nil {
		return Secret{}, err
	}
	var s sealed
	err := v.db.QueryRowContext(ctx,
		`SELECT key_id, salt, nonce, ciphertext FROM vault_secrets WHERE realm = ? AND name = ?`,
		realm, name).Scan(&s.keyID, &s.salt, &s.nonce, &s.data)
	if errors.Is(err, sql.ErrNoRows) {
		return Secret{}, fmt.Errorf("vault: secret %s in realm %s: %w", name, realm, ErrNotFound)
	} else if err != nil {
		return Secret{}, fmt.Errorf("vault: get: %w", err)
	}
	return v.open(ctx, realm, name, s)
}

func (v *Vault) open(ctx context.Context, realm, name string, s sealed) (Secret, error) {
	key, err := v.keyFor(ctx, s.keyID)
	if err != nil {
		return Secret{}, err
	}
	value, err := unseal(key, realm, name, s)
	if err != nil {
		return Secret{}, err
	}
	return Secret{v: &secretValue{b: value}}, nil
}

// Present reports whether realm holds a secret called name. A malformed name
// is simply absent.
func (v *Vault) Present(ctx context.Context, realm, name string) (bool, error) {
	if checkRealmName(realm, name) != nil {
		return false, nil
	}
	var ok bool
	if err := v.db.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM vault_secrets WHERE realm = ? AND name = ?)`, realm, name).Scan(&ok); err != nil {
		return false, fmt.Errorf("vault: present: %w", err)
	}
	return ok, nil
}

// List returns the names of realm's secrets, sorted, and when each was last
// written; never a value.
func (v *Vault) List(ctx context.Context, realm string) ([]Info, error) {
	rows, err := v.db.QueryContext(ctx,
		`SELECT name, updated_at FROM vault_secrets WHERE realm = ? ORDER BY name`, realm)
	if err != nil {
		return nil, fmt.Errorf("vault: list: %w", err)
	}
	defer rows.Close()
	var out []Info
	for rows.Next() {
		var (
			i  Info
			us int64
		)
		if err := rows.Scan(&i.Name, &us); err != nil {
			return nil, fmt.Errorf("vault: list: %w", err)
		}
		i.UpdatedAt = time.UnixMicro(us).UTC()
		out = append(out, i)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vault: list: %w", err)
	}
	return out, nil
}

// Values returns every secret value of realm, sorted by name, for leak
// scanning ([NewScanner]). A row that does not decrypt fails the whole call
// with ErrCrypto, so a scanner never silently misses a value.
func (v *Vault) Values(ctx context.Context, realm string) ([]Secret, error) {
	type row struct {
		name string
		s    sealed
	}
	rs, err := v.db.QueryContext(ctx,
		`SELECT name, key_id, salt, nonce, ciphertext FROM vault_secrets WHERE realm = ? ORDER BY name`, realm)
	if err != nil {
		return nil, fmt.Errorf("vault: values: %w", err)
	}
	var all []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.name, &r.s.keyID, &r.s.salt, &r.s.nonce, &r.s.data); err != nil {
			rs.Close()
			return nil, fmt.Errorf("vault: values: %w", err)
		}
		all = append(all, r)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("vault: values: %w", err)
	}
	out := make([]Secret, 0, len(all))
	for _, r := range all {
		s, err := v.open(ctx, realm, r.name, r.s)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Rotate re-encrypts every row, of every realm, under newMaster in one
// transaction and switches the vault to it. A row under another key id than
// the vault's, or one that does not decrypt, is ErrCrypto and nothing
// changes. The caller keeps newMaster (RotateDataDir does that for a data
// dir).
func (v *Vault) Rotate(ctx context.Context, newMaster MasterKey) error {
	if !newMaster.valid() {
		return fmt.Errorf("vault: %w: zero master key", ErrInvalid)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if newMaster.ID() == v.master.ID() {
		return fmt.Errorf("vault: %w: the new master key is the current one", ErrInvalid)
	}
	tx, err := lockedTx(ctx, v.sdb)
	if err != nil {
		return fmt.Errorf("vault: rotate: %w", err)
	}
	defer tx.Rollback()
	if err := rotateRows(ctx, tx, v.master, newMaster); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("vault: rotate: %w", err)
	}
	v.master = newMaster
	return nil
}

// rotateRows re-seals every row from cur to next and records next in
// vault_master, inside tx.
func rotateRows(ctx context.Context, tx *sql.Tx, cur, next MasterKey) error {
	if meta, err := readMeta(ctx, tx); err != nil {
		return err
	} else if meta != cur.ID() {
		return fmt.Errorf("vault: %w: the vault is under master key id %s, not %s", ErrCrypto, meta, cur.ID())
	}
	type row struct {
		realm, name string
		s           sealed
	}
	rs, err := tx.QueryContext(ctx, `SELECT realm, name, key_id, salt, nonce, ciphertext FROM vault_secrets`)
	if err != nil {
		return fmt.Errorf("vault: rotate: %w", err)
	}
	var all []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.realm, &r.name, &r.s.keyID, &r.s.salt, &r.s.nonce, &r.s.data); err != nil {
			rs.Close()
			return fmt.Errorf("vault: rotate: %w", err)
		}
		all = append(all, r)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return fmt.Errorf("vault: rotate: %w", err)
	}
	for _, r := range all {
		value, err := unseal(cur, r.realm, r.name, r.s)
		if err != nil {
			return err
		}
		s, err := seal(next, r.realm, r.name, value)
		clear(value)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE vault_secrets SET key_id = ?, salt = ?, nonce = ?, ciphertext = ?
			WHERE realm = ? AND name = ?`, s.keyID, s.salt, s.nonce, s.data, r.realm, r.name); err != nil {
			return fmt.Errorf("vault: rotate: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE vault_master SET key_id = ? WHERE id = 1`, next.ID()); err != nil {
		return fmt.Errorf("vault: rotate: %w", err)
	}
	return nil
}

// RotateDataDir is `airlock vault rotate --data DIR`, with the host stopped
// or running on the same database: it loads the current master key, makes a
// new one, writes it to master.key.new (mode 0600, fsynced with its
// directory), re-encrypts every row in one transaction, then renames
// master.key.new over master.key and fsyncs the directory. All of it happens
// under the database's write lock. When the key comes from
// AIRLOCK_MASTER_KEY it refuses (ErrInvalid): that key lives outside the
// data dir, so rotate it with [Vault.Rotate] and update the environment.
// With AIRLOCK_MASTER_KEY_FILE the file it names is rotated in place.
//
// With a PostgreSQL store shared by several nodes, rotate on one node, then
// give every other node the new key (copy master.key, or update the shared
// key file): until then they refuse to open secrets (ErrCrypto).
func RotateDataDir(ctx context.Context, db *sqldb.DB, dataDir string) error {
	if os.Getenv(EnvMasterKey) != "" {
		return fmt.Errorf("vault: %w: the master key comes from %s; rotate it where it is kept", ErrInvalid, EnvMasterKey)
	}
	if db == nil {
		return fmt.Errorf("vault: %w: nil database", ErrInvalid)
	}
	if _, err := OpenDataDir(ctx, db, dataDir); err != nil {
		return err
	}
	path, _ := keyFilePath(dataDir)
	newPath := path + pendingSuffix
	dir := filepath.Dir(path)

	tx, err := lockedTx(ctx, db)
	if err != nil {
		return fmt.Errorf("vault: rotate: %w", err)
	}
	defer tx.Rollback()
	// Re-read everything under the lock: another rotation may have run
	// since OpenDataDir.
	meta, err := readMeta(ctx, tx)
	if err != nil {
		return err
	}
	cur, err := readKeyFile(path)
	if err != nil {
		return err
	}
	if cur, err = settlePending(path, cur, meta); err != nil {
		return err
	}
	if _, err := os.Lstat(newPath); err == nil {
		return fmt.Errorf("vault: %w: %s exists and matches no key; remove it after checking", ErrInvalid, newPath)
	}
	next, err := NewMasterKey()
	if err != nil {
		return err
	}
	if err := writeKeyFile(newPath, next); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		os.Remove(newPath)
		return err
	}
	if err := rotateRows(ctx, tx, cur, next); err != nil {
		os.Remove(newPath)
		return err
	}
	if err := tx.Commit(); err != nil {
		// Not committed, as far as SQLite says; if it did commit after all,
		// the next load finds master.key.new and vault_master agreeing.
		return fmt.Errorf("vault: rotate: %w", err)
	}
	if err := os.Rename(newPath, path); err != nil {
		return fmt.Errorf("vault: rotate: committed, but %s was not renamed (the next start finishes it): %w", newPath, err)
	}
	return syncDir(dir)
}
