package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/host/config"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/internal/node"
)

// devSetup holds the demo identities of `airlock serve --dev`.
type devSetup struct {
	dir                        string
	operator, agent, publisher *identity.Key
}

// prepareDev creates (or reuses) the demo operator, agent and publisher
// keys under DATA/dev and trusts the operator and publisher in realm
// "default".
func prepareDev(cfg *config.Config) (*devSetup, error) {
	d := &devSetup{dir: filepath.Join(cfg.Data, "dev")}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, err
	}
	var err error
	for _, k := range []struct {
		name string
		dst  **identity.Key
	}{{"operator", &d.operator}, {"agent", &d.agent}, {"publisher", &d.publisher}} {
		if *k.dst, err = node.LoadOrCreateKey(filepath.Join(d.dir, k.name+".key")); err != nil {
			return nil, fmt.Errorf("dev %s key: %w", k.name, err)
		}
	}
	r := cfg.Realms["default"]
	r.Operators = appendMissing(r.Operators, d.operator.DID())
	r.Publishers = appendMissing(r.Publishers, d.publisher.DID())
	cfg.Realms["default"] = r
	return d, nil
}

func appendMissing(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

// finish installs the built example plugins, issues the demo grant and
// prints copy-paste commands.
func (d *devSetup) finish(ctx context.Context, h *node.Node, addr string, opt serveOptions) error {
	dirs, _ := filepath.Glob(filepath.Join(opt.pluginsDir, "*", "module.wasm"))
	sort.Strings(dirs)
	var tools []string
	for _, wasmPath := range dirs {
		dir := filepath.Dir(wasmPath)
		tmpl, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
		if err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		module, err := os.ReadFile(wasmPath)
		if err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		b, err := bundle.Build(tmpl, module, d.publisher)
		if err != nil {
			return fmt.Errorf("dev: bundle %s: %w", dir, err)
		}
		for _, t := range b.Manifest.Tools {
			tools = append(tools, b.Manifest.Name+"/"+t.Name)
		}
		if p, ok := h.Registry.Get("default", b.Manifest.Name); ok && p.Record.ModuleSHA256 == b.Manifest.ModuleSHA256 {
			continue
		}
		var buf bytes.Buffer
		if err := b.Write(&buf); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d.dir, b.FileName()), buf.Bytes(), 0o600); err != nil {
			return err
		}
		v, err := h.Registry.Verify(ctx, "default", buf.Bytes(), func(context.Context, string, string) (bool, error) { return true, nil })
		if err != nil {
			return fmt.Errorf("dev: install %s: %w", b.FileName(), err)
		}
		if _, err := h.Audit.Append(ctx, audit.Entry{Realm: "default", Actor: d.operator.DID(), Action: "install",
			Tool: v.Name(), Decision: "allow", Reason: "installed by serve --dev"}); err != nil {
			return err
		}
		if _, err := h.Registry.Commit(ctx, v, d.operator.DID(), time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(opt.out, "dev: installed %s (tools %v)\n", v.Name(), toolNames(b.Manifest))
	}
	if len(tools) == 0 {
		return fmt.Errorf("dev: no built plugins under %s (run `make plugins`)", opt.pluginsDir)
	}
	now := time.Now()
	tok, err := grant.Issue(d.operator, grant.Claims{
		Sub: d.agent.DID(), Aud: h.Key.DID(), Realm: "default", Exp: now.Add(24 * time.Hour).Unix(),
		Tools: []string{"echo/*", "web/*"},
		Caps:  grant.Caps{HTTP: &grant.HTTPCap{Hosts: []string{"example.org"}}},
	}, now)
	if err != nil {
		return err
	}
	grantPath := filepath.Join(d.dir, "grant.jws")
	if err := os.WriteFile(grantPath, []byte(tok+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(opt.out, `dev: operator  %s (%s)
dev: agent     %s (%s)
dev: publisher %s (%s)
dev: grant for the agent: %s
dev: try
  airlock invoke --host http://%s --key %s --grant %s echo/echo '{"message":"hello"}'
dev: or give an MCP client the same tools (an MCP server on stdio):
  airlock mcp --host http://%s --key %s --grant %s --tool echo/echo
`, d.operator.DID(), filepath.Join(d.dir, "operator.key"), d.agent.DID(), filepath.Join(d.dir, "agent.key"),
		d.publisher.DID(), filepath.Join(d.dir, "publisher.key"), grantPath,
		addr, filepath.Join(d.dir, "agent.key"), grantPath,
		addr, filepath.Join(d.dir, "agent.key"), grantPath)
	return nil
}

func toolNames(m *bundle.Manifest) []string {
	out := make([]string, len(m.Tools))
	for i, t := range m.Tools {
		out[i] = m.Name + "/" + t.Name
	}
	return out
}
