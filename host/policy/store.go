package policy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/host/sqldb"
)

// schema is created with IF NOT EXISTS on the host's database, beside the
// tables of package store.
const schema = `CREATE TABLE IF NOT EXISTS policies (
	realm      TEXT PRIMARY KEY,
	version    INTEGER NOT NULL,
	token      TEXT NOT NULL,
	signer     TEXT NOT NULL,
	updated_at INTEGER NOT NULL -- unix microseconds
)`

// pgSchema is schema in PostgreSQL's dialect (64-bit integers).
const pgSchema = `CREATE TABLE IF NOT EXISTS policies (
	realm      TEXT PRIMARY KEY,
	version    BIGINT NOT NULL,
	token      TEXT NOT NULL,
	signer     TEXT NOT NULL,
	updated_at BIGINT NOT NULL
)`

// Store persists the current policy of each realm with monotonic versions.
// It is safe for concurrent use, also by several nodes sharing a
// PostgreSQL database; its cache is consulted only after the database has
// said which token is current, so every node sees a Put by any other node at
// its next Get (no invalidation is needed).
type Store struct {
	db   *sql.DB
	read *sql.DB // lookups: never wait behind a commit
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]*Policy // realm → last policy read or written

	// versions remembers, on SQLite (whose file only this process
	// writes), each realm's stored version (noPolicy: none) until the
	// next Put (sqldb.Memo); on PostgreSQL every Get reads it.
	versions *sqldb.Memo[string, int64]
}

// noPolicy is the remembered version of a realm without a stored policy.
const noPolicy = -1

// OpenStore creates the policies table if needed (in the dialect of db) and
// returns the store.
func OpenStore(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("policy: nil database")
	}
	ddl := schema
	if db.Dialect() == sqldb.Postgres {
		ddl = pgSchema
	}
	if err := db.CreateSchema(ctx, ddl); err != nil {
		return nil, fmt.Errorf("policy: create table: %w", err)
	}
	return &Store{db: db.SQL(), read: db.Reader(), now: time.Now, cache: map[string]*Policy{},
		versions: sqldb.NewMemo[string, int64](db, "policies")}, nil
}

// Put makes p the current policy of its realm. A version not greater than the
// stored one is refused with [ErrStale]: a replay of the current policy or a
// downgrade to an older one. The check and the write are one statement, so
// of two concurrent Puts of the same version exactly one succeeds. p must
// come from [Verify]. On PostgreSQL the conditional upsert locks the row, so
// this holds across nodes too.
func (s *Store) Put(ctx context.Context, p *Policy) error {
	if p == nil || p.Token == "" || p.Signer == "" {
		return fmt.Errorf("%w: only a verified policy can be stored", ErrInvalid)
	}
	d := p.Doc
	res, err := s.db.ExecContext(ctx, `INSERT INTO policies (realm, version, token, signer, updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (realm) DO UPDATE SET
			version = excluded.version, token = excluded.token,
			signer = excluded.signer, updated_at = excluded.updated_at
		WHERE excluded.version > policies.version`,
		d.Realm, d.Version, p.Token, p.Signer, s.now().UnixMicro())
	s.versions.Invalidate() // whatever the outcome: the write may have happened
	if err != nil {
		return fmt.Errorf("policy: put: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("policy: put: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: realm %q already has a version at or above %d", ErrStale, d.Realm, d.Version)
	}
	s.mu.Lock()
	s.cache[d.Realm] = p
	s.mu.Unlock()
	return nil
}

// Get returns the current policy of realm, or [Default] when none was put.
// The stored token is re-verified (signature, signer column and strict
// parse) when it is not the one cached, so a row altered in the database
// without the operator's key is refused rather than applied. Whether the
// signer is still an operator of the realm is not asked again: a policy
// stays in force until a newer one replaces it.
func (s *Store) Get(ctx context.Context, realm string) (*Policy, error) {
	// The version alone decides whether the verified policy in the cache is
	// the stored one (Put only ever stores a higher version, see Put), so
	// the token, a few kilobytes, is read only when it is not.
	// The generation is noted before the remembered version is looked at:
	// a version stored back below under it is dropped if a Put came in
	// between (sqldb.Memo's protocol).
	gen := s.versions.Gen()
	version, known := s.versions.Get(realm)
	if !known {
		err := s.read.QueryRowContext(ctx, `SELECT version FROM policies WHERE realm = ?`, realm).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			version = noPolicy
		} else if err != nil {
			return nil, fmt.Errorf("policy: get: %w", err)
		}
	}
	if version == noPolicy {
		s.versions.Put(gen, realm, noPolicy)
		return Default(realm), nil
	}
	s.mu.Lock()
	cached := s.cache[realm]
	s.mu.Unlock()
	if cached != nil && cached.Doc.Version == version {
		s.versions.Put(gen, realm, version)
		return cached, nil
	}
	var token, signer string
	err := s.read.QueryRowContext(ctx,
		`SELECT version, token, signer FROM policies WHERE realm = ?`, realm).Scan(&version, &token, &signer)
	if errors.Is(err, sql.ErrNoRows) {
		return Default(realm), nil
	}
	if err != nil {
		return nil, fmt.Errorf("policy: get: %w", err)
	}
	p, err := Verify(token, realm, func(_, did string) bool { return did == signer })
	if err != nil {
		return nil, fmt.Errorf("policy: stored policy of realm %q: %w", realm, err)
	}
	if p.Doc.Version != version {
		return nil, fmt.Errorf("%w: stored policy of realm %q: version column does not match the token", ErrInvalid, realm)
	}
	s.mu.Lock()
	s.cache[realm] = p
	s.mu.Unlock()
	s.versions.Put(gen, realm, version)
	return p, nil
}
