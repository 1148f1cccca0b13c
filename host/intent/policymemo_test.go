package intent

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/policy"
	"github.com/airlock-dev/airlock/host/sqldb"
)

// TestOnePolicyPerIntent checks that every decision of one intent sees the
// policy version its first decision read, even when a newer version is
// stored meanwhile, and that the next intent sees the newer one.
func TestOnePolicyPerIntent(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.OpenSQLite(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := policy.OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	op, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	put := func(version int64, deny string) {
		t.Helper()
		tok, err := policy.Sign(op, policy.Document{Realm: "r", Version: version, Deny: []string{deny}, Anomaly: policy.DefaultAnomaly()})
		if err != nil {
			t.Fatal(err)
		}
		p, err := policy.Verify(tok, "r", func(string, string) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Put(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	s := &Service{Governance: &Governance{Policies: store}}
	put(1, "a/one")

	intentCtx := withPolicyMemo(ctx)
	first, err := s.policyFor(intentCtx, "r")
	if err != nil || first.Doc.Version != 1 {
		t.Fatalf("first read: %+v, %v", first, err)
	}
	put(2, "a/two")
	if again, err := s.policyFor(intentCtx, "r"); err != nil || again.Doc.Version != 1 {
		t.Fatalf("a later decision of the same intent read version %d (%v), want 1", again.Doc.Version, err)
	}
	if nested := withPolicyMemo(intentCtx); nested != intentCtx {
		t.Fatal("a nested call got a memo of its own")
	}
	if next, err := s.policyFor(withPolicyMemo(ctx), "r"); err != nil || next.Doc.Version != 2 {
		t.Fatalf("the next intent read version %d (%v), want 2", next.Doc.Version, err)
	}
	if plain, err := s.policyFor(ctx, "r"); err != nil || plain.Doc.Version != 2 {
		t.Fatalf("outside an intent: version %d (%v), want 2", plain.Doc.Version, err)
	}
}
