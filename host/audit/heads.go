package audit

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/airlock-dev/airlock/host/sqldb"
)

// A stored head (table audit_heads) is the head of the log at the size of
// a checkpoint — its chain value and the hashes of its compact range, the
// Merkle "frontier" — written in the checkpoint's transaction. Open starts
// from the latest one instead of re-reading every leaf hash: a restart of
// a log of millions of entries reads only those appended since its last
// checkpoint.
//
// A stored head is used only when it is bound to what is already trusted:
// its frontier's root must be the root of a checkpoint of the same size
// that verifies with the host key, and its chain value must be the one
// stored with the entry before it. Anything else (no such checkpoint, a
// key or origin that changed, a row that does not match) is logged and
// Open rebuilds the head from every entry, as it always did. Open never
// checked the leaves themselves; [Verify] checks everything.

// storeHead records h (the head the checkpoint of size h.size covers) in
// tx. Another node may have stored the same head: it is the same by
// construction, and the insert does nothing.
func storeHead(ctx context.Context, tx *sqldb.Tx, h head) error {
	frontier := make([]byte, 0, len(h.tree.Hashes())*hasher.Size())
	for _, hash := range h.tree.Hashes() {
		frontier = append(frontier, hash...)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO audit_heads (size, chain, frontier) VALUES (?, ?, ?) ON CONFLICT (size) DO NOTHING`,
		h.size, h.chain, frontier); err != nil {
		return fmt.Errorf("audit: %w: store head: %v", ErrUnavailable, err)
	}
	return nil
}

// errUnusableHead explains why a stored head was not used.
var errUnusableHead = errors.New("stored head unusable")

// storedHead returns the head to start from: the latest stored head that
// checks out, or the empty head.
func (l *Log) storedHead(ctx context.Context) (head, error) {
	var (
		size            int64
		chain, frontier []byte
		note            []byte
	)
	switch err := l.db.SQL().QueryRowContext(ctx, `
		SELECT h.size, h.chain, h.frontier, c.note
		FROM audit_heads h JOIN audit_checkpoints c ON c.size = h.size
		ORDER BY h.size DESC, c.id DESC LIMIT 1`).Scan(&size, &chain, &frontier, &note); {
	case errors.Is(err, sql.ErrNoRows):
		return emptyHead(), nil
	case err != nil:
		return head{}, fmt.Errorf("audit: %w: load head: %v", ErrUnavailable, err)
	}
	h, err := l.checkHead(ctx, size, chain, frontier, note)
	if err != nil {
		if !errors.Is(err, errUnusableHead) {
			return head{}, err
		}
		l.log.WarnContext(ctx, "audit: reading every entry to rebuild the head", "size", size, "reason", err)
		return emptyHead(), nil
	}
	return h, nil
}

// checkHead builds the head stored for size and checks it against the
// signed checkpoint note of that size and against the entries table.
func (l *Log) checkHead(ctx context.Context, size int64, chain, frontier, note []byte) (head, error) {
	unusable := func(format string, args ...any) (head, error) {
		return head{}, fmt.Errorf("%w: "+format, append([]any{errUnusableHead}, args...)...)
	}
	n, root, err := OpenCheckpoint(note, l.origin, l.signer.public())
	if err != nil {
		return unusable("its checkpoint does not verify: %v", err)
	}
	if n != size {
		return unusable("its checkpoint is signed for size %d", n)
	}
	if len(frontier)%hasher.Size() != 0 || len(chain) != hasher.Size() {
		return unusable("malformed row")
	}
	var hashes [][]byte
	for i := 0; i < len(frontier); i += hasher.Size() {
		hashes = append(hashes, frontier[i:i+hasher.Size():i+hasher.Size()])
	}
	tree, err := ranges.NewRange(0, uint64(size), hashes)
	if err != nil {
		return unusable("frontier: %v", err)
	}
	if got, err := rootOf(tree); err != nil || !bytes.Equal(got, root) {
		return unusable("its frontier is not the signed tree")
	}
	if size == 0 {
		if !bytes.Equal(chain, genesis()) {
			return unusable("chain value of the empty log")
		}
		return head{size: 0, chain: chain, tree: tree}, nil
	}
	var last []byte
	switch err := l.db.SQL().QueryRowContext(ctx,
		`SELECT chain FROM audit_entries WHERE idx = ?`, size-1).Scan(&last); {
	case errors.Is(err, sql.ErrNoRows):
		return unusable("entry %d is missing", size-1)
	case err != nil:
		return head{}, fmt.Errorf("audit: %w: load head: %v", ErrUnavailable, err)
	case !bytes.Equal(last, chain):
		return unusable("entry %d has another chain value", size-1)
	}
	return head{size: size, chain: chain, tree: tree}, nil
}
