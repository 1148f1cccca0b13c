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
// refuse the action. Appends go through the database's group commit
// ([sqldb.DB.Batch]): concurrent appends are numbered one after another
// inside one transaction and share its COMMIT, and each returns only after
// that COMMIT — a failed COMMIT fails every append of the batch, and an
// append whose own INSERT fails is rolled back alone. The head kept in
// memory (size, chain value, compact range) is put back when a batch fails
// and is caught up from the database before it is built on again, since a
// COMMIT reported as failed may still have reached the disk; so indexes are
// dense from 0, in one total order, with neither gap nor fork. A checkpoint
// is handed out only after it and every entry it covers are durable.
//
// Several nodes may share one PostgreSQL database (same host key, same
// origin): each batch first takes a transaction-scoped advisory lock, held
// until its COMMIT, then reads the entries other nodes appended since its
// head (checking indexes and chain as Open does) before numbering its own.
// The nodes thus write one log, and any of them may sign its checkpoints.
// Triggers refuse UPDATE and DELETE on entries and checkpoints (on
// PostgreSQL also TRUNCATE), so no host code can rewrite history by
// mistake.
//
// Someone who can write the database file, or who owns the PostgreSQL
// tables (the role that created them, or a superuser), can still drop or
// disable the triggers and rewrite rows. [Verify] detects that offline: a changed, removed, reordered
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
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlock-dev/airlock/host/sqldb"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
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
// on, so tests can inject a store that fails. AppendAll is [Log.AppendAll]:
// a group of entries and a precondition in one commit.
type Appender interface {
	Append(ctx context.Context, e Entry) (index int64, err error)
	AppendAll(ctx context.Context, pre Pre, entries ...Entry) ([]int64, error)
}

// Entries limits.
const (
	DefaultEntries = 100  // entries returned when limit <= 0
	MaxEntries     = 1000 // most entries one call returns
)

var hasher = rfc6962.DefaultHasher

// ranges builds the log's compact ranges (stateless, safe to share).
var ranges = &compact.RangeFactory{Hash: hasher.HashChildren}

// Log is an open audit log. It is safe for concurrent use.
type Log struct {
	db     *sqldb.DB
	origin string
	signer *noteSigner
	log    *slog.Logger

	mu sync.Mutex // guards the fields below; batch functions hold it while they run
	// head is the log as the open batch transaction sees it: it may end in
	// entries whose COMMIT is still to come. A batch that fails puts it back.
	head head
	// stale is set when a batch failed: its work may or may not have
	// reached the disk, so head must be caught up before it is built on.
	stale bool
	// heldTx is the batch transaction in which head was last caught up
	// (and, on PostgreSQL, the log lock taken); nil after a failure.
	heldTx *sql.Tx
	cpSize int64  // size of the last stored checkpoint, -1 if none
	cpNote []byte // the last stored checkpoint

	// durable is the number of entries known to be committed. Atomic, so
	// Size never waits behind a batch function's round trips.
	durable atomic.Int64

	tilesMu sync.Mutex
	tiles   [][]byte // hash of each complete 256-entry tile seen so far (nil = not computed)
}

// head is the state of the log after its first size entries.
type head struct {
	size  int64
	chain []byte         // chain value of entry size-1 (genesis when size is 0)
	tree  *compact.Range // compact range [0, size) of leaf hashes
}

func emptyHead() head { return head{chain: genesis(), tree: newTree()} }

// clone returns a copy that later appends to h do not change.
func (h head) clone() head {
	t, err := ranges.NewRange(h.tree.Begin(), h.tree.End(), slices.Clone(h.tree.Hashes()))
	if err != nil {
		// The hashes come from a valid range: this cannot happen.
		panic(fmt.Sprintf("audit: clone compact range: %v", err))
	}
	return head{size: h.size, chain: h.chain, tree: t}
}

// extend appends the rows (idx, leaf_hash, chain), which must continue h in
// index order, checking that indexes are dense and every chain value links.
func (h *head) extend(rows *sql.Rows) error {
	for rows.Next() {
		var (
			idx            int64
			leafHash, link []byte
		)
		if err := rows.Scan(&idx, &leafHash, &link); err != nil {
			return fmt.Errorf("audit: %w: load head: %v", ErrUnavailable, err)
		}
		if idx != h.size {
			return fmt.Errorf("audit: %w: entry %d missing", ErrTampered, h.size)
		}
		if !bytes.Equal(link, chainHash(h.chain, leafHash)) {
			return fmt.Errorf("audit: %w: chain broken at entry %d", ErrTampered, idx)
		}
		if err := h.tree.Append(leafHash, nil); err != nil {
			return fmt.Errorf("audit: %w: entry %d: %v", ErrTampered, idx, err)
		}
		h.chain = link
		h.size++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: %w: load head: %v", ErrUnavailable, err)
	}
	return nil
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

// lockKey is the PostgreSQL advisory lock ("audit_lk" in ASCII) that
// serialises the nodes' writes to the shared log and the creation of its
// tables. It is taken with pg_advisory_xact_lock: held until the transaction
// ends, released by the server even when the node dies.
const lockKey int64 = 0x61756469745f6c6b

// sqliteSchema creates the audit tables. Entries and checkpoints are
// append-only: the triggers refuse every UPDATE and DELETE.
const sqliteSchema = `
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
CREATE TABLE IF NOT EXISTS audit_heads (
	size     INTEGER PRIMARY KEY,
	chain    BLOB NOT NULL,
	frontier BLOB NOT NULL -- the compact range [0, size): its hashes, 32 bytes each
);
CREATE TRIGGER IF NOT EXISTS audit_heads_no_update BEFORE UPDATE ON audit_heads
	BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_heads_no_delete BEFORE DELETE ON audit_heads
	BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
`

// pgSchema is sqliteSchema for PostgreSQL; pgTriggers are its triggers,
// which also refuse TRUNCATE.
var pgSchema = []string{`
CREATE TABLE IF NOT EXISTS audit_entries (
	idx       BIGINT PRIMARY KEY,
	realm     TEXT NOT NULL,
	leaf      BYTEA NOT NULL,
	leaf_hash BYTEA NOT NULL,
	chain     BYTEA NOT NULL
)`, `
CREATE INDEX IF NOT EXISTS audit_entries_realm ON audit_entries (realm, idx)`, `
CREATE TABLE IF NOT EXISTS audit_checkpoints (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	size       BIGINT NOT NULL,
	note       BYTEA NOT NULL,
	created_at BIGINT NOT NULL -- unix microseconds
)`, `
CREATE TABLE IF NOT EXISTS audit_heads (
	size     BIGINT PRIMARY KEY,
	chain    BYTEA NOT NULL,
	frontier BYTEA NOT NULL
)`, `
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit log is append-only';
END
$$`,
}

var pgTriggers = []struct{ table, name, event string }{
	{"audit_entries", "audit_entries_no_update", "BEFORE UPDATE ON audit_entries FOR EACH ROW"},
	{"audit_entries", "audit_entries_no_delete", "BEFORE DELETE ON audit_entries FOR EACH ROW"},
	{"audit_entries", "audit_entries_no_truncate", "BEFORE TRUNCATE ON audit_entries FOR EACH STATEMENT"},
	{"audit_checkpoints", "audit_checkpoints_no_update", "BEFORE UPDATE ON audit_checkpoints FOR EACH ROW"},
	{"audit_checkpoints", "audit_checkpoints_no_delete", "BEFORE DELETE ON audit_checkpoints FOR EACH ROW"},
	{"audit_checkpoints", "audit_checkpoints_no_truncate", "BEFORE TRUNCATE ON audit_checkpoints FOR EACH STATEMENT"},
	{"audit_heads", "audit_heads_no_update", "BEFORE UPDATE ON audit_heads FOR EACH ROW"},
	{"audit_heads", "audit_heads_no_delete", "BEFORE DELETE ON audit_heads FOR EACH ROW"},
	{"audit_heads", "audit_heads_no_truncate", "BEFORE TRUNCATE ON audit_heads FOR EACH STATEMENT"},
}

// createSchema creates the audit tables if they do not exist. On
// PostgreSQL it holds the log lock, so nodes starting at once do not race
// to create the same objects.
func createSchema(ctx context.Context, db *sqldb.DB) error {
	if db.Dialect() != sqldb.Postgres {
		_, err := db.SQL().ExecContext(ctx, sqliteSchema)
		return err
	}
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, lockKey); err != nil {
		return err
	}
	for _, stmt := range pgSchema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	for _, trg := range pgTriggers {
		var exists bool
		if err := tx.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = CAST(? AS regclass) AND tgname = ?)`,
			trg.table, trg.name).Scan(&exists); err != nil {
			return err
		}
		if exists {
			continue
		}
		// Names from the constant table above, never from a caller.
		if _, err := tx.ExecContext(ctx,
			`CREATE TRIGGER `+trg.name+` `+trg.event+` EXECUTE FUNCTION audit_append_only()`); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Open prepares the audit tables in db (SQLite or PostgreSQL) and loads the
// current head. origin is "airlock/<host DID>"; signer is the host's Ed25519
// private key, which signs checkpoints. Open refuses a log whose indexes
// have a gap or whose chain does not link (ErrTampered): appending to it
// would hide the damage.
//
// Several nodes may open the same PostgreSQL database with the same origin
// and key: they append to one shared log.
func Open(ctx context.Context, db *sqldb.DB, origin string, signer ed25519.PrivateKey, opts ...Option) (*Log, error) {
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
	if err := createSchema(ctx, db); err != nil {
		return nil, fmt.Errorf("audit: %w: create tables: %v", ErrUnavailable, err)
	}
	if err := l.reload(ctx); err != nil {
		return nil, err
	}
	var (
		size int64
		cp   []byte
	)
	switch err := db.SQL().QueryRowContext(ctx,
		`SELECT size, note FROM audit_checkpoints ORDER BY id DESC LIMIT 1`).Scan(&size, &cp); {
	case err == nil:
		l.cpSize, l.cpNote = size, cp
	case errors.Is(err, sql.ErrNoRows):
	default:
		return nil, fmt.Errorf("audit: %w: load checkpoint: %v", ErrUnavailable, err)
	}
	return l, nil
}

// reload rebuilds the head (size, chain value, compact range): from the
// head stored with the latest checkpoint (storedHead) when there is a
// usable one, then from the leaf hashes of the entries after it — so a
// restart reads the entries since the last checkpoint, not the whole log.
// Only Open calls it, owning l exclusively.
func (l *Log) reload(ctx context.Context) error {
	h, err := l.storedHead(ctx)
	if err != nil {
		return err
	}
	rows, err := l.db.SQL().QueryContext(ctx,
		`SELECT idx, leaf_hash, chain FROM audit_entries WHERE idx >= ? ORDER BY idx`, h.size)
	if err != nil {
		return fmt.Errorf("audit: %w: load head: %v", ErrUnavailable, err)
	}
	defer rows.Close()
	if err := h.extend(rows); err != nil {
		return err
	}
	l.head, l.stale = h, false
	l.durable.Store(h.size)
	return nil
}

// prepare makes l.head the head of the log as tx sees it: it reads the
// entries appended since head — by a batch whose failed COMMIT reached the
// disk after all, or on PostgreSQL by other nodes — checking them as Open
// does. On PostgreSQL it first takes the log lock, which keeps every other
// node from appending until tx ends; it does so once per batch transaction
// and again after a failure. A SQLite file belongs to one process, so there
// it only catches up after a failure. Callers hold l.mu.
func (l *Log) prepare(ctx context.Context, tx *sqldb.Tx) error {
	switch {
	case l.db.Dialect() != sqldb.Postgres:
		if !l.stale {
			return nil
		}
	case l.heldTx == tx.Tx && !l.stale:
		return nil
	default:
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, lockKey); err != nil {
			return fmt.Errorf("audit: %w: lock the log: %v", ErrUnavailable, err)
		}
	}
	rows, err := tx.QueryContext(ctx,
		`SELECT idx, leaf_hash, chain FROM audit_entries WHERE idx >= ? ORDER BY idx`, l.head.size)
	if err != nil {
		return fmt.Errorf("audit: %w: catch up: %v", ErrUnavailable, err)
	}
	defer rows.Close()
	if err := l.head.extend(rows); err != nil {
		return err
	}
	l.heldTx, l.stale = tx.Tx, false
	return nil
}

// undoOnFail registers with tx what to do if the work of the calling batch
// function does not become durable: put the head back to where it is now
// and catch up before the next use. Hooks of one batch may run in any
// order: each only ever moves the head back. Callers hold l.mu.
func (l *Log) undoOnFail(tx *sqldb.Tx) {
	before := l.head.clone()
	tx.OnFail(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.head.size > before.size {
			l.head = before
		}
		// The COMMIT may have failed after the rows reached the disk, and
		// on PostgreSQL the log lock may have gone with a rolled-back
		// savepoint: catch up (under the lock) before building on head.
		l.stale, l.heldTx = true, nil
	})
}

// Append records e and returns its index. It sets e.Index to the next index
// and e.Time to now when zero (always in UTC). It returns only once the entry
// is durable; any failure wraps ErrUnavailable and the caller must refuse the
// action the entry was about.
//
// Concurrent appends share one transaction and one COMMIT (group commit);
// each still returns only after that COMMIT.
func (l *Log) Append(ctx context.Context, e Entry) (int64, error) {
	idx, err := l.AppendAll(ctx, nil, e)
	if err != nil {
		return -1, err
	}
	return idx[0], nil
}

// Pre is work that must commit atomically with a group of entries, run in
// the same transaction before them (for example recording a request's jti
// in the replay store). When it fails, nothing of the group is written and
// AppendAll returns its error as is.
type Pre func(ctx context.Context, tx *sqldb.Tx) error

// AppendAll records entries at consecutive indexes in one transaction, after
// pre (if not nil) succeeded in that transaction, and returns their indexes.
// An entry whose Parent is negative names an earlier entry of the same call:
// -1 the one just before it, -2 the one before that. It returns only once
// everything is durable; a failure of the log wraps ErrUnavailable.
func (l *Log) AppendAll(ctx context.Context, pre Pre, entries ...Entry) ([]int64, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("audit: %w: no entries", ErrUnavailable)
	}
	for i, e := range entries {
		if e.Parent != nil && *e.Parent < 0 && int64(i)+*e.Parent < 0 {
			return nil, fmt.Errorf("audit: %w: entry %d names a parent before the group", ErrUnavailable, i)
		}
	}
	var (
		idx    []int64
		preErr error
	)
	err := l.db.Batch(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		if pre != nil {
			if err := pre(ctx, tx); err != nil {
				preErr = err
				return err
			}
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.undoOnFail(tx)
		if err := l.prepare(ctx, tx); err != nil {
			return err
		}
		idx = make([]int64, 0, len(entries))
		for _, e := range entries {
			if e.Parent != nil && *e.Parent < 0 {
				p := idx[int64(len(idx))+*e.Parent]
				e.Parent = &p
			}
			i, err := l.appendLocked(ctx, tx, e)
			if err != nil {
				return err
			}
			idx = append(idx, i)
		}
		return nil
	})
	if preErr != nil {
		return nil, preErr
	}
	if err != nil {
		return nil, failed("append", err)
	}
	l.sawDurable(idx[len(idx)-1] + 1)
	return idx, nil
}

// appendLocked inserts e at the head inside tx. Callers hold l.mu and have
// prepared the head for tx.
func (l *Log) appendLocked(ctx context.Context, tx *sqldb.Tx, e Entry) (int64, error) {
	e.Index = l.head.size
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	leaf, err := json.Marshal(e)
	if err != nil {
		return -1, fmt.Errorf("audit: %w: encode entry: %v", ErrUnavailable, err)
	}
	leafHash := hasher.HashLeaf(leaf)
	chain := chainHash(l.head.chain, leafHash)
	// The primary key refuses an index some other writer already took.
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO audit_entries (idx, realm, leaf, leaf_hash, chain) VALUES (?, ?, ?, ?, ?)`,
		e.Index, e.Realm, leaf, leafHash, chain); err != nil {
		return -1, fmt.Errorf("audit: %w: append entry %d: %v", ErrUnavailable, e.Index, err)
	}
	if err := l.head.tree.Append(leafHash, nil); err != nil {
		return -1, fmt.Errorf("audit: %w: %v", ErrUnavailable, err)
	}
	l.head.size++
	l.head.chain = chain
	return e.Index, nil
}

// Expect announces a caller that will append soon, so that a commit under
// way waits for it to share the commit ([sqldb.DB.Expect]): pass the
// returned context to the append, and call the func when done.
func (l *Log) Expect(ctx context.Context) (context.Context, func()) {
	return l.db.Expect(ctx)
}

// Size returns the number of entries this Log knows to be durable: those
// it loaded, appended or covered by a checkpoint. On a database shared by
// several nodes, entries the others appended since are counted once this
// Log appends or checkpoints again; [Log.Entries] and the proofs read the
// shared tables.
func (l *Log) Size() int64 { return l.durable.Load() }

// sawDurable records that the first n entries are committed.
func (l *Log) sawDurable(n int64) {
	for {
		cur := l.durable.Load()
		if n <= cur || l.durable.CompareAndSwap(cur, n) {
			return
		}
	}
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
		rows, err = l.db.SQL().QueryContext(ctx, `
			SELECT idx, leaf FROM audit_entries WHERE idx >= ? ORDER BY idx LIMIT ?`, from, limit)
	} else {
		rows, err = l.db.SQL().QueryContext(ctx, `
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

// failed makes err, from operation op, wrap ErrUnavailable: whatever went
// wrong (the database, a tampered log, a failed COMMIT), the entry or
// checkpoint was not written.
func failed(op string, err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("audit: %w: %s: %w", ErrUnavailable, op, err)
}

func genesis() []byte { return make([]byte, sha256.Size) }

// chainHash is SHA-256(prev || leafHash).
func chainHash(prev, leafHash []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(leafHash)
	return h.Sum(nil)
}

func newTree() *compact.Range { return ranges.NewEmptyRange(0) }

// rootOf returns the RFC 6962 root of the compact range [0, n).
func rootOf(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return hasher.EmptyRoot(), nil
	}
	return r.GetRootHash(nil)
}
