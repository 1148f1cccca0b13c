// Package node assembles one Airlock host from its configuration: keys,
// store, audit log, runtime, registry, vault, agent memory, egress guard,
// intent service and HTTP server. It is the single place where the parts are
// wired, used by `airlock serve` and by every test and benchmark that needs a
// real host, so that what is tested is what runs.
//
// # Security
//
// The data directory is created 0700; key files are 0600. The host key is
// Ed25519 (checkpoints are Ed25519 signed notes). Agent memory is encrypted
// under a key derived (HKDF) from the host key, not from the vault master
// key, so that rotating the vault never makes memory unreadable.
//
// # Several nodes
//
// With store: postgres://… several nodes share the state and act as one
// host. Each has its own data directory, but all must hold the same
// DATA/host.key (one host DID, one checkpoint key) and the same vault
// master key (AIRLOCK_MASTER_KEY, AIRLOCK_MASTER_KEY_FILE or a copy of
// DATA/master.key): copy them from the first node before starting the
// others. Calls-per-minute budgets are then counted in the database. Agent
// memory stays in each node's DATA/memory (not shared).
package node

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/budget"
	"github.com/airlock-dev/airlock/host/config"
	"github.com/airlock-dev/airlock/host/egress"
	"github.com/airlock-dev/airlock/host/embed"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/intent"
	"github.com/airlock-dev/airlock/host/mail"
	"github.com/airlock-dev/airlock/host/memory"
	"github.com/airlock-dev/airlock/host/monitor"
	"github.com/airlock-dev/airlock/host/policy"
	"github.com/airlock-dev/airlock/host/registry"
	"github.com/airlock-dev/airlock/host/runtime"
	"github.com/airlock-dev/airlock/host/sqldb"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/host/vault"
	"github.com/airlock-dev/airlock/server"
)

// EmbedderKeySecret is the vault secret (realm "default") that holds the API
// key of a remote embedder.
const EmbedderKeySecret = "EMBEDDER_API_KEY"

// Options tune a node beyond its configuration.
type Options struct {
	Logger  *slog.Logger
	Version string
	// CacheDir overrides the wazero compilation cache (default DATA/cache).
	CacheDir string
	// WrapAudit wraps the appender the intent service writes to (fault
	// injection in tests).
	WrapAudit func(audit.Appender) audit.Appender
}

// Node is an assembled host.
type Node struct {
	Config   *config.Config
	Key      *identity.Key
	DB       *store.DB
	Audit    *audit.Log
	Engine   *runtime.Engine
	Registry *registry.Registry
	Vault    *vault.Vault
	Memory   *memory.Store
	Intents  *intent.Service
	Server   *server.Server
}

// Open assembles a host from cfg. Close it when done.
func Open(ctx context.Context, cfg *config.Config, opt Options) (_ *Node, err error) {
	logger := opt.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, err
	}
	n := &Node{Config: cfg}
	defer func() {
		if err != nil {
			n.Close(context.Background())
		}
	}()
	if n.Key, err = LoadOrCreateKey(filepath.Join(cfg.Data, "host.key")); err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	priv, ok := n.Key.Ed25519()
	if !ok {
		return nil, errors.New("host key must be Ed25519 (checkpoints are Ed25519 signed notes)")
	}
	if n.DB, err = store.OpenURL(ctx, cfg.Store, cfg.Data); err != nil {
		return nil, err
	}
	if n.Audit, err = audit.Open(ctx, n.DB.SQLDB(), AuditOrigin(n.Key.DID()), priv, audit.WithLogger(logger)); err != nil {
		return nil, err
	}
	cacheDir := opt.CacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(cfg.Data, "cache")
	}
	if n.Engine, err = runtime.New(ctx, runtime.Config{
		CacheDir:       cacheDir,
		Logger:         logger,
		MaxMemoryPages: uint32(cfg.Limits.MemoryMB) * 16,
		MaxTimeout:     time.Duration(cfg.Limits.TimeoutMS) * time.Millisecond,
		MaxOutputBytes: cfg.Limits.OutputBytes,
	}); err != nil {
		return nil, err
	}
	if n.Registry, err = registry.Open(ctx, n.DB, n.Engine, cfg.Limits.BundleBytes); err != nil {
		return nil, err
	}
	if n.Vault, err = vault.OpenDataDir(ctx, n.DB.SQLDB(), cfg.Data); err != nil {
		return nil, err
	}
	embedFn, _, err := embed.Parse(cfg.Embedder, &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}},
		func(ctx context.Context) (string, error) {
			s, err := n.Vault.Get(ctx, "default", EmbedderKeySecret)
			if err != nil {
				return "", err
			}
			return string(s.Expose()), nil
		})
	if err != nil {
		return nil, err
	}
	memKey, err := hkdf.Key(sha256.New, priv.Seed(), nil, "airlock/memory/master/v1", 32)
	if err != nil {
		return nil, err
	}
	auditKey, err := hkdf.Key(sha256.New, priv.Seed(), nil, "airlock/audit/hmac/v1", 32)
	if err != nil {
		return nil, err
	}
	if n.Memory, err = memory.Open(ctx, memory.Config{Dir: filepath.Join(cfg.Data, "memory"), Master: memKey, Embed: embedFn, Logger: logger}); err != nil {
		return nil, err
	}
	addrs, err := egress.NewAddressPolicy(cfg.Egress.AllowPrivate)
	if err != nil {
		return nil, err
	}
	policies, err := policy.OpenStore(ctx, n.DB.SQLDB())
	if err != nil {
		return nil, err
	}
	quarantine, err := monitor.OpenQuarantineStore(ctx, n.DB.SQLDB())
	if err != nil {
		return nil, err
	}
	gov := &intent.Governance{
		Policies: policies, Monitor: monitor.New(time.Now), Quarantine: quarantine,
		Webhook: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}},
	}
	calls := &budget.Calls{}
	if n.DB.SQLDB().Dialect() == sqldb.Postgres {
		// Several nodes serve as one host: the calls-per-minute budget is
		// counted in the shared database, not per node.
		calls.Shared = n.DB
	}
	var appender audit.Appender = n.Audit
	if opt.WrapAudit != nil {
		appender = opt.WrapAudit(n.Audit)
	}
	n.Intents = &intent.Service{
		Grants:      &grant.Verifier{HostDID: n.Key.DID(), Trust: cfg.OperatorTrusted},
		Registry:    n.Registry,
		Engine:      n.Engine,
		Audit:       appender,
		Revocations: n.DB,
		Replay:      n.DB,
		Egress:      egress.NewClient(egress.Config{Policy: addrs, Logger: logger}),
		Governance:  gov,
		AuditKey:    auditKey,
		Vault:       n.Vault,
		Memory:      n.Memory,
		Approvals:   n.DB,
		Calls:       calls,
		Usage:       n.DB,
		DataDir:     cfg.Data,
		Mail:        mail.Config{Relay: cfg.Mail.Relay, From: cfg.Mail.From},
		Limits:      intent.Limits{MemoryMB: cfg.Limits.MemoryMB, TimeoutMS: cfg.Limits.TimeoutMS, OutputBytes: cfg.Limits.OutputBytes},
		Logger:      logger,
	}
	n.Server = server.New(server.Deps{
		HostKey: n.Key, Config: cfg, DB: n.DB, Audit: n.Audit, Registry: n.Registry, Vault: n.Vault,
		Policies: policies, Intents: n.Intents,
		Proofs: &identity.RequestVerifier{HostDID: n.Key.DID(), Replay: n.DB},
		Logger: logger, Version: opt.Version,
	})
	gov.OnAlert = func(a monitor.Alert) { n.Server.CountAnomaly(a.Kind) }
	return n, nil
}

// Close releases the engine, agent memory and the database.
func (n *Node) Close(ctx context.Context) {
	if n.Engine != nil {
		_ = n.Engine.Close(ctx)
	}
	if n.Memory != nil {
		_ = n.Memory.Close()
	}
	if n.DB != nil {
		_ = n.DB.Close()
	}
}

// AuditOrigin is the checkpoint origin of a host.
func AuditOrigin(hostDID string) string { return "airlock/" + hostDID }

// LoadOrCreateKey loads an Ed25519 key file, creating it (0600) if absent.
func LoadOrCreateKey(path string) (*identity.Key, error) {
	k, err := identity.LoadKeyFile(path)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if k, err = identity.GenerateKey(identity.KeyEd25519); err != nil {
		return nil, err
	}
	return k, identity.SaveKeyFile(path, k)
}
