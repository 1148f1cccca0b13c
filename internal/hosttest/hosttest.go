// Package hosttest assembles a complete Airlock host in-process for tests:
// the same parts, wired the same way, as `airlock serve` (cmd/airlock's
// openHost), served over real HTTP on a loopback httptest server.
//
// [New] creates a temporary data directory, an operator, a publisher and an
// agent key, a configuration whose realm "default" trusts the operator and
// the publisher, and the host itself. Helpers build and install signed
// bundles from plugin source directories, issue grants, and hand out
// clients that sign every request and verify every receipt against the
// host's DID. [Host.Restart] closes the host and opens it again on the same
// data directory, to test what survives a restart.
//
// hosttest is for tests only: it fails the test on any setup error.
//
// # Security
//
// The server listens on 127.0.0.1 only. Keys are generated fresh for every
// host from crypto/rand and live only in the test's temporary directory.
// [WithAllowPrivate] opens loopback or private ranges to tools' egress on
// purpose; without it the host refuses them exactly as in production.
package hosttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
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
	"github.com/airlock-dev/airlock/host/vault"
	"github.com/airlock-dev/airlock/internal/node"
	"github.com/airlock-dev/airlock/internal/wasmbuild"
	"github.com/airlock-dev/airlock/sdk/client"
	"github.com/airlock-dev/airlock/server"
)

// DefaultRealm is the realm every Host configures.
const DefaultRealm = "default"

// Version is the version the test host reports.
const Version = "hosttest"

// manifestsDir holds manifest templates for test plugins whose source
// directory has none (host/runtime/testdata/plugins/*), by plugin base name.
const manifestsDir = "internal/hosttest/testdata/manifests"

// Option configures a Host.
type Option func(*settings)

type settings struct {
	realms       map[string]config.Realm
	allowPrivate []string
	wrapAudit    func(audit.Appender) audit.Appender
	logger       *slog.Logger
	configure    func(*config.Config)
	cacheDir     string
}

// WithRealm configures one more realm (or replaces the trust of
// "default"), trusting exactly the operators and publishers in r.
func WithRealm(name string, r config.Realm) Option {
	return func(s *settings) { s.realms[name] = r }
}

// WithAllowPrivate sets egress.allow_private: CIDRs that tools may reach
// although they are loopback or private (for example "127.0.0.1/32").
func WithAllowPrivate(cidrs ...string) Option {
	return func(s *settings) { s.allowPrivate = append(s.allowPrivate, cidrs...) }
}

// WithAuditAppender wraps the audit log that the intent service writes its
// decisions to, for fault injection. wrap is called with the real log on
// every open (also on Restart). The HTTP layer's own entries (install,
// revoke, uninstall) go to the real log.
func WithAuditAppender(wrap func(audit.Appender) audit.Appender) Option {
	return func(s *settings) { s.wrapAudit = wrap }
}

// WithLogger sets the host's logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) { s.logger = l }
}

// WithCacheDir sets the wazero compilation cache directory (default: the
// data directory's "cache"). Hosts of one test process may share a cache
// so that each module is compiled once; the caller removes the directory.
func WithCacheDir(dir string) Option {
	return func(s *settings) { s.cacheDir = dir }
}

// WithConfig changes the configuration after the defaults are set and
// before the host opens (limits, for example).
func WithConfig(fn func(*config.Config)) Option {
	return func(s *settings) { s.configure = fn }
}

// Host is a running in-process host and the keys that talk to it.
type Host struct {
	tb  testing.TB
	set settings
	cfg *config.Config

	operator, publisher, agent *identity.Key

	// The current incarnation; replaced by Restart.
	key      *identity.Key
	db       *store.DB
	log      *audit.Log
	engine   *runtime.Engine
	registry *registry.Registry
	vault    *vault.Vault
	intents  *intent.Service
	server   *server.Server
	http     *httptest.Server
	node     *node.Node
}

// New starts a host and registers its Close with tb.Cleanup.
func New(tb testing.TB, opts ...Option) *Host {
	tb.Helper()
	h := &Host{tb: tb, set: settings{realms: map[string]config.Realm{}, logger: slog.New(slog.DiscardHandler)}}
	h.operator, h.publisher, h.agent = NewKey(tb), NewKey(tb), NewKey(tb)
	h.set.realms[DefaultRealm] = config.Realm{Operators: []string{h.operator.DID()}, Publishers: []string{h.publisher.DID()}}
	for _, o := range opts {
		o(&h.set)
	}
	cfg := config.Default()
	cfg.Data = tb.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Realms = h.set.realms
	cfg.Egress.AllowPrivate = h.set.allowPrivate
	if h.set.configure != nil {
		h.set.configure(cfg)
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatalf("hosttest: config: %v", err)
	}
	h.cfg = cfg
	h.open(tb)
	tb.Cleanup(h.Close)
	return h
}

// NewKey returns a fresh Ed25519 key.
func NewKey(tb testing.TB) *identity.Key {
	tb.Helper()
	k, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		tb.Fatalf("hosttest: %v", err)
	}
	return k
}

// open assembles the host from h.cfg with the same wiring as
// `airlock serve` (internal/node), and serves it on loopback.
func (h *Host) open(tb testing.TB) {
	tb.Helper()
	n, err := node.Open(context.Background(), h.cfg, node.Options{
		Logger: h.set.logger, Version: Version, CacheDir: h.set.cacheDir, WrapAudit: h.set.wrapAudit,
	})
	if err != nil {
		tb.Fatalf("hosttest: open host: %v", err)
	}
	h.node = n
	h.key, h.db, h.log, h.engine, h.registry, h.vault, h.intents, h.server =
		n.Key, n.DB, n.Audit, n.Engine, n.Registry, n.Vault, n.Intents, n.Server
	h.http = httptest.NewServer(h.server.Handler()) // binds 127.0.0.1
}

// Close stops the server and closes the engine and the database. It is
// safe to call more than once.
func (h *Host) Close() {
	if h.http != nil {
		h.http.Close()
		h.http = nil
	}
	if h.node != nil {
		h.node.Close(context.Background())
		h.node = nil
	}
}

// Restart closes the host and opens it again on the same data directory and
// configuration. The host DID stays; the URL changes (clients from [Host.Agent]
// and [Host.Operator] taken before the restart must be taken again).
func (h *Host) Restart(tb testing.TB) {
	tb.Helper()
	h.Close()
	h.open(tb)
}

// URL is the base URL of the running host (http://127.0.0.1:PORT).
func (h *Host) URL() string { return h.http.URL }

// DID is the host's DID.
func (h *Host) DID() string { return h.key.DID() }

// HostKey is the host's signing key.
func (h *Host) HostKey() *identity.Key { return h.key }

// Config is the host's configuration. Do not change it while the host runs.
func (h *Host) Config() *config.Config { return h.cfg }

// DataDir is the host's data directory.
func (h *Host) DataDir() string { return h.cfg.Data }

// DB is the host's store.
func (h *Host) DB() *store.DB { return h.db }

// AuditLog is the host's real audit log (not the injected wrapper).
func (h *Host) AuditLog() *audit.Log { return h.log }

// Vault is the host's secret vault.
func (h *Host) Vault() *vault.Vault { return h.vault }

// Registry is the host's plugin registry.
func (h *Host) Registry() *registry.Registry { return h.registry }

// Server is the HTTP server (for its routes, for example).
func (h *Host) Server() *server.Server { return h.server }

// OperatorKey is the operator of realm "default".
func (h *Host) OperatorKey() *identity.Key { return h.operator }

// PublisherKey is the publisher trusted in realm "default".
func (h *Host) PublisherKey() *identity.Key { return h.publisher }

// AgentKey is the agent that [Host.Grant] issues grants to.
func (h *Host) AgentKey() *identity.Key { return h.agent }

// Client returns a client signing as key, pinned to the host's DID.
func (h *Host) Client(key *identity.Key) *client.Client {
	c, err := client.New(h.URL(), key, client.Options{HostDID: h.DID()})
	if err != nil {
		// The URL is httptest's own http://127.0.0.1:PORT.
		panic("hosttest: client: " + err.Error())
	}
	return c
}

// Agent returns a client signing as the agent.
func (h *Host) Agent() *client.Client { return h.Client(h.agent) }

// Operator returns a client signing as the operator of realm "default".
func (h *Host) Operator() *client.Client { return h.Client(h.operator) }

// Grant issues a grant signed by the operator: iss operator, sub agent, aud
// the host, realm "default", valid from now for one hour, tools ["*"] and no
// capabilities, changed by claims (may be nil).
func (h *Host) Grant(tb testing.TB, claims func(*grant.Claims)) string {
	tb.Helper()
	return h.GrantSignedBy(tb, h.operator, claims)
}

// GrantSignedBy is [Host.Grant] signed by signer (iss defaults to its DID).
func (h *Host) GrantSignedBy(tb testing.TB, signer *identity.Key, claims func(*grant.Claims)) string {
	tb.Helper()
	now := time.Now()
	c := grant.Claims{
		Iss: signer.DID(), Sub: h.agent.DID(), Aud: h.DID(),
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(time.Hour).Unix(),
		Realm: DefaultRealm, Tools: []string{"*"},
	}
	if claims != nil {
		claims(&c)
	}
	tok, err := grant.Issue(signer, c, now)
	if err != nil {
		tb.Fatalf("hosttest: issue grant: %v", err)
	}
	return tok
}

// Bundle builds the plugin in pluginDir (repo-relative, e.g. "plugins/echo")
// into a bundle signed by the host's publisher; see [BuildBundle].
func (h *Host) Bundle(tb testing.TB, pluginDir string, override func(*bundle.Manifest)) *bundle.Bundle {
	tb.Helper()
	return BuildBundle(tb, pluginDir, h.publisher, override)
}

// Install builds the plugin in pluginDir, signs it as the publisher and
// installs it into realm as the operator, failing tb unless the host
// answers 201. override may change the manifest before it is signed.
func (h *Host) Install(tb testing.TB, realm, pluginDir string, override func(*bundle.Manifest)) {
	tb.Helper()
	raw := BundleBytes(tb, h.Bundle(tb, pluginDir, override))
	resp, err := h.Operator().Install(context.Background(), realm, raw)
	if err != nil {
		tb.Fatalf("hosttest: install %s into %s: %v", pluginDir, realm, err)
	}
	if resp.Status != 201 {
		tb.Fatalf("hosttest: install %s into %s: status %d", pluginDir, realm, resp.Status)
	}
}

// BuildBundle compiles the Go plugin in pluginDir (repo-relative) with
// [wasmbuild.Build] and builds a bundle signed by signer. The manifest
// template is pluginDir/manifest.json or, for the runtime's test plugins
// that have none, internal/hosttest/testdata/manifests/<base name>.json.
// override (may be nil) changes the manifest before it is signed.
func BuildBundle(tb testing.TB, pluginDir string, signer *identity.Key, override func(*bundle.Manifest)) *bundle.Bundle {
	tb.Helper()
	module := wasmbuild.Build(tb, pluginDir)
	tmpl := readTemplate(tb, pluginDir)
	if override != nil {
		m, err := bundle.ParseTemplate(tmpl)
		if err != nil {
			tb.Fatalf("hosttest: manifest of %s: %v", pluginDir, err)
		}
		override(m)
		if tmpl, err = json.Marshal(m); err != nil {
			tb.Fatalf("hosttest: manifest of %s: %v", pluginDir, err)
		}
	}
	b, err := bundle.Build(tmpl, module, signer)
	if err != nil {
		tb.Fatalf("hosttest: bundle %s: %v", pluginDir, err)
	}
	return b
}

func readTemplate(tb testing.TB, pluginDir string) []byte {
	tb.Helper()
	root, err := wasmbuild.RepoRoot()
	if err != nil {
		tb.Fatalf("hosttest: %v", err)
	}
	tmpl, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(pluginDir), "manifest.json"))
	if errors.Is(err, fs.ErrNotExist) {
		tmpl, err = os.ReadFile(filepath.Join(root, filepath.FromSlash(manifestsDir), path.Base(pluginDir)+".json"))
	}
	if err != nil {
		tb.Fatalf("hosttest: manifest template for %s: %v", pluginDir, err)
	}
	return tmpl
}

// BundleBytes writes b as the tar the install endpoint takes.
func BundleBytes(tb testing.TB, b *bundle.Bundle) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := b.Write(&buf); err != nil {
		tb.Fatalf("hosttest: write bundle: %v", err)
	}
	return buf.Bytes()
}
