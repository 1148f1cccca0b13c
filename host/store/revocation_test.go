package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/sqldb"
)

func TestRevocationPersistsAcrossRestart(t *testing.T) {
	eachDialect(t, testRevocationPersistsAcrossRestart)
}

func testRevocationPersistsAcrossRestart(t *testing.T, open opener) {
	ctx := context.Background()
	db := open(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	r := Revocation{Realm: "default", Kind: KindGrant, Subject: "grant-jti", At: at, By: "did:key:zOp"}
	if err := db.Revoke(ctx, r); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = open(t)
	for _, tc := range []struct {
		name    string
		realm   string
		kind    RevocationKind
		subject string
		want    bool
	}{
		{"revoked grant stays revoked after restart", "default", KindGrant, "grant-jti", true},
		{"same jti in another realm", "other", KindGrant, "grant-jti", false},
		{"same subject under another kind", "default", KindAgent, "grant-jti", false},
		{"unrelated grant", "default", KindGrant, "other-jti", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Revoked(ctx, tc.realm, tc.kind, tc.subject)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Revoked = %v, want %v", got, tc.want)
			}
		})
	}
	list, err := db.Revocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0] != r {
		t.Errorf("Revocations = %+v, want [%+v]", list, r)
	}
}

func TestRevokeIdempotent(t *testing.T) {
	eachDialect(t, testRevokeIdempotent)
}

func testRevokeIdempotent(t *testing.T, open opener) {
	ctx := context.Background()
	db := open(t)
	first := Revocation{Realm: "r", Kind: KindPublisher, Subject: "did:key:zP", At: time.Unix(100, 0).UTC(), By: "op1"}
	again := first
	again.At, again.By = time.Unix(200, 0).UTC(), "op2"
	for _, r := range []Revocation{first, again} {
		if err := db.Revoke(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	list, err := db.Revocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0] != first {
		t.Errorf("Revocations = %+v, want only the first %+v", list, first)
	}
}

func TestRevokeRefusesMalformed(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	for _, tc := range []struct {
		name string
		r    Revocation
	}{
		{"unknown kind", Revocation{Realm: "r", Kind: "plugin", Subject: "x"}},
		{"empty subject revokes nothing", Revocation{Realm: "r", Kind: KindAgent}},
		{"empty realm", Revocation{Kind: KindAgent, Subject: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := db.Revoke(ctx, tc.r); !errors.Is(err, ErrInvalid) {
				t.Errorf("Revoke = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestRevocationKindString(t *testing.T) {
	for k, want := range map[RevocationKind]string{KindGrant: "grant", KindAgent: "agent", KindPublisher: "publisher"} {
		if k.String() != want || !k.Valid() {
			t.Errorf("%q: String %q Valid %v", want, k.String(), k.Valid())
		}
	}
	if RevocationKind("").Valid() {
		t.Error("empty kind is valid")
	}
}

func TestRevokedAny(t *testing.T) {
	eachDialect(t, testRevokedAny)
}

func testRevokedAny(t *testing.T, open opener) {
	ctx := context.Background()
	db := open(t)
	for _, r := range []Revocation{
		{Realm: "r", Kind: KindAgent, Subject: "did:key:zA", At: time.Unix(1, 0).UTC(), By: "op"},
		{Realm: "r", Kind: KindPublisher, Subject: "did:key:zP", At: time.Unix(2, 0).UTC(), By: "op"},
		{Realm: "other", Kind: KindGrant, Subject: "g1", At: time.Unix(3, 0).UTC(), By: "op"},
	} {
		if err := db.Revoke(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	grant := Subject{KindGrant, "g1"}
	agent := Subject{KindAgent, "did:key:zA"}
	publisher := Subject{KindPublisher, "did:key:zP"}
	for _, tc := range []struct {
		name     string
		realm    string
		subjects []Subject
		want     Subject
		revoked  bool
	}{
		{"none asked", "r", nil, Subject{}, false},
		{"nothing revoked", "r", []Subject{grant, {KindAgent, "did:key:zB"}}, Subject{}, false},
		{"the first revoked in the given order", "r", []Subject{grant, agent, publisher}, agent, true},
		{"order decides which is named", "r", []Subject{publisher, agent}, publisher, true},
		{"a revocation of another realm does not count", "r", []Subject{grant}, Subject{}, false},
		{"the same subject in its realm", "other", []Subject{agent, grant}, grant, true},
		{"a subject under another kind does not match", "r", []Subject{{KindGrant, "did:key:zA"}}, Subject{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, revoked, err := db.RevokedAny(ctx, tc.realm, tc.subjects...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || revoked != tc.revoked {
				t.Errorf("RevokedAny = %+v, %v; want %+v, %v", got, revoked, tc.want, tc.revoked)
			}
		})
	}
	many := make([]Subject, maxSubjects+1)
	if _, _, err := db.RevokedAny(ctx, "r", many...); err == nil {
		t.Error("more than maxSubjects subjects accepted")
	}
}

// TestRevocationMemo checks the remembered revocation lookups: a check made
// after Revoke returned always sees the revocation, also while other checks
// run concurrently with it; and on PostgreSQL, where other nodes write the
// table, a revocation by another node is seen at the next check even for a
// subject that was checked before.
func TestRevocationMemo(t *testing.T) {
	eachDialect(t, testRevocationMemo)
}

func testRevocationMemo(t *testing.T, open opener) {
	ctx := context.Background()
	db := open(t)
	check := func(sub Subject) bool {
		t.Helper()
		_, revoked, err := db.RevokedAny(ctx, "r", Subject{KindAgent, "did:key:zOther"}, sub)
		if err != nil {
			t.Fatal(err)
		}
		return revoked
	}
	revoke := func(on *DB, sub Subject) {
		t.Helper()
		if err := on.Revoke(ctx, Revocation{Realm: "r", Kind: sub.Kind, Subject: sub.ID, By: "op"}); err != nil {
			t.Fatal(err)
		}
	}

	g := Subject{KindGrant, "g-memo"}
	for range 3 {
		if check(g) {
			t.Fatal("revoked before any revocation")
		}
	}
	revoke(db, g)
	if !check(g) {
		t.Fatal("a check after Revoke returned does not see the revocation")
	}

	// Checks racing with a Revoke: none that starts after it returned may
	// answer "not revoked".
	a := Subject{KindAgent, "did:key:zRacing"}
	var (
		returned atomic.Bool
		stale    atomic.Int64
		wg       sync.WaitGroup
		stop     = make(chan struct{})
	)
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := returned.Load()
				_, revoked, err := db.RevokedAny(ctx, "r", a)
				if err == nil && after && !revoked {
					stale.Add(1)
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	revoke(db, a)
	returned.Store(true)
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := stale.Load(); n > 0 {
		t.Errorf("%d checks that started after Revoke returned answered not revoked", n)
	}

	if db.db.Dialect() == sqldb.Postgres {
		other := open(t) // a second node on the same database
		p := Subject{KindPublisher, "did:key:zPub"}
		if check(p) {
			t.Fatal("revoked before any revocation")
		}
		revoke(other, p)
		if !check(p) {
			t.Error("a revocation by another node is not seen at the next check")
		}
	}
}
