package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/host/sqldb"
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

// Revoke records r durably (through the group commit) and then notifies
// the other nodes. Revoking again is a no-op that keeps the first record
// (its At and By).
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
	err := db.db.Batch(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO revocations (realm, kind, subject, at, by) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (realm, kind, subject) DO NOTHING`,
			r.Realm, string(r.Kind), r.Subject, r.At.UnixMicro(), r.By)
		return err
	})
	// Before Revoke returns, whatever its outcome (a failed COMMIT may
	// have reached the disk): no check that starts after it answers from
	// what was remembered before.
	db.revoked.Invalidate()
	if err != nil {
		return db.wrap("revoke", err)
	}
	// Every node reads revocations from the database on every check, so the
	// revocation is already in force everywhere; the notification is for
	// whoever watches them (RevocationChannel). Its failure changes nothing
	// that was acknowledged, so it is not an error of Revoke.
	_ = db.db.Notify(ctx, RevocationChannel, revocationPayload(r))
	return nil
}

// RevocationChannel is the PostgreSQL notification channel on which Revoke
// announces every revocation to the nodes sharing the database. The payload
// is "KIND REALM SUBJECT", or empty (reload everything) when that would be
// too long for a notification.
const RevocationChannel = "airlock_revocations"

// maxPayload keeps a notification under PostgreSQL's 8000-byte limit.
const maxPayload = 7000

func revocationPayload(r Revocation) string {
	p := string(r.Kind) + " " + r.Realm + " " + r.Subject
	if len(p) > maxPayload {
		return ""
	}
	return p
}

// Revoked reports whether subject of the given kind is revoked in realm. On
// PostgreSQL it asks the database every time, so a revocation recorded by
// any node sharing the database is enforced at the next check; on SQLite,
// whose file only this process writes, answers are remembered until the
// next Revoke (sqldb.Memo).
func (db *DB) Revoked(ctx context.Context, realm string, kind RevocationKind, subject string) (bool, error) {
	_, revoked, err := db.RevokedAny(ctx, realm, Subject{kind, subject})
	return revoked, err
}

// Subject is one revocable subject: a grant jti, an agent DID or a
// publisher DID.
type Subject struct {
	Kind RevocationKind
	ID   string
}

// maxSubjects bounds one RevokedAny query (a delegation chain is at most a
// few links long).
const maxSubjects = 64

// RevokedAny reports whether any of subjects is revoked in realm, and the
// first of them in the given order that is, in one query: an intent checks
// its grant, its agent and its tool's publisher together.
func (db *DB) RevokedAny(ctx context.Context, realm string, subjects ...Subject) (Subject, bool, error) {
	if err := db.check(); err != nil {
		return Subject{}, false, err
	}
	if len(subjects) == 0 {
		return Subject{}, false, nil
	}
	if len(subjects) > maxSubjects {
		return Subject{}, false, fmt.Errorf("store: revoked: %d subjects, at most %d", len(subjects), maxSubjects)
	}
	// Answered from memory when every subject's answer is remembered.
	known := 0
	for _, sub := range subjects {
		revoked, ok := db.revoked.Get(revKey{realm, sub})
		if !ok {
			break
		}
		if revoked {
			return sub, true, nil
		}
		known++
	}
	if known == len(subjects) {
		return Subject{}, false, nil
	}
	gen := db.revoked.Gen()
	var q strings.Builder
	q.WriteString(`SELECT kind, subject FROM revocations WHERE realm = ? AND (`)
	args := make([]any, 0, 1+2*len(subjects))
	args = append(args, realm)
	for i, sub := range subjects {
		if i > 0 {
			q.WriteString(` OR `)
		}
		q.WriteString(`(kind = ? AND subject = ?)`)
		args = append(args, string(sub.Kind), sub.ID)
	}
	q.WriteString(`)`)
	rows, err := db.db.Reader().QueryContext(ctx, q.String(), args...)
	if err != nil {
		return Subject{}, false, db.wrap("revoked", err)
	}
	defer rows.Close()
	found := map[Subject]bool{}
	for rows.Next() {
		var kind, id string
		if err := rows.Scan(&kind, &id); err != nil {
			return Subject{}, false, db.wrap("revoked", err)
		}
		found[Subject{RevocationKind(kind), id}] = true
	}
	if err := rows.Err(); err != nil {
		return Subject{}, false, db.wrap("revoked", err)
	}
	for _, sub := range subjects {
		db.revoked.Put(gen, revKey{realm, sub}, found[sub])
	}
	for _, sub := range subjects {
		if found[sub] {
			return sub, true, nil
		}
	}
	return Subject{}, false, nil
}

// revKey is one remembered revocation lookup.
type revKey struct {
	realm string
	sub   Subject
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
