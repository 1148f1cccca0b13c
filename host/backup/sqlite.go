package backup

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// vacuumInto writes a transactionally consistent copy of the database at src
// to dst (which must not exist) through its own read-only connection, so the
// host's pool and its write lock are never touched: VACUUM INTO runs in one
// read transaction, which in WAL mode neither blocks nor waits for writers.
func vacuumInto(ctx context.Context, src, dst string) error {
	abs, err := filepath.Abs(src)
	if err != nil {
		return fmt.Errorf("backup: %w: database path: %v", ErrInvalid, err)
	}
	// The driver splits the DSN at the first '?'.
	if strings.ContainsRune(abs, '?') {
		return fmt.Errorf("backup: %w: path %q contains '?'", ErrInvalid, abs)
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro&_pragma=busy_timeout(10000)"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return fmt.Errorf("backup: open database: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("backup: copy database: %w", err)
	}
	return nil
}
