package store

import (
	"context"
	"fmt"
	"time"
)

// RevocationKind names what a revocation withdraws.
type RevocationKind string

// The kinds of DESIGN §4 "POST /v1/revocations".
const (
	KindGrant     RevocationKind = "grant"     // Subject is a grant jti
	KindAgent     RevocationKind = "agent"     // Subject is an agent DID
	KindPublisher RevocationKind = "publisher" // Subject is a publisher DID
)

// String returns the kind as it is written on the wire.
func (k RevocationKind) String() string { return string(k) }

// Valid reports whether k is one of the known kinds.
func (k RevocationKind) Valid() bool {
	switch k {
	case KindGrant, KindAgent, KindPublisher:
		return true
	}
	return false
}

// Revocation withdraws a grant, an agent or a publisher within a realm.
type Revocation struct {
	Realm   string
	Kind    RevocationKind
	Subject string
	At      time.Time // set to now when zero; stored with microsecond precision
	By      string    // DID of the operator who revoked
}

// Revoke records r durably. Revoking again is a no-op that keeps the first
// record (its At and By).
func (db *DB) Revoke(ctx context.Context, r Revocation) error {
	if err := db.check(); err != nil {
		return err
	}
	if r.Realm == "" || r.Subject == "" || !r.Kind.Valid() {
		return fmt.Errorf("store: revoke: %w: realm %q, kind %q, subject %q", ErrInvalid, r.Realm, r.Kind, r.Subject)
	}
	if r.At.IsZero() {
		r.At = db.now()
	}
	if _, err := db.sql.ExecContext(ctx, `
		INSERT INTO revocations (realm, kind, subject, at, by) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (realm, kind, subject) DO NOTHING`,
		r.Realm, string(r.Kind), r.Subject, r.At.UnixMicro(), r.By); err != nil {
		return db.wrap("revoke", err)
	}
	return nil
}

// Revoked reports whether subject of the given kind is revoked in realm.
func (db *DB) Revoked(ctx context.Context, realm string, kind RevocationKind, subject string) (bool, error) {
	if err := db.check(); err != nil {
		return false, err
	}
	var one int
	err := db.sql.QueryRowContext(ctx, `
		SELECT EXISTS (SELECT 1 FROM revocations WHERE realm = ? AND kind = ? AND subject = ?)`,
		realm, string(kind), subject).Scan(&one)
	if err != nil {
		return false, db.wrap("revoked", err)
	}
	return one == 1, nil
}

// Revocations lists every revocation of every realm, oldest first.
func (db *DB) Revocations(ctx context.Context) ([]Revocation, error) {
	if err := db.check(); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `
		SELECT realm, kind, subject, at, by FROM revocations ORDER BY at, realm, kind, subject`)
	if err != nil {
		return nil, db.wrap("revocations", err)
	}
	defer rows.Close()
	var out []Revocation
	for rows.Next() {
		var (
			r    Revocation
			kind string
			at   int64
		)
		if err := rows.Scan(&r.Realm, &kind, &r.Subject, &at, &r.By); err != nil {
			return nil, db.wrap("revocations", err)
		}
		r.Kind = RevocationKind(kind)
		r.At = time.UnixMicro(at).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("revocations", err)
	}
	return out, nil
}
