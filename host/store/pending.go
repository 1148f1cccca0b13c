package store

import (
	"context"
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
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap("promote plugin", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `
		INSERT OR REPLACE INTO plugins (realm, name, version, manifest_sha256, manifest, manifest_jws,
			module_sha256, module, publisher, installed_by, installed_at)
		SELECT realm, name, version, manifest_sha256, manifest, manifest_jws,
			module_sha256, module, publisher, installed_by, installed_at
		FROM pending_plugins WHERE realm = ? AND name = ? AND manifest_sha256 = ?`, realm, name, manifestSHA256)
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
