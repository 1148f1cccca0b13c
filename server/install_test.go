package server_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/sdk/client"
)

// pluginList is GET /v1/plugins.
type pluginList struct {
	Plugins []struct {
		Realm, Name, Version, Publisher string
		ManifestSHA256                  string `json:"manifest_sha256"`
		ModuleSHA256                    string `json:"module_sha256"`
		Tools                           []string
	} `json:"plugins"`
}

func listPlugins(t *testing.T, c *client.Client, realm string) pluginList {
	t.Helper()
	var l pluginList
	if _, err := c.DoJSON(context.Background(), http.MethodGet, "/v1/plugins?realm="+realm, nil, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l pluginList) has(name string) bool {
	for _, p := range l.Plugins {
		if p.Name == name {
			return true
		}
	}
	return false
}

// renamed returns a manifest override that names the bundle name.
func renamed(name string) func(*bundle.Manifest) {
	return func(m *bundle.Manifest) { m.Name = name }
}

// testInstallAttacks uploads bundles that must be refused; nothing of a
// refused bundle may be listed or callable afterwards.
func testInstallAttacks(t *testing.T, h *apiHost) {
	otherOperator, otherPublisher := h.otherOperator, h.otherPublisher
	ctx := context.Background()
	grant := h.Grant(t, nil)
	spinModule := hosttest.BuildBundle(t, spinPlugin, h.PublisherKey(), nil).Module

	tests := []struct {
		name   string
		bundle func(t *testing.T) (name string, raw []byte)
		as     func() *client.Client // default: the operator
		realm  string                // default: "default"
		code   abi.Code
	}{
		{"module swapped after signing (hash mismatch)", func(t *testing.T) (string, []byte) {
			b := h.Bundle(t, echoPlugin, renamed("evil-hash"))
			b.Module = spinModule
			return "evil-hash", hosttest.BundleBytes(t, b)
		}, nil, "", abi.CodeForbidden},
		{"unsigned bundle", func(t *testing.T) (string, []byte) {
			b := h.Bundle(t, echoPlugin, renamed("evil-unsigned"))
			b.Signature = ""
			return "evil-unsigned", hosttest.BundleBytes(t, b)
		}, nil, "", abi.CodeForbidden},
		{"manifest changed after signing", func(t *testing.T) (string, []byte) {
			b := h.Bundle(t, echoPlugin, renamed("evil-rewrite"))
			b.ManifestJSON = bytes.Replace(b.ManifestJSON, []byte("unchanged"), []byte("UNCHANGED"), 1)
			return "evil-rewrite", hosttest.BundleBytes(t, b)
		}, nil, "", abi.CodeForbidden},
		{"publisher signature by another key", func(t *testing.T) (string, []byte) {
			b := h.Bundle(t, echoPlugin, renamed("evil-resign"))
			sig, err := otherPublisher.Sign(identity.TypManifest, b.ManifestJSON)
			if err != nil {
				t.Fatal(err)
			}
			b.Signature = sig
			return "evil-resign", hosttest.BundleBytes(t, b)
		}, nil, "", abi.CodeForbidden},
		{"untrusted publisher", func(t *testing.T) (string, []byte) {
			return "evil-untrusted", hosttest.BundleBytes(t, hosttest.BuildBundle(t, echoPlugin, hosttest.NewKey(t), renamed("evil-untrusted")))
		}, nil, "", abi.CodeForbidden},
		{"publisher trusted only in another realm", func(t *testing.T) (string, []byte) {
			return "evil-elsewhere", hosttest.BundleBytes(t, hosttest.BuildBundle(t, echoPlugin, otherPublisher, renamed("evil-elsewhere")))
		}, nil, "", abi.CodeForbidden},
		{"undeclared import (web without the http capability)", func(t *testing.T) (string, []byte) {
			return "evil-import", hosttest.BundleBytes(t, h.Bundle(t, webPlugin, func(m *bundle.Manifest) {
				m.Name = "evil-import"
				for i := range m.Tools {
					m.Tools[i].Capabilities = []abi.Capability{}
				}
			}))
		}, nil, "", abi.CodeForbidden},
		{"manifest names a tool the module does not export", func(t *testing.T) (string, []byte) {
			return "evil-export", hosttest.BundleBytes(t, h.Bundle(t, echoPlugin, func(m *bundle.Manifest) {
				m.Name = "evil-export"
				m.Tools[0].Name = "shell"
			}))
		}, nil, "", abi.CodeBadRequest},
		{"not a tar", func(t *testing.T) (string, []byte) {
			return "evil-garbage", []byte("#!/bin/sh\nrm -rf /\n")
		}, nil, "", abi.CodeBadRequest},
		{"agent (not an operator) installing", func(t *testing.T) (string, []byte) {
			return "evil-agent", hosttest.BundleBytes(t, h.Bundle(t, echoPlugin, renamed("evil-agent")))
		}, func() *client.Client { return h.Agent() }, "", abi.CodeForbidden},
		{"publisher (not an operator) installing", func(t *testing.T) (string, []byte) {
			return "evil-publisher", hosttest.BundleBytes(t, h.Bundle(t, echoPlugin, renamed("evil-publisher")))
		}, func() *client.Client { return h.Client(h.PublisherKey()) }, "", abi.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, raw := tt.bundle(t)
			c := h.Operator()
			if tt.as != nil {
				c = tt.as()
			}
			realm := tt.realm
			if realm == "" {
				realm = hosttest.DefaultRealm
			}
			resp, err := c.Install(ctx, realm, raw)
			if resp == nil {
				t.Fatal(err)
			}
			wantResponseProblem(t, resp, tt.code, "")
			if listPlugins(t, h.Operator(), hosttest.DefaultRealm).has(name) {
				t.Fatalf("refused bundle %s is listed", name)
			}
			wantResponseProblem(t, invoke(t, h.Agent(), name+"/echo", `{"message":"hi"}`, grant), abi.CodeNotFound, "")
		})
	}

	// An operator of realm "default" installing into realm "other" gets
	// exactly the answer a realm that does not exist gets.
	t.Run("operator of realm A installing into realm B", func(t *testing.T) {
		raw := hosttest.BundleBytes(t, h.Bundle(t, echoPlugin, nil))
		foreign, err := h.Operator().Install(ctx, "other", raw)
		if foreign == nil {
			t.Fatal(err)
		}
		missing, err := h.Operator().Install(ctx, "nowhere", raw)
		if missing == nil {
			t.Fatal(err)
		}
		wantResponseProblem(t, foreign, abi.CodeForbidden, "")
		if foreign.Status != missing.Status || !bytes.Equal(foreign.Body, missing.Body) {
			t.Fatalf("realm B answered %d %s, a missing realm %d %s", foreign.Status, foreign.Body, missing.Status, missing.Body)
		}
		if l := listPlugins(t, h.Client(otherOperator), "other"); len(l.Plugins) != 0 {
			t.Fatalf("realm B lists %+v", l.Plugins)
		}
	})
}

// testInstallListDelete installs a bundle, lists it and removes it.
func testInstallListDelete(t *testing.T, h *apiHost) {
	ctx := context.Background()
	grant := h.Grant(t, nil)
	h.Install(t, hosttest.DefaultRealm, echoPlugin, renamed("echo-tmp"))

	l := listPlugins(t, h.Operator(), hosttest.DefaultRealm)
	var listed bool
	for _, p := range l.Plugins {
		if p.Name == "echo-tmp" {
			listed = p.Realm == hosttest.DefaultRealm && p.Publisher == h.PublisherKey().DID() &&
				len(p.Tools) == 1 && p.Tools[0] == "echo-tmp/echo" && len(p.ModuleSHA256) == 64
		}
	}
	if !listed {
		t.Fatalf("GET /v1/plugins does not list echo-tmp as installed: %+v", l.Plugins)
	}
	wantOutput(t, invoke(t, h.Agent(), "echo-tmp/echo", `{"message":"hi"}`, grant))

	t.Run("agent cannot list", func(t *testing.T) {
		resp, _ := h.Agent().DoJSON(ctx, http.MethodGet, "/v1/plugins?realm=default", nil, nil)
		wantResponseProblem(t, resp, abi.CodeForbidden, "")
	})
	t.Run("agent cannot delete", func(t *testing.T) {
		resp, _ := h.Agent().DoJSON(ctx, http.MethodDelete, "/v1/plugins/echo-tmp?realm=default", nil, nil)
		wantResponseProblem(t, resp, abi.CodeForbidden, "")
	})
	t.Run("delete removes it", func(t *testing.T) {
		resp, err := h.Operator().DoJSON(ctx, http.MethodDelete, "/v1/plugins/echo-tmp?realm=default", nil, nil)
		if err != nil || resp.Status != http.StatusNoContent {
			t.Fatalf("delete: %v", err)
		}
		if listPlugins(t, h.Operator(), hosttest.DefaultRealm).has("echo-tmp") {
			t.Fatal("deleted plugin still listed")
		}
		wantResponseProblem(t, invoke(t, h.Agent(), "echo-tmp/echo", `{"message":"hi"}`, grant), abi.CodeNotFound, "")
		again, _ := h.Operator().DoJSON(ctx, http.MethodDelete, "/v1/plugins/echo-tmp?realm=default", nil, nil)
		wantResponseProblem(t, again, abi.CodeNotFound, "")
	})
	t.Run("deletion survives a restart", func(t *testing.T) {
		h.Restart(t)
		if listPlugins(t, h.Operator(), hosttest.DefaultRealm).has("echo-tmp") {
			t.Fatal("deleted plugin back after restart")
		}
	})
}
