package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/host/sqldb"
	"golang.org/x/mod/sumdb/note"
)

// finalCheckpointTimeout bounds the checkpoint Run signs on its way out.
const finalCheckpointTimeout = 5 * time.Second

// NoteVerifier returns the sumdb/note verifier for checkpoints of the log
// origin signed with the host key pub.
func NoteVerifier(origin string, pub ed25519.PublicKey) (note.Verifier, error) {
	vkey, err := note.NewEd25519VerifierKey(origin, pub)
	if err != nil {
		return nil, fmt.Errorf("audit: verifier key: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("audit: verifier for origin %q: %w", origin, err)
	}
	return v, nil
}

// noteSigner signs notes with the host key directly, so the key never has
// to be spelled out as a note.NewSigner "PRIVATE+KEY+…" string. Its key hash
// is the one the note package derives for the matching verifier.
type noteSigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

func newNoteSigner(origin string, key ed25519.PrivateKey) (*noteSigner, error) {
	v, err := NoteVerifier(origin, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return &noteSigner{name: v.Name(), hash: v.KeyHash(), key: key}, nil
}

func (s *noteSigner) Name() string                    { return s.name }
func (s *noteSigner) KeyHash() uint32                 { return s.hash }
func (s *noteSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

func (s *noteSigner) public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Checkpoint signs a C2SP tlog-checkpoint over the whole log, stores it and
// returns the signed note. When the log has not grown since the last stored
// checkpoint, it returns that one instead of signing again, so calling it on
// every request cannot fill the table. On a database shared by several
// nodes the whole shared log is covered, and a checkpoint another node
// stored for the current size is returned rather than signed again.
//
// The note is returned only once it and every entry it covers are durable:
// no checkpoint ever vouches for an entry that could still be lost.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, error) {
	if cp, err := l.latestCheckpoint(ctx); err != nil || cp != nil {
		return cp, err
	}
	var (
		size   int64
		signed []byte
	)
	err := l.db.Batch(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.undoOnFail(tx)
		if err := l.prepare(ctx, tx); err != nil {
			return err
		}
		root, err := rootOf(l.head.tree)
		if err != nil {
			return fmt.Errorf("audit: %w: root: %v", ErrUnavailable, err)
		}
		size = l.head.size
		// The latest stored checkpoint, maybe another node's: keep it if it
		// is a valid checkpoint of exactly this tree.
		var (
			lastSize int64
			last     []byte
		)
		switch err := tx.QueryRowContext(ctx,
			`SELECT size, note FROM audit_checkpoints ORDER BY id DESC LIMIT 1`).Scan(&lastSize, &last); {
		case err == nil && lastSize == size:
			if n, r, err := OpenCheckpoint(last, l.origin, l.signer.public()); err == nil && n == size && bytes.Equal(r, root) {
				signed = last
				return storeHead(ctx, tx, l.head)
			}
		case err == nil, errors.Is(err, sql.ErrNoRows):
		default:
			return fmt.Errorf("audit: %w: load checkpoint: %v", ErrUnavailable, err)
		}
		signed, err = note.Sign(&note.Note{Text: formatCheckpoint(l.origin, size, root)}, l.signer)
		if err != nil {
			return fmt.Errorf("audit: %w: sign checkpoint: %v", ErrUnavailable, err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO audit_checkpoints (size, note, created_at) VALUES (?, ?, ?)`,
			size, signed, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("audit: %w: store checkpoint: %v", ErrUnavailable, err)
		}
		return storeHead(ctx, tx, l.head)
	})
	if err != nil {
		return nil, failed("checkpoint", err)
	}
	l.mu.Lock()
	if size >= l.cpSize { // a later checkpoint may have been stored meanwhile
		l.cpSize, l.cpNote = size, signed
	}
	l.mu.Unlock()
	l.sawDurable(size)
	return bytes.Clone(signed), nil
}

// latestCheckpoint returns the last checkpoint this Log stored or adopted
// when it still covers the whole log, nil when a new one is needed. On
// SQLite the log is this process's alone and the head in memory says; on
// PostgreSQL one query asks for the shared log's size.
func (l *Log) latestCheckpoint(ctx context.Context) ([]byte, error) {
	l.mu.Lock()
	cpSize, cpNote := l.cpSize, l.cpNote
	current := !l.stale && l.head.size == cpSize
	l.mu.Unlock()
	if cpNote == nil {
		return nil, nil
	}
	if l.db.Dialect() != sqldb.Postgres {
		if current {
			return bytes.Clone(cpNote), nil
		}
		return nil, nil
	}
	var (
		size    int64
		last    []byte
		entries int64
	)
	err := l.db.SQL().QueryRowContext(ctx, `
		SELECT size, note, (SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries)
		FROM audit_checkpoints ORDER BY id DESC LIMIT 1`).Scan(&size, &last, &entries)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("audit: %w: load checkpoint: %v", ErrUnavailable, err)
	case size == cpSize && size == entries && bytes.Equal(last, cpNote):
		return bytes.Clone(cpNote), nil
	}
	return nil, nil
}

// Run signs a checkpoint every interval while the log grows, until ctx is
// done; then it signs a last one if entries were added since, so a drained
// host leaves every entry covered. Failures are logged and retried at the
// next tick. Run returns at once when interval is not positive.
func (l *Log) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		l.log.ErrorContext(ctx, "audit: checkpoint interval must be positive", "interval", interval)
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalCheckpointTimeout)
			l.checkpoint(final)
			cancel()
			return
		case <-t.C:
			l.checkpoint(ctx)
		}
	}
}

func (l *Log) checkpoint(ctx context.Context) {
	// Checkpoint itself returns the stored note without signing when the
	// size did not change.
	if _, err := l.Checkpoint(ctx); err != nil {
		l.log.ErrorContext(ctx, "audit: checkpoint failed", "err", err)
	}
}

// formatCheckpoint is the C2SP tlog-checkpoint body: origin, decimal tree
// size and standard base64 root hash, one per line.
func formatCheckpoint(origin string, size int64, root []byte) string {
	return origin + "\n" + strconv.FormatInt(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root) + "\n"
}

// parseCheckpoint parses a checkpoint body (the note text, without the
// signatures) strictly: exactly the three lines formatCheckpoint writes, no
// extension lines, a canonical decimal size and a canonical base64 SHA-256
// root.
func parseCheckpoint(text string) (origin string, size int64, root []byte, err error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return "", 0, nil, errors.New("checkpoint: want exactly origin, size and root lines")
	}
	origin = lines[0]
	if origin == "" {
		return "", 0, nil, errors.New("checkpoint: empty origin")
	}
	size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return "", 0, nil, fmt.Errorf("checkpoint: bad size %q", lines[1])
	}
	root, err = base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != hasher.Size() || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return "", 0, nil, fmt.Errorf("checkpoint: bad root hash %q", lines[2])
	}
	return origin, size, root, nil
}
