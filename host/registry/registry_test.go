package registry_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/host/registry"
	"github.com/airlock-dev/airlock/host/runtime"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// node is one host's registry on a shared PostgreSQL database.
type node struct {
	db  *store.DB
	reg *registry.Registry
}

func openNode(t *testing.T, dsn string, engine *runtime.Engine) node {
	t.Helper()
	ctx := context.Background()
	db, err := store.OpenURL(ctx, dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err := registry.Open(ctx, db, engine, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	return node{db, reg}
}

// eventually polls cond until it holds; the bound is generous (it is not a
// speed test) and only keeps a broken build from hanging.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A plugin installed, re-installed or removed through one node is served,
// replaced or gone on another; a reload-everything notification (sent after
// a listener reconnects) catches up with changes it was not told about.
func TestRegistryFollowsOtherNodes(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	engine, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close(ctx) })
	a, b := openNode(t, dsn, engine), openNode(t, dsn, engine)

	publisher := hosttest.NewKey(t)
	trust := func(_ context.Context, _, pub string) (bool, error) { return pub == publisher.DID(), nil }
	install := func(n node, version string) *registry.Plugin {
		t.Helper()
		raw := hosttest.BundleBytes(t, hosttest.BuildBundle(t, "plugins/echo", publisher,
			func(m *bundle.Manifest) { m.Version = version }))
		v, err := n.reg.Verify(ctx, "default", raw, trust)
		if err != nil {
			t.Fatal(err)
		}
		p, err := n.reg.Commit(ctx, v, "did:key:zOp", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	version := func(n node) string {
		tool, err := n.reg.Tool("default", "echo/echo")
		if err != nil {
			return ""
		}
		return tool.Plugin.Record.Version
	}

	if version(b) != "" {
		t.Fatal("echo is installed before anyone installed it")
	}
	install(a, "1.0.0")
	eventually(t, "node B serves echo 1.0.0 installed on A", func() bool { return version(b) == "1.0.0" })

	install(b, "1.0.1")
	eventually(t, "node A serves echo 1.0.1 installed on B", func() bool { return version(a) == "1.0.1" })
	if version(b) != "1.0.1" {
		t.Fatalf("B serves %q after its own install", version(b))
	}

	if err := a.reg.Remove(ctx, "default", "echo"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node B drops echo removed on A", func() bool { return version(b) == "" })

	// A change B was not told about (its notification lost while its
	// listener was down) is picked up by the reload-everything signal.
	rec, err := a.db.GetPlugin(ctx, "default", "echo")
	if err == nil {
		t.Fatalf("removed plugin still in the store: %+v", rec)
	}
	install(a, "2.0.0")
	eventually(t, "node B serves echo 2.0.0", func() bool { return version(b) == "2.0.0" })
	if err := a.db.DeletePlugin(ctx, "default", "echo"); err != nil { // behind the registries' backs
		t.Fatal(err)
	}
	if version(b) != "2.0.0" {
		t.Fatal("B changed without being told")
	}
	if err := a.db.SQLDB().Notify(ctx, registry.Channel, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node B drops echo after reloading everything", func() bool { return version(b) == "" })
}
