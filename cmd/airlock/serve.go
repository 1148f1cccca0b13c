package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/budget"
	"github.com/airlock-dev/airlock/host/config"
	"github.com/airlock-dev/airlock/host/egress"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/intent"
	"github.com/airlock-dev/airlock/host/mail"
	"github.com/airlock-dev/airlock/host/registry"
	"github.com/airlock-dev/airlock/host/runtime"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/host/vault"
	"github.com/airlock-dev/airlock/server"
)

func serveCmd() *cobra.Command {
	var cfgPath, data, listen, pluginsDir string
	var dev bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Airlock host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.Default()
			if cfgPath != "" {
				var err error
				if cfg, err = config.Load(cfgPath); err != nil {
					return err
				}
			}
			if data != "" {
				cfg.Data = data
			}
			if listen != "" {
				cfg.Listen = listen
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			return serve(cmd.Context(), cfg, serveOptions{dev: dev, pluginsDir: pluginsDir, out: cmd.OutOrStdout(), logger: logger})
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "configuration file (airlock.yaml)")
	cmd.Flags().StringVar(&data, "data", "", "data directory (overrides the config)")
	cmd.Flags().StringVar(&listen, "listen", "", "listen address (overrides the config)")
	cmd.Flags().BoolVar(&dev, "dev", false, "development mode: create demo keys, grant and plugins")
	cmd.Flags().StringVar(&pluginsDir, "plugins", "build/plugins", "with --dev: directory of built plugins (NAME/module.wasm + NAME/manifest.json)")
	return cmd
}

type serveOptions struct {
	dev        bool
	pluginsDir string
	out        io.Writer
	logger     *slog.Logger
	ready      chan<- string // receives the listen address once serving (tests)
}

// host is the assembled host.
type host struct {
	cfg      *config.Config
	key      *identity.Key
	db       *store.DB
	log      *audit.Log
	engine   *runtime.Engine
	registry *registry.Registry
	vault    *vault.Vault
	server   *server.Server
}

func (h *host) close(ctx context.Context) {
	if h.engine != nil {
		_ = h.engine.Close(ctx)
	}
	if h.db != nil {
		_ = h.db.Close()
	}
}

// openHost assembles every part from cfg. The data dir is created 0700.
func openHost(ctx context.Context, cfg *config.Config, logger *slog.Logger) (_ *host, err error) {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, err
	}
	h := &host{cfg: cfg}
	defer func() {
		if err != nil {
			h.close(ctx)
		}
	}()
	if h.key, err = loadOrCreateKey(filepath.Join(cfg.Data, "host.key")); err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	if h.db, err = store.Open(ctx, filepath.Join(cfg.Data, "airlock.db")); err != nil {
		return nil, err
	}
	priv, ok := h.key.Ed25519()
	if !ok {
		return nil, errors.New("host key must be Ed25519 (checkpoints are Ed25519 signed notes)")
	}
	if h.log, err = audit.Open(ctx, h.db.SQL(), auditOrigin(h.key.DID()), priv); err != nil {
		return nil, err
	}
	if h.engine, err = runtime.New(ctx, runtime.Config{
		CacheDir:       filepath.Join(cfg.Data, "cache"),
		Logger:         logger,
		MaxMemoryPages: uint32(cfg.Limits.MemoryMB) * 16,
		MaxTimeout:     time.Duration(cfg.Limits.TimeoutMS) * time.Millisecond,
		MaxOutputBytes: cfg.Limits.OutputBytes,
	}); err != nil {
		return nil, err
	}
	if h.registry, err = registry.Open(ctx, h.db, h.engine, cfg.Limits.BundleBytes); err != nil {
		return nil, err
	}
	if h.vault, err = vault.OpenDataDir(ctx, h.db.SQL(), cfg.Data); err != nil {
		return nil, err
	}
	policy, err := egress.NewAddressPolicy(cfg.Egress.AllowPrivate)
	if err != nil {
		return nil, err
	}
	svc := &intent.Service{
		Grants:      &grant.Verifier{HostDID: h.key.DID(), Trust: cfg.OperatorTrusted},
		Registry:    h.registry,
		Engine:      h.engine,
		Audit:       h.log,
		Revocations: h.db,
		Egress:      egress.NewClient(egress.Config{Policy: policy, Logger: logger}),
		Vault:       h.vault,
		Calls:       &budget.Calls{},
		Usage:       h.db,
		DataDir:     cfg.Data,
		Mail:        mail.Config{Relay: cfg.Mail.Relay, From: cfg.Mail.From},
		Limits:      intent.Limits{MemoryMB: cfg.Limits.MemoryMB, TimeoutMS: cfg.Limits.TimeoutMS, OutputBytes: cfg.Limits.OutputBytes},
		Logger:      logger,
	}
	h.server = server.New(server.Deps{
		HostKey: h.key, Config: cfg, DB: h.db, Audit: h.log, Registry: h.registry, Vault: h.vault, Intents: svc,
		Proofs: &identity.RequestVerifier{HostDID: h.key.DID(), Replay: h.db},
		Logger: logger, Version: version,
	})
	return h, nil
}

func auditOrigin(hostDID string) string { return "airlock/" + hostDID }

func loadOrCreateKey(path string) (*identity.Key, error) {
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

func serve(ctx context.Context, cfg *config.Config, opt serveOptions) error {
	var d *devSetup
	if opt.dev {
		var err error
		if d, err = prepareDev(cfg); err != nil {
			return err
		}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	h, err := openHost(ctx, cfg, opt.logger)
	if err != nil {
		return err
	}
	defer h.close(context.Background())
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	if d != nil {
		if err := d.finish(ctx, h, addr, opt); err != nil {
			ln.Close()
			return err
		}
	}
	cpCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go h.log.Run(cpCtx, time.Duration(cfg.Limits.CheckpointSecs)*time.Second)
	opt.logger.Info("airlock serving", "addr", addr, "host", h.key.DID(), "data", cfg.Data)
	fmt.Fprintf(opt.out, "airlock %s listening on http://%s (host %s)\n", version, addr, h.key.DID())
	if opt.ready != nil {
		opt.ready <- addr
	}
	err = h.server.Serve(ctx, ln)
	// a final checkpoint so the latest decisions are covered
	if _, cerr := h.log.Checkpoint(context.Background()); cerr != nil {
		opt.logger.Error("final checkpoint failed", "err", cerr)
	}
	return err
}
