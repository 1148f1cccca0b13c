package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

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

// Checkpoint signs a C2SP tlog-checkpoint over the whole log, stores it and
// returns the signed note. When the log has not grown since the last stored
// checkpoint, it returns that one instead of signing again, so calling it on
// every request cannot fill the table.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stale {
		if err := l.reload(ctx); err != nil {
			return nil, unavailable(err)
		}
	}
	if l.cpNote != nil && l.cpSize == l.size {
		return bytes.Clone(l.cpNote), nil
	}
	root, err := rootOf(l.tree)
	if err != nil {
		return nil, fmt.Errorf("audit: %w: root: %v", ErrUnavailable, err)
	}
	signed, err := note.Sign(&note.Note{Text: formatCheckpoint(l.origin, l.size, root)}, l.signer)
	if err != nil {
		return nil, fmt.Errorf("audit: %w: sign checkpoint: %v", ErrUnavailable, err)
	}
	if _, err := l.db.ExecContext(ctx,
		`INSERT INTO audit_checkpoints (size, note, created_at) VALUES (?, ?, ?)`,
		l.size, signed, time.Now().UnixMicro()); err != nil {
		return nil, fmt.Errorf("audit: %w: store checkpoint: %v", ErrUnavailable, err)
	}
	l.cpSize, l.cpNote = l.size, signed
	return bytes.Clone(signed), nil
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
