package store

import (
	"context"
	"errors"
	"testing"
	"time"
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
