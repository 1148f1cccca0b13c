package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/sqldb"
)

// Of many concurrent approvals of one held intent, sent to two nodes, exactly
// one decides it.
func TestDecideIntentExactlyOnceAcrossNodes(t *testing.T) {
	eachDialect(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		nodes := []*DB{open(t), open(t)}
		now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		if err := nodes[0].PutIntent(ctx, Intent{ID: "held", Realm: "default", Agent: "did:key:zA", Tool: "mail/send",
			Request: "jti", Body: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		const n = 20
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				to := IntentApproved
				if i%3 == 0 {
					to = IntentDenied
				}
				errs[i] = nodes[i%2].DecideIntent(ctx, "held", to, fmt.Sprint("op", i), now)
			})
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won >= 0:
				t.Fatalf("decisions %d and %d both succeeded", won, i)
			case err == nil:
				won = i
			case !errors.Is(err, ErrNotFound):
				t.Fatalf("decision %d: %v", i, err)
			}
		}
		if won < 0 {
			t.Fatal("no decision succeeded")
		}
		in, err := nodes[1].GetIntent(ctx, "held")
		if err != nil || in.DecidedBy != fmt.Sprint("op", won) {
			t.Fatalf("GetIntent = %+v, %v; want decided by op%d", in, err, won)
		}
	})
}

// Two operators approving the same pending plugin on two nodes: one promotes
// it, the other finds nothing pending.
func TestPromotePendingExactlyOnceAcrossNodes(t *testing.T) {
	eachDialect(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		nodes := []*DB{open(t), open(t)}
		if err := nodes[0].PutPlugin(ctx, testPlugin("default", "web", "1.0.0", []byte("\x00asm v1"))); err != nil {
			t.Fatal(err)
		}
		next := testPlugin("default", "web", "2.0.0", []byte("\x00asm v2"))
		if err := nodes[0].PutPending(ctx, next); err != nil {
			t.Fatal(err)
		}
		if err := nodes[1].PromotePending(ctx, "default", "web", "wrong hash"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("promote with another hash: %v, want ErrNotFound", err)
		}
		const n = 10
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = nodes[i%2].PromotePending(ctx, "default", "web", next.ManifestSHA256) })
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrNotFound):
				t.Fatalf("promote %d: %v", i, err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d promotions succeeded, want 1", ok)
		}
		got, err := nodes[1].GetPlugin(ctx, "default", "web")
		if err != nil || got.Version != "2.0.0" || got.ModuleSHA256 != next.ModuleSHA256 {
			t.Fatalf("installed = %+v, %v", got, err)
		}
		if _, err := nodes[0].GetPending(ctx, "default", "web"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("pending version left behind: %v", err)
		}
	})
}

// Concurrent calls on two nodes never count past the limit together.
func TestAddCallAcrossNodes(t *testing.T) {
	eachDialect(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		nodes := []*DB{open(t), open(t)}
		const limit, n = 10, 30
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			counted int
		)
		for i := range n {
			wg.Go(func() {
				ok, err := nodes[i%2].AddCall(ctx, "default", "did:key:zA", 1000, limit-1)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					counted++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if counted != limit {
			t.Fatalf("%d calls counted, want %d", counted, limit)
		}
		for _, tc := range []struct {
			realm, agent string
			minute, want int64
		}{
			{"default", "did:key:zA", 1000, limit},
			{"default", "did:key:zA", 999, 0},
			{"default", "did:key:zB", 1000, 0},
			{"other", "did:key:zA", 1000, 0},
		} {
			if got, err := nodes[1].CallsIn(ctx, tc.realm, tc.agent, tc.minute); err != nil || got != tc.want {
				t.Errorf("CallsIn(%s, %s, %d) = %d, %v; want %d", tc.realm, tc.agent, tc.minute, got, err, tc.want)
			}
		}
		if ok, err := nodes[0].AddCall(ctx, "default", "did:key:zB", 1000, -1); err != nil || ok {
			t.Errorf("AddCall with no room = %v, %v; want refused", ok, err)
		}
	})
}

// A revocation through one node is announced to the others.
func TestRevokeNotifiesOtherNodes(t *testing.T) {
	eachDialect(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		a, b := open(t), open(t)
		got := make(chan string, 4)
		if err := b.SQLDB().Listen(ctx, RevocationChannel, func(p string) { got <- p }); err != nil {
			t.Fatal(err)
		}
		if err := a.Revoke(ctx, Revocation{Realm: "default", Kind: KindGrant, Subject: "jti-1", By: "did:key:zOp"}); err != nil {
			t.Fatal(err)
		}
		// Enforcement does not wait for the notification: the other node
		// reads the revocation from the database.
		if ok, err := b.Revoked(ctx, "default", KindGrant, "jti-1"); err != nil || !ok {
			t.Fatalf("Revoked on the other node = %v, %v", ok, err)
		}
		if a.SQLDB().Dialect() != sqldb.Postgres {
			return // SQLite: one process, nothing to notify
		}
		select {
		case p := <-got:
			if p != "grant default jti-1" {
				t.Fatalf("payload %q", p)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no notification arrived")
		}
	})
}
