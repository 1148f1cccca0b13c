package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"slices"

	"github.com/airlock-dev/airlock/host/sqldb"
	"golang.org/x/mod/sumdb/note"
)

// Report is the outcome of an offline verification.
type Report struct {
	Entries     int64 // rows in the entries table
	Checkpoints int   // rows in the checkpoints table
	// FirstBad is the index of the first entry the log can no longer vouch
	// for, -1 if none. For a bad entry it is that entry's index. For a
	// checkpoint that does not verify it is the size of the largest smaller
	// checkpoint that does (0 if none): some entry from there on was
	// rewritten. For a log shorter than a checkpoint it is the first missing
	// index.
	FirstBad int64
	Problem  string // what is wrong, empty if nothing
}

// storedCheckpoint is a row of audit_checkpoints.
type storedCheckpoint struct {
	id   int64
	size int64
	note []byte
}

// Verify checks the whole audit log in db offline, in one read-only
// snapshot: entries dense from 0, each leaf re-hashed and its chain value
// recomputed, each leaf strict canonical JSON whose index is its position and
// whose realm is its row's, every checkpoint signed by pub for origin over
// the Merkle root of its prefix, and no checkpoint larger than the log. When
// anything is wrong it returns the filled report and an error wrapping
// ErrTampered. On PostgreSQL it checks the log all nodes share.
func Verify(ctx context.Context, db *sqldb.DB, origin string, pub ed25519.PublicKey) (*Report, error) {
	verifier, err := NoteVerifier(origin, pub)
	if err != nil {
		return nil, err
	}
	// A read-only transaction takes a consistent snapshot without blocking
	// a host that keeps appending (SQLite defers it; PostgreSQL needs
	// REPEATABLE READ for one snapshot across statements).
	opts := &sql.TxOptions{ReadOnly: true}
	tablesQuery := `SELECT count(*) FROM sqlite_master
		WHERE type = 'table' AND name IN ('audit_entries', 'audit_checkpoints')`
	if db.Dialect() == sqldb.Postgres {
		opts.Isolation = sql.LevelRepeatableRead
		tablesQuery = `SELECT (to_regclass('audit_entries') IS NOT NULL)::int
			+ (to_regclass('audit_checkpoints') IS NOT NULL)::int`
	}
	tx, err := db.SQL().BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("audit: %w: verify: %v", ErrUnavailable, err)
	}
	defer tx.Rollback()

	var tables int
	if err := tx.QueryRowContext(ctx, tablesQuery).Scan(&tables); err != nil {
		return nil, fmt.Errorf("audit: %w: verify: %v", ErrUnavailable, err)
	}
	switch tables {
	case 0:
		return nil, fmt.Errorf("audit: %w: no audit log in this database", ErrUnavailable)
	case 1:
		r := &Report{FirstBad: 0, Problem: "an audit table is missing"}
		return r, fmt.Errorf("audit: %w: %s", ErrTampered, r.Problem)
	}

	cps, err := loadCheckpoints(ctx, tx)
	if err != nil {
		return nil, err
	}
	want := make(map[int64]bool, len(cps))
	for _, c := range cps {
		want[c.size] = true
	}

	r := &Report{FirstBad: -1, Checkpoints: len(cps)}
	roots, err := verifyEntries(ctx, tx, want, r)
	if err != nil {
		return nil, err
	}
	verifyCheckpoints(cps, roots, verifier, origin, r)
	if r.FirstBad >= 0 {
		return r, fmt.Errorf("audit: %w: %s", ErrTampered, r.Problem)
	}
	return r, nil
}

func loadCheckpoints(ctx context.Context, tx *sql.Tx) ([]storedCheckpoint, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, size, note FROM audit_checkpoints ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("audit: %w: verify: %v", ErrUnavailable, err)
	}
	defer rows.Close()
	var cps []storedCheckpoint
	for rows.Next() {
		var c storedCheckpoint
		if err := rows.Scan(&c.id, &c.size, &c.note); err != nil {
			return nil, fmt.Errorf("audit: %w: verify: %v", ErrUnavailable, err)
		}
		cps = append(cps, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: %w: verify: %v", ErrUnavailable, err)
	}
	return cps, nil
}

// verifyEntries walks every entry, records the first bad one in r and
// returns the Merkle roots of the prefixes whose sizes are in want, for the
// prefixes that precede the first bad entry.
func verifyEntries(ctx context.Context, tx *sql.Tx, want map[int64]bool, r *Report) (map[int64][]byte, error) {
	roots := make(map[int64][]byte, len(want))
	if want[0] {
		roots[0] = hasher.EmptyRoot()
	}
	rows, err := tx.QueryContext(ctx, `SELECT idx, realm, leaf, leaf_hash, chain FROM audit_entries ORDER BY idx`)
	if err != nil {
		return nil, fmt.Errorf("audit: %w: verify: %v", ErrUnavailable, err)
	}
	defer rows.Close()
	var (
		pos  int64
		prev = genesis()
		tree = newTree()
	)
	for ; rows.Next(); pos++ {
		var (
			idx                   int64
			realm                 string
			leaf, leafHash, chain []byte
		)
		if err := rows.Scan(&idx, &realm, &leaf, &leafHash, &chain); err != nil {
			return nil, fmt.Errorf("audit: %w: verify: %v", ErrUnavailable, err)
		}
		if r.FirstBad >= 0 {
			continue // only count the rest
		}
		if problem := checkEntry(pos, idx, realm, leaf, leafHash, chain, prev); problem != "" {
			r.FirstBad, r.Problem = pos, problem
			continue
		}
		if err := tree.Append(leafHash, nil); err != nil {
			return nil, fmt.Errorf("audit: verify: %w", err)
		}
		if want[pos+1] {
			root, err := rootOf(tree)
			if err != nil {
				return nil, fmt.Errorf("audit: verify: %w", err)
			}
			roots[pos+1] = root
		}
		prev = chain
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: %w: verify: %v", ErrUnavailable, err)
	}
	r.Entries = pos
	return roots, nil
}

// checkEntry returns what is wrong with the row at position pos, or "".
func checkEntry(pos, idx int64, realm string, leaf, leafHash, chain, prev []byte) string {
	switch {
	case idx > pos:
		return fmt.Sprintf("entry %d is missing (next stored index is %d)", pos, idx)
	case idx != pos:
		return fmt.Sprintf("entry at position %d has index %d", pos, idx)
	case !bytes.Equal(hasher.HashLeaf(leaf), leafHash):
		return fmt.Sprintf("entry %d: leaf does not match its leaf hash", pos)
	case !bytes.Equal(chainHash(prev, leafHash), chain):
		return fmt.Sprintf("entry %d: chain value does not link to entry %d", pos, pos-1)
	}
	e, err := decodeLeaf(leaf)
	switch {
	case err != nil:
		return fmt.Sprintf("entry %d: %v", pos, err)
	case e.Index != pos:
		return fmt.Sprintf("entry %d: leaf claims index %d", pos, e.Index)
	case e.Realm != realm:
		return fmt.Sprintf("entry %d: leaf realm %q differs from its row's %q", pos, e.Realm, realm)
	}
	return ""
}

// verifyCheckpoints checks the checkpoints in order of size, as far as the
// entries were sound, and records the first problem in r when it lies before
// the first bad entry.
func verifyCheckpoints(cps []storedCheckpoint, roots map[int64][]byte, v note.Verifier, origin string, r *Report) {
	cps = slices.Clone(cps)
	slices.SortStableFunc(cps, func(a, b storedCheckpoint) int {
		switch {
		case a.size < b.size:
			return -1
		case a.size > b.size:
			return 1
		}
		return 0
	})
	var good int64 // size of the largest checkpoint verified so far
	for _, c := range cps {
		if r.FirstBad >= 0 && c.size > r.FirstBad {
			// Covers an entry already reported bad: its root cannot match.
			return
		}
		problem, truncated := checkCheckpoint(c, roots, v, origin, r.Entries)
		if problem == "" {
			good = c.size
			continue
		}
		first := good
		if truncated {
			first = r.Entries
		}
		if r.FirstBad < 0 || first < r.FirstBad {
			r.FirstBad, r.Problem = first, problem
		}
		return
	}
}

// checkCheckpoint returns what is wrong with c, or "", and whether the
// problem is a log shorter than c claims.
func checkCheckpoint(c storedCheckpoint, roots map[int64][]byte, v note.Verifier, origin string, entries int64) (problem string, truncated bool) {
	n, err := note.Open(c.note, note.VerifierList(v))
	if err != nil {
		return fmt.Sprintf("checkpoint %d: signature does not verify with the host key: %v", c.id, err), false
	}
	o, size, root, err := parseCheckpoint(n.Text)
	switch {
	case err != nil:
		return fmt.Sprintf("checkpoint %d: %v", c.id, err), false
	case o != origin:
		return fmt.Sprintf("checkpoint %d: origin %q, want %q", c.id, o, origin), false
	case size != c.size:
		return fmt.Sprintf("checkpoint %d: signed size %d differs from stored size %d", c.id, size, c.size), false
	case size > entries:
		return fmt.Sprintf("log truncated: checkpoint %d covers %d entries, the log has %d", c.id, size, entries), true
	case !bytes.Equal(roots[size], root):
		return fmt.Sprintf("checkpoint %d: Merkle root of the first %d entries differs from the signed root", c.id, size), false
	}
	return "", false
}
