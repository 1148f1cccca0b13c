package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Plugin is an installed bundle as the registry keeps it: one row per
// (realm, name).
type Plugin struct {
	Realm, Name, Version string
	ManifestSHA256       string // lowercase hex SHA-256 of Manifest
	Manifest             []byte // exact manifest.json bytes
	ManifestJWS          string // publisher's compact JWS over Manifest
	ModuleSHA256         string // lowercase hex SHA-256 of Module
	Module               []byte // module.wasm; nil in ListPlugins results
	Publisher            string
	InstalledBy          string
	InstalledAt          time.Time // set to now when zero; microsecond precision
}

// PutPlugin inserts p, or replaces the plugin of the same realm and name. It
// refuses a plugin whose hashes do not match its bytes, so the registry never
// holds a module under another module's hash.
func (db *DB) PutPlugin(ctx context.Context, p Plugin) error {
	return db.putPlugin(ctx, "plugins", p)
}

// putPlugin writes p into table (plugins or pending_plugins).
func (db *DB) putPlugin(ctx context.Context, table string, p Plugin) error {
	if err := db.check(); err != nil {
		return err
	}
	if p.Realm == "" || p.Name == "" {
		return fmt.Errorf("store: put plugin: %w: realm %q, name %q", ErrInvalid, p.Realm, p.Name)
	}
	if got := sha256Hex(p.Manifest); got != p.ManifestSHA256 {
		return fmt.Errorf("store: put plugin %s/%s: %w: manifest hash %q, bytes hash to %s", p.Realm, p.Name, ErrInvalid, p.ManifestSHA256, got)
	}
	if got := sha256Hex(p.Module); got != p.ModuleSHA256 {
		return fmt.Errorf("store: put plugin %s/%s: %w: module hash %q, bytes hash to %s", p.Realm, p.Name, ErrInvalid, p.ModuleSHA256, got)
	}
	if p.InstalledAt.IsZero() {
		p.InstalledAt = db.now()
	}
	_, err := db.sql.ExecContext(ctx, `
		INSERT INTO `+table+` (realm, name, version, manifest_sha256, manifest, manifest_jws,
			module_sha256, module, publisher, installed_by, installed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (realm, name) DO UPDATE SET
			version = excluded.version, manifest_sha256 = excluded.manifest_sha256,
			manifest = excluded.manifest, manifest_jws = excluded.manifest_jws,
			module_sha256 = excluded.module_sha256, module = excluded.module,
			publisher = excluded.publisher, installed_by = excluded.installed_by,
			installed_at = excluded.installed_at`,
		p.Realm, p.Name, p.Version, p.ManifestSHA256, nonNil(p.Manifest), p.ManifestJWS,
		p.ModuleSHA256, nonNil(p.Module), p.Publisher, p.InstalledBy, p.InstalledAt.UnixMicro())
	if err != nil {
		return db.wrap("put plugin", err)
	}
	return nil
}

// GetPlugin returns the plugin name of realm, module bytes included, or an
// error wrapping ErrNotFound.
func (db *DB) GetPlugin(ctx context.Context, realm, name string) (*Plugin, error) {
	return db.getPlugin(ctx, "plugins", realm, name)
}

// getPlugin reads one plugin from table (plugins or pending_plugins).
func (db *DB) getPlugin(ctx context.Context, table, realm, name string) (*Plugin, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	row := db.sql.QueryRowContext(ctx, `
		SELECT realm, name, version, manifest_sha256, manifest, manifest_jws,
			module_sha256, module, publisher, installed_by, installed_at
		FROM `+table+` WHERE realm = ? AND name = ?`, realm, name)
	var (
		p  Plugin
		at int64
	)
	err := row.Scan(&p.Realm, &p.Name, &p.Version, &p.ManifestSHA256, &p.Manifest, &p.ManifestJWS,
		&p.ModuleSHA256, &p.Module, &p.Publisher, &p.InstalledBy, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: plugin %s/%s: %w", realm, name, ErrNotFound)
	}
	if err != nil {
		return nil, db.wrap("get plugin", err)
	}
	p.InstalledAt = time.UnixMicro(at).UTC()
	return &p, nil
}

// ListPlugins lists the plugins of realm ("" = every realm) ordered by realm
// and name, without their module bytes.
func (db *DB) ListPlugins(ctx context.Context, realm string) ([]Plugin, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `
		SELECT realm, name, version, manifest_sha256, manifest, manifest_jws,
			module_sha256, publisher, installed_by, installed_at
		FROM plugins WHERE ? = '' OR realm = ? ORDER BY realm, name`, realm, realm)
	if err != nil {
		return nil, db.wrap("list plugins", err)
	}
	defer rows.Close()
	var out []Plugin
	for rows.Next() {
		var (
			p  Plugin
			at int64
		)
		if err := rows.Scan(&p.Realm, &p.Name, &p.Version, &p.ManifestSHA256, &p.Manifest, &p.ManifestJWS,
			&p.ModuleSHA256, &p.Publisher, &p.InstalledBy, &at); err != nil {
			return nil, db.wrap("list plugins", err)
		}
		p.InstalledAt = time.UnixMicro(at).UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("list plugins", err)
	}
	return out, nil
}

// DeletePlugin removes the plugin name of realm, or returns an error wrapping
// ErrNotFound when there is none.
func (db *DB) DeletePlugin(ctx context.Context, realm, name string) error {
	if err := db.check(); err != nil {
		return err
	}
	res, err := db.sql.ExecContext(ctx, `DELETE FROM plugins WHERE realm = ? AND name = ?`, realm, name)
	if err != nil {
		return db.wrap("delete plugin", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return db.wrap("delete plugin", err)
	}
	if n == 0 {
		return fmt.Errorf("store: plugin %s/%s: %w", realm, name, ErrNotFound)
	}
	return nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// nonNil keeps an empty byte slice from being stored as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
