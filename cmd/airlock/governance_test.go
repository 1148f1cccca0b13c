package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/internal/hosttest"
)

// keyFile writes k to dir/name.key for the command line.
func keyFile(t *testing.T, dir, name string, k *identity.Key) string {
	t.Helper()
	path := filepath.Join(dir, name+".key")
	if err := identity.SaveKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeText writes s to dir/name and returns the path.
func writeText(t *testing.T, dir, name, s string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGovernanceCommands drives `airlock policy sign|apply|show`,
// `airlock approve list|allow|deny`, `airlock grant delegate` with
// `airlock invoke --chain`, and `airlock agent release` against a real
// in-process host.
func TestGovernanceCommands(t *testing.T) {
	h := hosttest.New(t)
	h.Install(t, hosttest.DefaultRealm, "plugins/echo", nil)
	dir := t.TempDir()
	opKey := keyFile(t, dir, "operator", h.OperatorKey())
	agentKey := keyFile(t, dir, "agent", h.AgentKey())
	remote := func(key string, args ...string) []string {
		return append(args, "--host", h.URL(), "--host-did", h.DID(), "--key", key)
	}
	signPolicy := func(t *testing.T, key, name, doc string) string {
		t.Helper()
		out := filepath.Join(dir, name+".jws")
		mustCLI(t, "policy", "sign", "--key", key, "--out", out, writeText(t, dir, name+".json", doc))
		return out
	}
	agentGrant := filepath.Join(dir, "agent.grant")
	mustCLI(t, "grant", "issue", "--key", opKey, "--agent", h.AgentKey().DID(), "--host-did", h.DID(),
		"--tool", "echo/*", "--out", agentGrant)
	invokeAs := func(key, grantPath string, extra ...string) (int, string, string) {
		args := remote(key, "invoke", "--grant", grantPath)
		args = append(args, extra...)
		return cli(t, append(args, "echo/echo", `{"message":"from the cli"}`)...)
	}

	t.Run("policy sign, apply, show", func(t *testing.T) {
		signed := signPolicy(t, opKey, "v1", `{"realm":"default","version":1,"approval":["echo/echo"]}`)
		out := mustCLI(t, remote(opKey, "policy", "apply", signed)...)
		var ack struct {
			Realm   string `json:"realm"`
			Version int64  `json:"version"`
		}
		if err := json.Unmarshal([]byte(out), &ack); err != nil || ack.Realm != "default" || ack.Version != 1 {
			t.Fatalf("policy apply printed %q", out)
		}
		var shown struct {
			Policy struct {
				Version  int64    `json:"version"`
				Approval []string `json:"approval"`
			} `json:"policy"`
			Signer string `json:"signer"`
		}
		out = mustCLI(t, remote(opKey, "policy", "show")...)
		if err := json.Unmarshal([]byte(out), &shown); err != nil || shown.Policy.Version != 1 ||
			len(shown.Policy.Approval) != 1 || shown.Signer != h.OperatorKey().DID() {
			t.Fatalf("policy show printed %q", out)
		}

		refused := []struct {
			name, key, signed, want string
		}{
			{"replayed policy", opKey, signed, "replay"},
			{"policy signed by an agent", opKey, signPolicy(t, agentKey, "agent", `{"realm":"default","version":9}`), "forbidden"},
			{"applied by an agent", agentKey, signPolicy(t, opKey, "v9", `{"realm":"default","version":9}`), "forbidden"},
		}
		for _, tt := range refused {
			t.Run(tt.name, func(t *testing.T) {
				code, out, errOut := cli(t, remote(tt.key, "policy", "apply", tt.signed)...)
				if code == 0 || !strings.Contains(out+errOut, tt.want) {
					t.Fatalf("exit %d, output %q %q, want a refusal naming %s", code, out, errOut, tt.want)
				}
			})
		}
		if out := mustCLI(t, remote(opKey, "policy", "show")...); !strings.Contains(out, `"version": 1`) {
			t.Fatalf("a refused policy changed the realm's: %s", out)
		}
		t.Run("invalid document is never signed", func(t *testing.T) {
			path := filepath.Join(dir, "bad.jws")
			code, out, _ := cli(t, "policy", "sign", "--key", opKey, "--out", path,
				writeText(t, dir, "bad.json", `{"realm":"default","version":2,"allow_everything":true}`))
			if code == 0 || out != "" {
				t.Fatalf("policy sign accepted an unknown member: exit %d %q", code, out)
			}
			if _, err := os.Stat(path); err == nil {
				t.Fatal("a signed file was written")
			}
		})
	})

	t.Run("approve list, allow, deny", func(t *testing.T) {
		// policy v1 holds echo/echo for a human
		for range 2 {
			if code, out, errOut := invokeAs(agentKey, agentGrant); code != 0 {
				t.Fatalf("held intent: exit %d %q %q", code, out, errOut)
			}
		}
		var list struct {
			Approvals []struct {
				ID    string `json:"id"`
				Tool  string `json:"tool"`
				Agent string `json:"agent"`
			} `json:"approvals"`
		}
		out := mustCLI(t, remote(opKey, "approve", "list")...)
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Approvals) != 2 {
			t.Fatalf("approve list printed %q", out)
		}
		allowID, denyID := list.Approvals[0].ID, list.Approvals[1].ID
		if a := list.Approvals[0]; a.Tool != "echo/echo" || a.Agent != h.AgentKey().DID() {
			t.Fatalf("pending intent %+v", a)
		}

		if code, out, _ := cli(t, remote(agentKey, "approve", "allow", allowID)...); code == 0 {
			t.Fatalf("an agent approved its own intent: %s", out)
		}
		if code, _, _ := cli(t, remote(opKey, "approve", "allow", "guessed-id")...); code == 0 {
			t.Fatal("approve allow accepted an unknown id")
		}
		// An id may begin with '-': it is still an id, wherever it stands.
		for _, args := range [][]string{
			remote(opKey, "approve", "deny", "-XK9EN7AqIdfLE_b5MOK7w"),
			append([]string{"approve", "deny", "--host=" + h.URL(), "--host-did", h.DID(), "--key", opKey}, "-XK9EN7AqIdfLE_b5MOK7w"),
			append(remote(opKey, "approve", "deny"), "--", "-XK9EN7AqIdfLE_b5MOK7w"),
		} {
			code, _, errOut := cli(t, args...)
			if code == 0 || !strings.Contains(errOut, "404") {
				t.Fatalf("airlock %s: exit %d, stderr %q; want the host's 404 for an unknown id", strings.Join(args, " "), code, errOut)
			}
		}

		var view struct {
			Status string `json:"status"`
			Output *struct {
				Message string `json:"message"`
			} `json:"output"`
		}
		out = mustCLI(t, remote(opKey, "approve", "allow", allowID)...)
		if err := json.Unmarshal([]byte(out), &view); err != nil || view.Status != "done" || view.Output == nil || view.Output.Message != "from the cli" {
			t.Fatalf("approve allow printed %q", out)
		}
		out = mustCLI(t, remote(opKey, "approve", "deny", denyID)...)
		view.Output = nil
		if err := json.Unmarshal([]byte(out), &view); err != nil || view.Status != "denied" || view.Output != nil {
			t.Fatalf("approve deny printed %q", out)
		}
		if code, _, _ := cli(t, remote(opKey, "approve", "allow", allowID)...); code == 0 {
			t.Fatal("an approval was replayed")
		}
		out = mustCLI(t, remote(opKey, "approve", "list")...)
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Approvals) != 0 {
			t.Fatalf("decided intents still listed: %q", out)
		}
	})

	t.Run("grant delegate and invoke --chain", func(t *testing.T) {
		mustCLI(t, remote(opKey, "policy", "apply", signPolicy(t, opKey, "v2", `{"realm":"default","version":2}`))...)
		delegateKey, delegateDID := newKeyFile(t, dir, "delegate")
		child := filepath.Join(dir, "child.grant")
		mustCLI(t, "grant", "delegate", "--key", agentKey, "--parent", agentGrant, "--agent", delegateDID,
			"--tool", "echo/echo", "--ttl", "10m", "--out", child)

		code, out, errOut := invokeAs(delegateKey, child, "--chain", agentGrant)
		if code != 0 || strings.TrimSpace(out) == "" || !json.Valid([]byte(out)) || !strings.Contains(out, "from the cli") {
			t.Fatalf("invoke --chain: exit %d %q %q", code, out, errOut)
		}
		if code, out, errOut := invokeAs(delegateKey, child); code == 0 || !strings.Contains(out+errOut, "grant_invalid") {
			t.Fatalf("delegated grant without its chain: exit %d %q %q", code, out, errOut)
		}

		refused := []struct {
			name string
			args []string
		}{
			{"widening to every tool", []string{"--key", agentKey, "--tool", "*"}},
			{"widening to an http capability", []string{"--key", agentKey, "--tool", "echo/echo", "--http-host", "evil.example"}},
			{"delegated by someone who does not hold the parent", []string{"--key", delegateKey, "--tool", "echo/echo"}},
		}
		for _, tt := range refused {
			t.Run(tt.name, func(t *testing.T) {
				path := filepath.Join(dir, "refused.grant")
				args := append([]string{"grant", "delegate", "--parent", agentGrant, "--agent", delegateDID, "--out", path}, tt.args...)
				if code, out, _ := cli(t, args...); code == 0 {
					t.Fatalf("grant delegate signed it: %q", out)
				}
				if _, err := os.Stat(path); err == nil {
					t.Fatal("a refused delegation was written")
				}
			})
		}
	})

	t.Run("agent release", func(t *testing.T) {
		mustCLI(t, remote(opKey, "policy", "apply", signPolicy(t, opKey, "v3",
			`{"realm":"default","version":3,"anomaly":{"window_s":60,"burst_factor":1,"min_calls":3,"quarantine":true}}`))...)
		burster := hosttest.NewKey(t)
		bursterKey := keyFile(t, dir, "burster", burster)
		g := h.Grant(t, func(c *grant.Claims) { c.Sub = burster.DID(); c.Tools = []string{"echo/*"} })
		bursterGrant := writeText(t, dir, "burster.grant", g)
		quarantined := false
		for range 10 {
			code, out, errOut := invokeAs(bursterKey, bursterGrant)
			if code != 0 {
				if !strings.Contains(out+errOut, "quarantined") {
					t.Fatalf("refused for another reason: %q %q", out, errOut)
				}
				quarantined = true
				break
			}
		}
		if !quarantined {
			t.Fatal("a burst of calls was not quarantined")
		}

		if code, _, _ := cli(t, remote(bursterKey, "agent", "release", burster.DID())...); code == 0 {
			t.Fatal("an agent released itself")
		}
		out := mustCLI(t, remote(opKey, "agent", "release", burster.DID())...)
		var ack struct {
			Released bool `json:"released"`
		}
		if err := json.Unmarshal([]byte(out), &ack); err != nil || !ack.Released {
			t.Fatalf("agent release printed %q", out)
		}
		if code, out, errOut := invokeAs(bursterKey, bursterGrant); code != 0 {
			t.Fatalf("released agent refused: %q %q", out, errOut)
		}
		resp, err := h.Operator().DoJSON(context.Background(), http.MethodGet, "/v1/audit?realm=default&limit=1000", nil, nil)
		if err != nil || !strings.Contains(string(resp.Body), `"action":"release"`) {
			t.Fatalf("release not audited: %v", err)
		}
	})
}
