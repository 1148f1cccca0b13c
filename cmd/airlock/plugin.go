package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/runtime"
	"github.com/airlock-dev/airlock/sdk/client"
)

func pluginCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "plugin", Short: "Build, pack, sign, verify, inspect and install plugin bundles"}
	cmd.AddCommand(pluginBuildCmd(), pluginPackCmd(), pluginSignCmd(), pluginVerifyCmd(), pluginInspectCmd(),
		pluginInstallCmd(), pluginListCmd(), pluginRemoveCmd())
	return cmd
}

func pluginBuildCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "build DIR",
		Short: "Compile a standard-Go plugin to Wasm (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if out == "" {
				out = filepath.Join(dir, "module.wasm")
			}
			abs, err := filepath.Abs(out)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
				return err
			}
			gb := exec.CommandContext(cmd.Context(), "go", "build", "-trimpath", "-buildmode=c-shared", "-o", abs, ".")
			gb.Dir = dir
			gb.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			gb.Stdout, gb.Stderr = cmd.ErrOrStderr(), cmd.ErrOrStderr()
			if err := gb.Run(); err != nil {
				return fmt.Errorf("plugin build: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), abs)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "output .wasm (default DIR/module.wasm)")
	return cmd
}

func writeBundle(cmd *cobra.Command, b *bundle.Bundle, out string) error {
	if out == "" {
		out = b.FileName()
	}
	var buf bytes.Buffer
	if err := b.Write(&buf); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), out)
	return nil
}

func pluginPackCmd() *cobra.Command {
	var manifest, module, keyPath, out string
	cmd := &cobra.Command{
		Use:   "pack --manifest manifest.json --module module.wasm --key PUBLISHER.key [--out FILE]",
		Short: "Pack a module and its manifest into a bundle signed by the publisher",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tmpl, err := os.ReadFile(manifest)
			if err != nil {
				return err
			}
			mod, err := os.ReadFile(module)
			if err != nil {
				return err
			}
			key, err := identity.LoadKeyFile(keyPath)
			if err != nil {
				return err
			}
			b, err := bundle.Build(tmpl, mod, key)
			if err != nil {
				return err
			}
			return writeBundle(cmd, b, out)
		},
	}
	cmd.Flags().StringVar(&manifest, "manifest", "manifest.json", "manifest template")
	cmd.Flags().StringVar(&module, "module", "module.wasm", "compiled module")
	cmd.Flags().StringVar(&keyPath, "key", "", "publisher key file")
	cmd.Flags().StringVar(&out, "out", "", "bundle file (default NAME-VERSION.airlock)")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

func readBundle(path string) (*bundle.Bundle, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return bundle.Read(bytes.NewReader(raw), int64(len(raw)))
}

func pluginSignCmd() *cobra.Command {
	var keyPath, out string
	cmd := &cobra.Command{
		Use:   "sign BUNDLE --key PUBLISHER.key [--out FILE]",
		Short: "Re-sign a bundle as the given publisher (sets manifest.publisher)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := readBundle(args[0])
			if err != nil {
				return err
			}
			key, err := identity.LoadKeyFile(keyPath)
			if err != nil {
				return err
			}
			nb, err := bundle.Build(b.ManifestJSON, b.Module, key)
			if err != nil {
				return err
			}
			if out == "" {
				out = args[0]
			}
			return writeBundle(cmd, nb, out)
		},
	}
	cmd.Flags().StringVar(&keyPath, "key", "", "publisher key file")
	cmd.Flags().StringVar(&out, "out", "", "output (default: overwrite BUNDLE)")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

func pluginVerifyCmd() *cobra.Command {
	var publishers []string
	cmd := &cobra.Command{
		Use:   "verify BUNDLE [--publisher DID ...]",
		Short: "Check a bundle's hash, signature, trusted publisher and import policy offline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := readBundle(args[0])
			if err != nil {
				return err
			}
			trusted := func(did string) bool {
				if len(publishers) == 0 {
					return true
				}
				for _, p := range publishers {
					if p == did {
						return true
					}
				}
				return false
			}
			if err := b.Verify(trusted); err != nil {
				return err
			}
			if err := checkModule(cmd.Context(), b); err != nil {
				return err
			}
			who := "any publisher (no --publisher given)"
			if len(publishers) > 0 {
				who = "a trusted publisher"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %s %s signed by %s, %s\n", b.Manifest.Name, b.Manifest.Version, b.Manifest.Publisher, who)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&publishers, "publisher", nil, "trusted publisher DID (repeatable)")
	return cmd
}

// checkModule runs the install-time import and export checks.
func checkModule(ctx context.Context, b *bundle.Bundle) error {
	eng, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		return err
	}
	defer eng.Close(ctx)
	info, err := eng.Inspect(ctx, b.Module)
	if err != nil {
		return fmt.Errorf("%w: module: %v", bundle.ErrMalformed, err)
	}
	imports := make([]bundle.Import, len(info.Imports))
	for i, im := range info.Imports {
		imports[i] = bundle.Import{Module: im.Module, Name: im.Name}
	}
	if err := bundle.CheckImports(b.Manifest, imports); err != nil {
		return err
	}
	if err := bundle.CheckExports(b.Manifest, info.Exports); err != nil {
		return err
	}
	_, err = bundle.Compile(b.ManifestJSON, b.Manifest)
	return err
}

func pluginInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect BUNDLE",
		Short: "Print a bundle's manifest, signer and module imports (nothing is trusted)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := readBundle(args[0])
			if err != nil {
				return err
			}
			hdr, _, err := identity.ParseUnverified(b.Signature)
			if err != nil {
				return err
			}
			eng, err := runtime.New(cmd.Context(), runtime.Config{})
			if err != nil {
				return err
			}
			defer eng.Close(cmd.Context())
			info, err := eng.Inspect(cmd.Context(), b.Module)
			if err != nil {
				return err
			}
			out := map[string]any{
				"manifest":         json.RawMessage(b.ManifestJSON),
				"signature_header": hdr,
				"imports":          info.Imports,
				"exports":          info.Exports,
				"module_bytes":     len(b.Module),
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
}

// remoteFlags are the flags of commands that talk to a host.
type remoteFlags struct {
	host, key, hostDID, realm string
}

func (r *remoteFlags) add(cmd *cobra.Command, withRealm bool) {
	cmd.Flags().StringVar(&r.host, "host", "http://127.0.0.1:8080", "host URL")
	cmd.Flags().StringVar(&r.key, "key", "", "your key file")
	cmd.Flags().StringVar(&r.hostDID, "host-did", "", "pin the host DID (default: trust /v1/host on first use)")
	if withRealm {
		cmd.Flags().StringVar(&r.realm, "realm", "default", "realm")
	}
	_ = cmd.MarkFlagRequired("key")
}

func (r *remoteFlags) client() (*client.Client, error) {
	key, err := identity.LoadKeyFile(r.key)
	if err != nil {
		return nil, err
	}
	return client.New(r.host, key, client.Options{HostDID: r.hostDID})
}

func printJSON(cmd *cobra.Command, body []byte) {
	var v any
	if json.Unmarshal(body, &v) == nil {
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintln(cmd.OutOrStdout(), string(b))
		return
	}
	fmt.Fprintln(cmd.OutOrStdout(), string(body))
}

func pluginInstallCmd() *cobra.Command {
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   "install --host URL --key OPERATOR.key [--realm R] BUNDLE",
		Short: "Install a signed bundle on a host",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			c, err := rf.client()
			if err != nil {
				return err
			}
			resp, err := c.Install(cmd.Context(), rf.realm, raw)
			if resp != nil {
				printJSON(cmd, resp.Body)
			}
			return err
		},
	}
	rf.add(cmd, true)
	return cmd
}

func pluginListCmd() *cobra.Command {
	return realmGetCmd("list --host URL --key OPERATOR.key [--realm R]", "List the bundles installed in a realm",
		func(realm string) string { return "/v1/plugins?realm=" + url.QueryEscape(realm) })
}

// realmGetCmd is a command that GETs a realm's resource as an operator and
// prints the (verified) answer.
func realmGetCmd(use, short string, path func(realm string) string) *cobra.Command {
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := rf.client()
			if err != nil {
				return err
			}
			resp, err := c.DoJSON(cmd.Context(), http.MethodGet, path(rf.realm), nil, nil)
			if resp != nil {
				printJSON(cmd, resp.Body)
			}
			return err
		},
	}
	rf.add(cmd, true)
	return cmd
}

func pluginRemoveCmd() *cobra.Command {
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   "remove --host URL --key OPERATOR.key [--realm R] NAME",
		Short: "Remove an installed bundle",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rf.client()
			if err != nil {
				return err
			}
			_, err = c.DoJSON(cmd.Context(), http.MethodDelete, "/v1/plugins/"+url.PathEscape(args[0])+"?realm="+url.QueryEscape(rf.realm), nil, nil)
			return err
		},
	}
	rf.add(cmd, true)
	return cmd
}
