package server

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/store"
)

// A challenge issued by one node is accepted once by another node that has
// the same host key and shares the store, refused by a node with another
// key, and refused once expired.
func TestHandshakeChallengeAcrossNodes(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hostKey, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	node := func(k *identity.Key) *handshakes {
		return newHandshakes(Deps{HostKey: k, Proofs: &identity.RequestVerifier{HostDID: k.DID(), Replay: db}})
	}
	a, b, stranger := node(hostKey), node(hostKey), node(otherKey)
	now := time.Now()
	const did = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"

	c, _, err := a.issue(did, now)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := stranger.take(ctx, c, did, now); ok || err != nil {
		t.Fatalf("node with another key: ok=%v err=%v", ok, err)
	}
	if ok, err := b.take(ctx, c, "did:key:zOther", now); ok || err != nil {
		t.Fatalf("challenge taken for another DID: ok=%v err=%v", ok, err)
	}
	if ok, err := b.take(ctx, c, did, now); !ok || err != nil {
		t.Fatalf("other node with the same key: ok=%v err=%v", ok, err)
	}
	if ok, err := a.take(ctx, c, did, now); ok || err != nil {
		t.Fatalf("challenge used twice: ok=%v err=%v", ok, err)
	}
	old, _, err := a.issue(did, now)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := b.take(ctx, old, did, now.Add(handshakeTTL+time.Second)); ok || err != nil {
		t.Fatalf("expired challenge: ok=%v err=%v", ok, err)
	}
}
