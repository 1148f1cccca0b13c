package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/host/config"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/intent"
	"github.com/airlock-dev/airlock/host/registry"
	"github.com/airlock-dev/airlock/host/runtime"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/internal/node"
	"github.com/airlock-dev/airlock/internal/pgtest"
	"github.com/airlock-dev/airlock/internal/wasmbuild"
	"github.com/airlock-dev/airlock/server"
)

// realm is the realm the benchmark host trusts its operator and publisher in.
const realm = "default"

// echoTool is the tool every benchmark calls.
const echoTool = "echo/echo"

// host is an Airlock host assembled like cmd/airlock's openHost, in a
// temporary data directory, serving on a loopback listener.
type host struct {
	dir       string
	cfg       *config.Config
	key       *identity.Key
	operator  *identity.Key
	publisher *identity.Key
	db        *store.DB
	audit     *audit.Log
	engine    *runtime.Engine
	registry  *registry.Registry
	intents   *intent.Service
	server    *server.Server
	baseURL   string // http://127.0.0.1:PORT

	node    *node.Node
	stop    context.CancelFunc // stops Serve and the checkpoint loop
	stopped sync.WaitGroup
}

// shared is the host of this test binary, built on first use (compiling the
// Go echo module takes seconds, and a benchmark function runs once per b.N)
// and closed by TestMain.
var shared struct {
	once sync.Once
	host *host
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	if shared.host != nil {
		if err := shared.host.close(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: closing the host:", err)
			code = max(code, 1)
		}
	}
	os.Exit(code)
}

// sharedHost returns the test binary's host, starting it on first use.
func sharedHost(tb testing.TB) *host {
	tb.Helper()
	wasm := wasmbuild.Build(tb, "plugins/echo")
	shared.once.Do(func() {
		shared.host, shared.err = startHost(context.Background(), wasm)
	})
	if shared.err != nil {
		tb.Fatalf("bench host: %v", shared.err)
	}
	return shared.host
}

// logger reports the host's warnings and errors on stderr: a benchmark run
// whose host logs errors is suspect.
func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startHost assembles a host around a fresh data directory, installs the echo
// plugin into realm and starts serving on 127.0.0.1:0.
func startHost(ctx context.Context, echoWasm []byte) (_ *host, err error) {
	dir, err := os.MkdirTemp("", "airlock-bench-")
	if err != nil {
		return nil, err
	}
	h := &host{dir: dir, stop: func() {}}
	defer func() {
		if err != nil {
			err = errors.Join(err, h.close())
		}
	}()
	if h.operator, err = identity.GenerateKey(identity.KeyEd25519); err != nil {
		return nil, err
	}
	if h.publisher, err = identity.GenerateKey(identity.KeyEd25519); err != nil {
		return nil, err
	}
	h.cfg = config.Default()
	h.cfg.Listen = "127.0.0.1:0"
	h.cfg.Data = dir
	h.cfg.Realms[realm] = config.Realm{
		Operators:  []string{h.operator.DID()},
		Publishers: []string{h.publisher.DID()},
	}
	if err := h.cfg.Validate(); err != nil {
		return nil, err
	}
	log := logger()

	lim := h.cfg.Limits
	// the same wiring as `airlock serve`
	n, err := node.Open(ctx, h.cfg, node.Options{Logger: log, Version: "bench"})
	if err != nil {
		return nil, err
	}
	h.node = n
	h.key, h.db, h.audit, h.engine, h.registry, h.intents, h.server = n.Key, n.DB, n.Audit, n.Engine, n.Registry, n.Intents, n.Server
	if err := h.installEcho(ctx, echoWasm); err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", h.cfg.Listen)
	if err != nil {
		return nil, err
	}
	h.baseURL = "http://" + ln.Addr().String()
	runCtx, cancel := context.WithCancel(ctx)
	h.stop = cancel
	h.stopped.Add(2)
	go func() {
		defer h.stopped.Done()
		if err := h.server.Serve(runCtx, ln); err != nil {
			log.Error("bench: serve", "err", err)
		}
	}()
	go func() {
		defer h.stopped.Done()
		h.audit.Run(runCtx, time.Duration(lim.CheckpointSecs)*time.Second)
	}()
	return h, nil
}

// installEcho signs plugins/echo as the publisher and installs it the way
// POST /v1/plugins does: verify, audit, commit.
func (h *host) installEcho(ctx context.Context, wasm []byte) error {
	tmpl, err := echoManifest()
	if err != nil {
		return err
	}
	return installBundle(ctx, h.cfg, h.registry, h.audit, h.operator, h.publisher, tmpl, wasm)
}

// echoManifest returns plugins/echo/manifest.json.
func echoManifest() ([]byte, error) {
	root, err := wasmbuild.RepoRoot()
	if err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(root, "plugins", "echo", "manifest.json"))
}

// installBundle signs the manifest template and module as publisher and
// installs the bundle into realm the way POST /v1/plugins does: verify,
// audit, commit.
func installBundle(ctx context.Context, cfg *config.Config, reg *registry.Registry, log *audit.Log,
	operator, publisher *identity.Key, tmpl, wasm []byte) error {
	b, err := bundle.Build(tmpl, wasm, publisher)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := b.Write(&buf); err != nil {
		return err
	}
	v, err := reg.Verify(ctx, realm, buf.Bytes(), func(_ context.Context, r, pub string) (bool, error) {
		return cfg.PublisherTrusted(r, pub), nil
	})
	if err != nil {
		return err
	}
	if _, err := log.Append(ctx, audit.Entry{Realm: realm, Actor: operator.DID(), Action: "install",
		Tool: v.Name(), Decision: "allow", Reason: "installed by the benchmark"}); err != nil {
		return err
	}
	_, err = reg.Commit(ctx, v, operator.DID(), time.Now())
	return err
}

// close stops serving, then releases the engine and the database and removes
// the data directory.
func (h *host) close() error {
	h.stop()
	h.stopped.Wait()
	var errs []error
	if h.node != nil {
		h.node.Close(context.Background())
	}
	errs = append(errs, os.RemoveAll(h.dir))
	return errors.Join(errs...)
}

// agent is one agent: its own key and a grant for echo/* issued to it.
type agent struct {
	key   *identity.Key
	grant string
}

// newAgent generates an agent key and has the operator grant it echo/* on
// this host for an hour.
func (h *host) newAgent(tb testing.TB) agent {
	tb.Helper()
	k, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := issueGrant(h.operator, k, h.key.DID(), "echo/*", time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return agent{key: k, grant: tok}
}

// issueGrant has operator grant agent the tools matching pattern on the
// host hostDID in realm for an hour.
func issueGrant(operator, agent *identity.Key, hostDID, pattern string, now time.Time) (string, error) {
	return grant.Issue(operator, grant.Claims{
		Sub: agent.DID(), Aud: hostDID, Realm: realm, Exp: now.Add(time.Hour).Unix(),
		Tools: []string{pattern},
	}, now)
}

// commitGroups starts counting the host's group commits: the returned func
// gives the mean number of callers per commit since.
func (h *host) commitGroups() func() float64 {
	b0, c0 := h.db.SQLDB().BatchStats()
	return func() float64 {
		b1, c1 := h.db.SQLDB().BatchStats()
		return float64(c1-c0) / float64(max(b1-b0, 1))
	}
}
