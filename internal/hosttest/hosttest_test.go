package hosttest_test

import (
	"context"
	"testing"

	"github.com/airlock-dev/airlock/host/config"
	"github.com/airlock-dev/airlock/internal/hosttest"
)

// TestRestartKeepsIdentity: a restarted host keeps its DID and data, so
// that pinned clients and replay state carry over; its configuration keeps
// the realms it was given.
func TestRestartKeepsIdentity(t *testing.T) {
	other := hosttest.NewKey(t)
	h := hosttest.New(t, hosttest.WithRealm("other", config.Realm{Operators: []string{other.DID()}}))
	did, dir, url := h.DID(), h.DataDir(), h.URL()
	if _, err := h.Operator().Revoke(context.Background(), hosttest.DefaultRealm, "grant", "before-restart"); err != nil {
		t.Fatal(err)
	}
	h.Restart(t)
	if h.DID() != did || h.DataDir() != dir {
		t.Fatalf("restart changed DID %s→%s or data %s→%s", did, h.DID(), dir, h.DataDir())
	}
	if h.URL() == url {
		t.Fatal("restart kept the old server")
	}
	revoked, err := h.DB().Revoked(context.Background(), hosttest.DefaultRealm, "grant", "before-restart")
	if err != nil || !revoked {
		t.Fatalf("revocation lost across restart: %v %v", revoked, err)
	}
	if !h.Config().OperatorTrusted("other", other.DID()) || h.Config().OperatorTrusted("other", h.OperatorKey().DID()) {
		t.Fatal("realm other does not trust exactly its own operator")
	}
	// the agent's pinned client verifies receipts from the restarted host
	info, err := h.Agent().Host(context.Background())
	if err != nil || info.DID != did {
		t.Fatalf("GET /v1/host after restart: %+v %v", info, err)
	}
}
