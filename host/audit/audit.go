// Package audit is the host's tamper-evident audit log (DESIGN §7, §9): an
// append-only sequence of decisions, each a leaf of an RFC 6962 Merkle tree
// and a link of a hash chain, with Ed25519-signed C2SP tlog-checkpoints.
//
// Each [Entry] is serialised once, as the canonical JSON of the struct (fields
// in declaration order, the encoding/json defaults); those bytes are the leaf.
// A row stores the leaf, its RFC 6962 leaf hash SHA-256(0x00 || leaf) and the
// chain value SHA-256(previous chain || leaf hash), the chain of entry 0
// starting from 32 zero bytes. A checkpoint is the signed note
//
//	<origin>\n<size>\n<base64 Merkle root>\n\n— <origin> <signature>\n
//
// signed with the host key through golang.org/x/mod/sumdb/note, so any
// sumdb/tlog tooling can check it.
//
// # Security
//
// The log fails closed: [Log.Append] returns an error wrapping
// [ErrUnavailable] unless the entry is durably written, and callers must then
// refuse the action. Appends are serialised, so indexes are dense from 0.
// SQLite triggers refuse UPDATE and DELETE on entries and checkpoints, so no
// host code can rewrite history by mistake.
//
// Someone who can write the database file can still drop the triggers and
// rewrite rows. [Verify] detects that offline: a changed, removed, reordered
// or inserted entry breaks the leaf hashes or the chain at the first bad
// index; an entry rewritten together with every later hash and chain value
// no longer matches the Merkle root of a checkpoint signed before the
// rewrite; and a log cut short is shorter than its latest checkpoint. What an
// attacker with the file can do undetected is drop the newest entries that
// no checkpoint covers yet, or delete checkpoint rows; publishing checkpoints
// to a witness outside the host closes that gap.
//
// Entries never carry secret values: callers put hashes (input_sha256,
// output_sha256) and identifiers in them, never request or response bodies.
package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

var (
	// ErrUnavailable reports that the log could not record or read entries.
	// An action whose audit entry failed must not happen.
	ErrUnavailable = errors.New("audit log unavailable")
	// ErrTampered reports that the stored log is not a log this package
	// wrote: an entry or checkpoint was changed, removed, reordered or added.
	ErrTampered = errors.New("audit log tampered")
)

// Entry is one audit record. The JSON field names are the wire names of
// DESIGN §9 "Audit"; the field order is part of the leaf format and must not
// change.
type Entry struct {
	Index        int64     `json:"index"`
	Time         time.Time `json:"time"`
	Realm        string    `json:"realm"`
	Actor        string    `json:"actor"`
	Action       string    `json:"action"`
	Tool         string    `json:"tool"`
	Decision     string    `json:"decision"`
	Reason       string    `json:"reason"`
	Request      string    `json:"request"`
	Grant        string    `json:"grant"`
	InputSHA256  string    `json:"input_sha256"`
	OutputSHA256 string    `json:"output_sha256"`
	// Parent is the index of the entry of the enclosing call (results, host
	// calls, nested tool calls); nil means none. A pointer so that entry 0
	// can be a parent; entries without a parent encode exactly as before.
	Parent *int64 `json:"parent,omitempty"`
}

// Appender records audit entries. It is what the rest of the host depends
// on, so tests can inject a store that fails.
type Appender interface {
	Append(ctx context.Context, e Entry) (index int64, err error)
}

// Entries limits.
const (
	DefaultEntries = 100  // entries returned when limit <= 0
	MaxEntries     = 1000 // most entries one call returns
)

var hasher = rfc6962.DefaultHasher

// Log is an open audit log. It is safe for concurrent use.
type Log struct {
	db     *sql.DB
	origin string
	signer note.Signer
	log    *slog.Logger

	mu     sync.Mutex // serialises appends and checkpoints; guards the fields below
	size   int64
	chain  []byte         // chain value of entry size-1 (genesis when size is 0)
	tree   *compact.Range // compact range [0, size) of leaf hashes
	stale  bool           // an append failed: reload the head before the next one
	cpSize int64          // size of the last stored checkpoint, -1 if none
	cpNote []byte         // the last stored checkpoint
}

// Option configures a Log.
type Option func(*Log)

// WithLogger sets where Run reports checkpoint failures. The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(lg *Log) {
		if l != nil {
			lg.log = l
		}
	}
}

// schema creates the audit tables. Entries and checkpoints are append-only:
// the triggers refuse every UPDATE and DELETE.
const schema = `
CREATE TABLE IF NOT EXISTS audit_entries (
	idx       INTEGER PRIMARY KEY,
	realm     TEXT NOT NULL,
	leaf      BLOB NOT NULL,
	leaf_hash BLOB NOT NULL,
	chain     BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_entries_realm ON audit_entries (realm, idx);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	size       INTEGER NOT NULL,
	note       BLOB NOT NULL,
	created_at INTEGER NOT NULL -- unix microseconds
);
CREATE TRIGGER IF NOT EXISTS audit_entries_no_update BEFORE UPDATE ON audit_entries
	BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_entries_no_delete BEFORE DELETE ON audit_entries
	BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
	BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
	BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
`

// Open prepares the audit tables in db and loads the current head. origin
// is "airlock/<host DID>"; signer is the host's Ed25519 private key, which
// signs checkpoints. Open refuses a log whose indexes have a gap or whose
// chain does not link (ErrTampered): appending to it would hide the damage.
func Open(ctx context.Context, db *sql.DB, origin string, signer ed25519.PrivateKey, opts ...Option) (*Log, error) {
	if len(signer) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("audit: signer is %d bytes, want an Ed25519 private key", len(signer))
	}
	s, err := newNoteSigner(origin, signer)
	if err != nil {
		return nil, err
	}
	l := &Log{
		db:     db,
		origin: origin,
		signer: s,
		log:    slog.New(slog.DiscardHandler),
		cpSize: -1,
	}
	for _, o := range opts {
		o(l)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("audit: %w: create tables: %v", ErrUnavailable, err)
	}
	if err := l.reload(ctx); err != nil {
		return nil, err
	}
	var (
		size int64
		cp   []byte
	)
	switch err := db.QueryRowContext(ctx,
		`SELECT size, note FROM audit_checkpoints ORDER BY id DESC LIMIT 1`).Scan(&size, &cp); {
	case err == nil:
		l.cpSize, l.cpNote = size, cp
	case errors.Is(err, sql.ErrNoRows):
	default:
		return nil, fmt.Errorf("audit: %w: load checkpoint: %v", ErrUnavailable, err)
	}
	return l, nil
}

// reload rebuilds the head (size, chain value, compact range) from the
// stored leaf hashes. Callers hold l.mu or own l exclusively.
func (l *Log) reload(ctx context.Context) error {
	rows, err := l.db.QueryContext(ctx, `SELECT idx, leaf_hash, chain FROM audit_entries ORDER BY idx`)
	if err != nil {
		return fmt.Errorf("audit: %w: load head: %v", ErrUnavailable, err)
	}
	defer rows.Close()
	var (
		size  int64
		chain = genesis()
		tree  = newTree()
	)
	for rows.Next() {
		var (
			idx            int64
			leafHash, link []byte
		)
		if err := rows.Scan(&idx, &leafHash, &link); err != nil {
			return fmt.Errorf("audit: %w: load head: %v", ErrUnavailable, err)
		}
		if idx != size {
			return fmt.Errorf("audit: %w: entry %d missing", ErrTampered, size)
		}
		if !bytes.Equal(link, chainHash(chain, leafHash)) {
			return fmt.Errorf("audit: %w: chain broken at entry %d", ErrTampered, idx)
		}
		if err := tree.Append(leafHash, nil); err != nil {
			return fmt.Errorf("audit: %w: entry %d: %v", ErrTampered, idx, err)
		}
		chain = link
		size++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: %w: load head: %v", ErrUnavailable, err)
	}
	l.size, l.chain, l.tree, l.stale = size, chain, tree, false
	return nil
}

// Append records e and returns its index. It sets e.Index to the next index
// and e.Time to now when zero (always in UTC). It returns only once the entry
// is durable; any failure wraps ErrUnavailable and the caller must refuse the
// action the entry was about.
func (l *Log) Append(ctx context.Context, e Entry) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stale {
		// The last insert failed; it may still have reached the disk.
		if err := l.reload(ctx); err != nil {
			return -1, unavailable(err)
		}
	}
	e.Index = l.size
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	leaf, err := json.Marshal(e)
	if err != nil {
		return -1, fmt.Errorf("audit: %w: encode entry: %v", ErrUnavailable, err)
	}
	leafHash := hasher.HashLeaf(leaf)
	chain := chainHash(l.chain, leafHash)
	// One statement: atomic, and durable on return (synchronous=FULL). The
	// primary key refuses an index some other writer already took.
	if _, err := l.db.ExecContext(ctx,
		`INSERT INTO audit_entries (idx, realm, leaf, leaf_hash, chain) VALUES (?, ?, ?, ?, ?)`,
		e.Index, e.Realm, leaf, leafHash, chain); err != nil {
		l.stale = true
		return -1, fmt.Errorf("audit: %w: append entry %d: %v", ErrUnavailable, e.Index, err)
	}
	if err := l.tree.Append(leafHash, nil); err != nil {
		l.stale = true
		return -1, fmt.Errorf("audit: %w: %v", ErrUnavailable, err)
	}
	l.size++
	l.chain = chain
	return e.Index, nil
}

// Size returns the number of entries in the log.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// Entries returns up to limit entries with index >= from, oldest first,
// of realm ("" = every realm). limit <= 0 means DefaultEntries; it is capped
// at MaxEntries. A stored leaf that does not decode, or that belongs to
// another realm than its row says, is reported as ErrTampered rather than
// shown.
func (l *Log) Entries(ctx context.Context, realm string, from int64, limit int) ([]Entry, error) {
	switch {
	case limit <= 0:
		limit = DefaultEntries
	case limit > MaxEntries:
		limit = MaxEntries
	}
	from = max(from, 0)
	var (
		rows *sql.Rows
		err  error
	)
	if realm == "" {
		rows, err = l.db.QueryContext(ctx, `
			SELECT idx, leaf FROM audit_entries WHERE idx >= ? ORDER BY idx LIMIT ?`, from, limit)
	} else {
		rows, err = l.db.QueryContext(ctx, `
			SELECT idx, leaf FROM audit_entries WHERE realm = ? AND idx >= ? ORDER BY idx LIMIT ?`, realm, from, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w: entries: %v", ErrUnavailable, err)
	}
	defer rows.Close()
	out := make([]Entry, 0, min(limit, 64))
	for rows.Next() {
		var (
			idx  int64
			leaf []byte
		)
		if err := rows.Scan(&idx, &leaf); err != nil {
			return nil, fmt.Errorf("audit: %w: entries: %v", ErrUnavailable, err)
		}
		e, err := decodeLeaf(leaf)
		if err != nil {
			return nil, fmt.Errorf("audit: %w: entry %d: %v", ErrTampered, idx, err)
		}
		if e.Index != idx || (realm != "" && e.Realm != realm) {
			return nil, fmt.Errorf("audit: %w: entry %d does not match its row", ErrTampered, idx)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: %w: entries: %v", ErrUnavailable, err)
	}
	return out, nil
}

// decodeLeaf parses stored leaf bytes strictly: one JSON object with only
// the known fields, in exactly the canonical form Append writes.
func decodeLeaf(leaf []byte) (Entry, error) {
	var e Entry
	dec := json.NewDecoder(bytes.NewReader(leaf))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("leaf: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Entry{}, errors.New("leaf: trailing data")
	}
	again, err := json.Marshal(e)
	if err != nil {
		return Entry{}, fmt.Errorf("leaf: %w", err)
	}
	if !bytes.Equal(again, leaf) {
		return Entry{}, errors.New("leaf: not in canonical form")
	}
	return e, nil
}

// unavailable makes err, from reload, also wrap ErrUnavailable: whatever
// went wrong, the entry was not written.
func unavailable(err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func genesis() []byte { return make([]byte, sha256.Size) }

// chainHash is SHA-256(prev || leafHash).
func chainHash(prev, leafHash []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(leafHash)
	return h.Sum(nil)
}

func newTree() *compact.Range {
	f := &compact.RangeFactory{Hash: hasher.HashChildren}
	return f.NewEmptyRange(0)
}

// rootOf returns the RFC 6962 root of the compact range [0, n).
func rootOf(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return hasher.EmptyRoot(), nil
	}
	return r.GetRootHash(nil)
}
