package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// PutPending holds p for operator approval (a re-install that changes a
// tool's schema, description or capabilities), replacing any earlier
// pending version of the same plugin. The installed version keeps serving.
func (db *DB) PutPending(ctx context.Context, p Plugin) error {
	return db.putPlugin(ctx, "pending_plugins", p)
}

// GetPending returns the pending version of a plugin, or ErrNotFound.
func (db *DB) GetPending(ctx context.Context, realm, name string) (*Plugin, error) {
	return db.getPlugin(ctx, "pending_plugins", realm, name)
}

// PromotePending makes the pending version whose manifest hash is
// manifestSHA256 the installed one, atomically. A different hash (the
// operator approved something else) or no pending version → ErrNotFound.
func (db *DB) PromotePending(ctx context.Context, realm, name, manifestSHA256 string) error {
	if err := db.check(); err != nil {
		return err
	}
	return db.retry(ctx, func() error { return db.promote(ctx, realm, name, manifestSHA256) })
}

func (db *DB) promote(ctx context.Context, realm, name, manifestSHA256 string) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap("promote plugin", err)
	}
	defer tx.Rollback()
	// Lock the pending row: of two concurrent approvals one promotes it and
	// the other, once the first committed, finds it gone.
	var got string
	err = tx.QueryRowContext(ctx, `SELECT manifest_sha256 FROM pending_plugins
		WHERE realm = ? AND name = ?`+db.forUpdate(), realm, name).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && got != manifestSHA256) {
		return fmt.Errorf("store: pending plugin %s/%s with that manifest: %w", realm, name, ErrNotFound)
	}
	if err != nil {
		return db.wrap("promote plugin", err)
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO plugins (realm, name, version, manifest_sha256, manifest, manifest_jws,
			module_sha256, module, publisher, installed_by, installed_at)
		SELECT realm, name, version, manifest_sha256, manifest, manifest_jws,
			module_sha256, module, publisher, installed_by, installed_at
		FROM pending_plugins WHERE realm = ? AND name = ? AND manifest_sha256 = ?
		ON CONFLICT (realm, name) DO UPDATE SET
			version = excluded.version, manifest_sha256 = excluded.manifest_sha256,
			manifest = excluded.manifest, manifest_jws = excluded.manifest_jws,
			module_sha256 = excluded.module_sha256, module = excluded.module,
			publisher = excluded.publisher, installed_by = excluded.installed_by,
			installed_at = excluded.installed_at`, realm, name, manifestSHA256)
	if err != nil {
		return db.wrap("promote plugin", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return db.wrap("promote plugin", err)
	} else if n != 1 {
		return fmt.Errorf("store: pending plugin %s/%s with that manifest: %w", realm, name, ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM pending_plugins WHERE realm = ? AND name = ?`, realm, name); err != nil {
		return db.wrap("promote plugin", err)
	}
	if err := tx.Commit(); err != nil {
		return db.wrap("promote plugin", err)
	}
	return nil
}
