package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/config"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/intent"
	"github.com/airlock-dev/airlock/internal/node"
	"github.com/airlock-dev/airlock/internal/wasmbuild"
)

// restartPlugins is how many plugins the restarted host has installed
// (issue 7: "restart with 10 installed plugins ready in ≤ 1 s").
const restartPlugins = 10

// withCustomSection returns wasm with a custom section appended: the same
// code under different bytes, so each installed plugin is its own module
// (own SHA-256, own compilation, own cache entry), as ten real plugins are.
func withCustomSection(wasm []byte, name string, payload []byte) []byte {
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(name)))
	body = append(body, name...)
	body = append(body, payload...)
	out := append([]byte(nil), wasm...)
	out = append(out, 0) // custom section id
	out = binary.AppendUvarint(out, uint64(len(body)))
	return append(out, body...)
}

// renamed returns the manifest template with another bundle name.
func renamed(tmpl []byte, name string) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(tmpl, &m); err != nil {
		return nil, err
	}
	m["name"] = name
	return json.Marshal(m)
}

// restartFixture is a stopped host's data directory with echo variants
// (echo0, echo1, …) installed, and an agent granted echo0/*.
type restartFixture struct {
	cfg      *config.Config
	agentKey *identity.Key
	hostDID  string
	grant    string
}

// newRestartFixture installs plugins echo variants through a first node,
// as `airlock plugin install` would, then closes it.
func newRestartFixture(tb testing.TB, plugins int) *restartFixture {
	tb.Helper()
	ctx := context.Background()
	wasm := wasmbuild.Build(tb, "plugins/echo")
	tmpl, err := echoManifest()
	if err != nil {
		tb.Fatal(err)
	}
	operator, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		tb.Fatal(err)
	}
	publisher, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		tb.Fatal(err)
	}
	agentKey, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = tb.TempDir()
	cfg.Realms[realm] = config.Realm{Operators: []string{operator.DID()}, Publishers: []string{publisher.DID()}}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	n, err := node.Open(ctx, cfg, node.Options{Logger: logger(), Version: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	defer n.Close(ctx)
	for i := range plugins {
		name := fmt.Sprintf("echo%d", i)
		m, err := renamed(tmpl, name)
		if err != nil {
			tb.Fatal(err)
		}
		if err := installBundle(ctx, cfg, n.Registry, n.Audit, operator, publisher, m,
			withCustomSection(wasm, "airlock-bench", []byte(name))); err != nil {
			tb.Fatalf("install %s: %v", name, err)
		}
	}
	now := time.Now()
	tok, err := issueGrant(operator, agentKey, n.Key.DID(), "echo0/*", now)
	if err != nil {
		tb.Fatal(err)
	}
	return &restartFixture{cfg: cfg, agentKey: agentKey, hostDID: n.Key.DID(), grant: tok}
}

// restart opens a node on the fixture's data directory and runs one intent
// through the whole pipeline; it returns the node (to close), the time
// node.Open took and the time to the first successful intent.
func (f *restartFixture) restart(ctx context.Context) (n *node.Node, open, ready time.Duration, err error) {
	start := time.Now()
	n, err = node.Open(ctx, f.cfg, node.Options{Logger: logger(), Version: "bench"})
	if err != nil {
		return nil, 0, 0, err
	}
	open = time.Since(start)
	body, err := json.Marshal(intent.Request{Tool: "echo0/echo", Input: echoInput, Grant: f.grant})
	if err != nil {
		return n, 0, 0, err
	}
	now := time.Now()
	jti, err := identity.NewJTI()
	if err != nil {
		return n, 0, 0, err
	}
	proof := &identity.Proof{Iss: f.agentKey.DID(), Aud: f.hostDID, Jti: jti, Iat: now.Unix(),
		Exp: now.Add(time.Minute).Unix(), Htm: "POST", Htu: "/v1/intents", Bh: identity.BodyHash(body)}
	res, _, err := n.Intents.Invoke(ctx, proof, body)
	if err != nil {
		return n, 0, 0, err
	}
	if string(res.Output) != string(echoInput) {
		return n, 0, 0, fmt.Errorf("echo0 answered %s", res.Output)
	}
	return n, open, time.Since(start), nil
}

// TestRestartFixture checks the restart benchmark's host with 3 plugins
// (10 take minutes under the race detector): they survive the restart as
// distinct modules, and the first intent after it is served.
func TestRestartFixture(t *testing.T) {
	const plugins = 3
	f := newRestartFixture(t, plugins)
	ctx := context.Background()
	n, _, _, err := f.restart(ctx)
	if n != nil {
		defer n.Close(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	installed := n.Registry.List(realm)
	if len(installed) != plugins {
		t.Fatalf("%d plugins after restart, want %d", len(installed), plugins)
	}
	seen := map[string]bool{}
	for _, p := range installed {
		seen[p.Module.SHA256()] = true
	}
	if len(seen) != plugins {
		t.Errorf("%d distinct modules, want %d", len(seen), plugins)
	}
}

// BenchmarkRestart10Plugins times a host restart: node.Open on a data
// directory with 10 installed plugins (database, audit head reload, each
// module loaded from the on-disk compilation cache, vault, memory), then
// the first signed intent through the whole pipeline. ns/op is that total
// (ready-to-serve); open-ms is node.Open alone. The node is closed outside
// the timing.
func BenchmarkRestart10Plugins(b *testing.B) {
	f := newRestartFixture(b, restartPlugins)
	ctx := context.Background()
	// One restart outside the timing, so the OS page cache is as warm as
	// after any other restart.
	n, _, _, err := f.restart(ctx)
	if n != nil {
		n.Close(ctx)
	}
	if err != nil {
		b.Fatal(err)
	}
	var open, ready time.Duration
	runs := 0
	for b.Loop() {
		n, o, r, err := f.restart(ctx)
		b.StopTimer()
		if n != nil {
			n.Close(ctx)
		}
		if err != nil {
			b.Fatal(err)
		}
		open, ready, runs = open+o, ready+r, runs+1
		b.StartTimer()
	}
	b.ReportMetric(milliseconds(open)/float64(runs), "open-ms")
	b.ReportMetric(milliseconds(ready)/float64(runs), "ready-ms")
}
