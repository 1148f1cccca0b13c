package grant_test

import (
	"errors"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/grant"
)

// A grant the Verifier has already seen is checked again on every use for
// everything that can change: the clock, the requester, the host and the
// trust in its issuer.
func TestVerifyCachedGrantIsRecheckedOnEveryUse(t *testing.T) {
	w := newWorld(t)
	tok := signJSON(t, w.op, w.claims())
	now := t0
	trusted := true
	v := &grant.Verifier{HostDID: w.host.DID(), Now: func() time.Time { return now },
		Trust: func(realm, did string) bool { return trusted && w.trust(realm, did) }}

	g, err := v.Verify(tok, w.agent.DID())
	if err != nil {
		t.Fatal(err)
	}
	// The caller's copy is its own: changing it does not change the next use.
	g.Claims.Sub = w.stranger.DID()
	g.Claims.Exp = now.Add(1000 * time.Hour).Unix()
	if _, err := v.Verify(tok, w.agent.DID()); err != nil {
		t.Fatalf("second use: %v", err)
	}
	if _, err := v.Verify(tok, w.stranger.DID()); !errors.Is(err, grant.ErrInvalid) {
		t.Errorf("cached grant presented by another agent: err = %v", err)
	}
	other := &grant.Verifier{HostDID: w.stranger.DID(), Trust: w.trust, Now: func() time.Time { return now }}
	if _, err := other.Verify(tok, w.agent.DID()); !errors.Is(err, grant.ErrInvalid) {
		t.Errorf("grant for another host: err = %v", err)
	}
	trusted = false
	if _, err := v.Verify(tok, w.agent.DID()); !errors.Is(err, grant.ErrInvalid) {
		t.Errorf("cached grant after its issuer lost trust: err = %v", err)
	}
	trusted = true
	now = t0.Add(2 * time.Hour)
	if _, err := v.Verify(tok, w.agent.DID()); !errors.Is(err, grant.ErrInvalid) {
		t.Errorf("cached grant after it expired: err = %v", err)
	}
}

// A token that differs from a cached one by a single byte is verified from
// scratch (and refused when its signature breaks).
func TestVerifyCacheIsKeyedByTheWholeToken(t *testing.T) {
	w := newWorld(t)
	v := w.verifier()
	tok := signJSON(t, w.op, w.claims())
	if _, err := v.Verify(tok, w.agent.DID()); err != nil {
		t.Fatal(err)
	}
	b := []byte(tok)
	b[len(b)-3] ^= 1
	if _, err := v.Verify(string(b), w.agent.DID()); !errors.Is(err, grant.ErrInvalid) {
		t.Fatalf("token with a flipped signature byte: err = %v", err)
	}
}

// Grants signed by untrusted keys are never remembered, and the cache stays
// bounded however many trusted grants pass through it.
func TestVerifyCacheIsBounded(t *testing.T) {
	w := newWorld(t)
	v := w.verifier()
	for i := range grant.MaxCachedGrants + 50 {
		c := w.claims()
		c.Jti = "jti-" + time.Duration(i).String()
		if _, err := v.Verify(signJSON(t, w.op, c), w.agent.DID()); err != nil {
			t.Fatal(err)
		}
	}
	if n := grant.CachedGrants(v); n > grant.MaxCachedGrants {
		t.Fatalf("%d cached grants, bound is %d", n, grant.MaxCachedGrants)
	}
	before := grant.CachedGrants(v)
	c := w.claims()
	c.Iss = w.stranger.DID()
	if _, err := v.Verify(signJSON(t, w.stranger, c), w.agent.DID()); !errors.Is(err, grant.ErrInvalid) {
		t.Fatalf("stranger's grant: %v", err)
	}
	if after := grant.CachedGrants(v); after > before {
		t.Fatal("a grant of an untrusted issuer was cached")
	}
}
