package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/host/config"
	"github.com/airlock-dev/airlock/internal/node"
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
	h, err := node.Open(ctx, cfg, node.Options{Logger: opt.logger, Version: version})
	if err != nil {
		return err
	}
	defer h.Close(context.Background())
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
	go h.Audit.Run(cpCtx, time.Duration(cfg.Limits.CheckpointSecs)*time.Second)
	opt.logger.Info("airlock serving", "addr", addr, "host", h.Key.DID(), "data", cfg.Data)
	fmt.Fprintf(opt.out, "airlock %s listening on http://%s (host %s)\n", version, addr, h.Key.DID())
	if opt.ready != nil {
		opt.ready <- addr
	}
	err = h.Server.Serve(ctx, ln)
	// a final checkpoint so the latest decisions are covered
	if _, cerr := h.Audit.Checkpoint(context.Background()); cerr != nil {
		opt.logger.Error("final checkpoint failed", "err", cerr)
	}
	return err
}
