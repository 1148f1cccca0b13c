package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestHeldIntents(t *testing.T) {
	eachDialect(t, testHeldIntents)
}

func testHeldIntents(t *testing.T, open opener) {
	ctx := context.Background()
	db := open(t)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	put := func(id string, ttl time.Duration) {
		t.Helper()
		if err := db.PutIntent(ctx, Intent{ID: id, Realm: "default", Agent: "did:key:zA", Tool: "mail/send",
			Request: "jti-" + id, Body: []byte(`{"tool":"mail/send"}`), CreatedAt: now, ExpiresAt: now.Add(ttl)}); err != nil {
			t.Fatal(err)
		}
	}
	put("fresh", time.Hour)
	put("old", time.Minute)

	t.Run("approval replayed finds nothing pending", func(t *testing.T) {
		if err := db.DecideIntent(ctx, "fresh", IntentApproved, "did:key:zOp", now); err != nil {
			t.Fatal(err)
		}
		if err := db.DecideIntent(ctx, "fresh", IntentApproved, "did:key:zOp", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second approval: %v, want ErrNotFound", err)
		}
		if err := db.FinishIntent(ctx, "fresh", IntentDone, []byte(`{"ok":true}`), ""); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishIntent(ctx, "fresh", IntentDone, []byte(`{}`), ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second finish: %v, want ErrNotFound", err)
		}
		in, err := db.GetIntent(ctx, "fresh")
		if err != nil || in.Status != IntentDone || string(in.Output) != `{"ok":true}` || in.DecidedBy != "did:key:zOp" {
			t.Fatalf("GetIntent = %+v, %v", in, err)
		}
	})
	t.Run("approval after expiry is refused and the intent expires", func(t *testing.T) {
		later := now.Add(2 * time.Minute)
		if err := db.DecideIntent(ctx, "old", IntentApproved, "did:key:zOp", later); !errors.Is(err, ErrNotFound) {
			t.Fatalf("late approval: %v, want ErrNotFound", err)
		}
		in, err := db.GetIntent(ctx, "old")
		if err != nil || in.Status != IntentExpired {
			t.Fatalf("expired intent = %+v, %v", in, err)
		}
	})
	t.Run("flood cap counts only pending intents of the agent", func(t *testing.T) {
		put("p1", time.Hour)
		put("p2", time.Hour)
		n, err := db.CountPending(ctx, "default", "did:key:zA")
		if err != nil || n != 2 {
			t.Fatalf("CountPending = %d, %v; want 2", n, err)
		}
		if n, _ := db.CountPending(ctx, "other", "did:key:zA"); n != 0 {
			t.Fatalf("another realm counts %d", n)
		}
		list, err := db.PendingIntents(ctx, "default", 10)
		if err != nil || len(list) != 2 {
			t.Fatalf("PendingIntents = %d, %v", len(list), err)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		if _, err := db.GetIntent(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetIntent(nope) = %v", err)
		}
	})
}
