package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/host/vault"
	"github.com/airlock-dev/airlock/internal/hosttest"
)

// saveKey writes k to dir/name.key and returns the path.
func saveKey(t *testing.T, dir, name string, k *identity.Key) string {
	t.Helper()
	path := filepath.Join(dir, name+".key")
	if err := identity.SaveKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantNoValue fails t if any of outs carries value, raw or base64.
func wantNoValue(t *testing.T, value string, outs ...string) {
	t.Helper()
	for _, out := range outs {
		if strings.Contains(out, value) || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(value))) {
			t.Fatalf("the command printed the secret value: %q", strings.ReplaceAll(out, value, "<VALUE>"))
		}
	}
}

// TestSecretCommands drives `airlock secret set|ls|rm` against a real
// in-process host: values go in from a file, only names come out, and only
// the realm's operator may manage them.
func TestSecretCommands(t *testing.T) {
	h := hosttest.New(t)
	dir := t.TempDir()
	opKey := saveKey(t, dir, "operator", h.OperatorKey())
	agentKey := saveKey(t, dir, "agent", h.AgentKey())
	value := "cli_" + rand.Text()
	valueFile := filepath.Join(dir, "value.txt")
	if err := os.WriteFile(valueFile, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	remote := func(key string, args ...string) []string {
		return append(args, "--host", h.URL(), "--host-did", h.DID(), "--key", key)
	}
	ctx := context.Background()

	out := mustCLI(t, remote(opKey, "secret", "set", "API_TOKEN", "--value-file", valueFile)...)
	wantNoValue(t, value, out)
	if !strings.Contains(out, "API_TOKEN") {
		t.Fatalf("secret set printed %q", out)
	}
	sec, err := h.Vault().Get(ctx, hosttest.DefaultRealm, "API_TOKEN")
	if err != nil || string(sec.Expose()) != value {
		t.Fatalf("the vault holds another value (without the file's newline?): %v", err)
	}

	out = mustCLI(t, remote(opKey, "secret", "ls")...)
	wantNoValue(t, value, out)
	var list struct {
		Secrets []struct {
			Name string `json:"name"`
		} `json:"secrets"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Secrets) != 1 || list.Secrets[0].Name != "API_TOKEN" {
		t.Fatalf("secret ls printed %q (%v)", out, err)
	}

	refused := []struct {
		name string
		args []string
		why  string // in the error printed
	}{
		{"agent sets a secret", remote(agentKey, "secret", "set", "API_TOKEN", "--value-file", valueFile), "forbidden"},
		{"agent lists secrets", remote(agentKey, "secret", "ls"), "forbidden"},
		{"agent removes a secret", remote(agentKey, "secret", "rm", "API_TOKEN"), "forbidden"},
		{"operator sets a secret in a realm it does not operate", remote(opKey, "secret", "set", "--realm", "other", "API_TOKEN", "--value-file", valueFile), "forbidden"},
		{"secret name that is not a name", remote(opKey, "secret", "set", "api-token", "--value-file", valueFile), "bad_request"},
		{"secret value on the command line", remote(opKey, "secret", "set", "API_TOKEN", value), "accepts 1 arg"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(t, tt.args...)
			wantNoValue(t, value, out, errOut)
			if code == 0 || !strings.Contains(errOut, tt.why) {
				t.Fatalf("exit %d, stderr %q; want a refusal (%s)", code, errOut, tt.why)
			}
		})
	}
	if sec, err := h.Vault().Get(ctx, hosttest.DefaultRealm, "API_TOKEN"); err != nil || string(sec.Expose()) != value {
		t.Fatalf("a refused command changed the secret: %v", err)
	}

	out = mustCLI(t, remote(opKey, "secret", "rm", "API_TOKEN")...)
	wantNoValue(t, value, out)
	if ok, err := h.Vault().Present(ctx, hosttest.DefaultRealm, "API_TOKEN"); err != nil || ok {
		t.Fatalf("the secret is still there after rm (%v)", err)
	}
	if out := mustCLI(t, remote(opKey, "secret", "ls")...); strings.Contains(out, "API_TOKEN") {
		t.Fatalf("secret ls after rm printed %q", out)
	}
	if code, _, _ := cli(t, remote(opKey, "secret", "rm", "API_TOKEN")...); code == 0 {
		t.Fatal("rm of a secret that is not there succeeded")
	}
}

// TestVaultRotate: `airlock vault rotate` on a stopped host's data
// directory re-encrypts under a new master key and keeps every secret,
// readable by the vault reopened from the data directory and by the host
// started again.
func TestVaultRotate(t *testing.T) {
	h := hosttest.New(t)
	ctx := context.Background()
	secrets := map[[2]string]string{
		{hosttest.DefaultRealm, "API_TOKEN"}: "tok_" + rand.Text(),
		{hosttest.DefaultRealm, "DB_PASS"}:   "pw_" + rand.Text(),
		{"other", "API_TOKEN"}:               "other_" + rand.Text(),
	}
	for k, v := range secrets {
		if err := h.Vault().Put(ctx, k[0], k[1], []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	before, err := vault.LoadMasterKey(h.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	h.Close()

	code, out, errOut := cli(t, "vault", "rotate", "--data", h.DataDir())
	if code != 0 {
		t.Fatalf("vault rotate: exit %d: %s", code, errOut)
	}
	for _, v := range secrets {
		wantNoValue(t, v, out, errOut)
	}
	after, err := vault.LoadMasterKey(h.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	if after.ID() == before.ID() {
		t.Fatal("the master key did not change")
	}

	db, err := store.Open(ctx, filepath.Join(h.DataDir(), "airlock.db"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.OpenDataDir(ctx, db.SQLDB(), h.DataDir())
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	for k, want := range secrets {
		sec, err := v.Get(ctx, k[0], k[1])
		if err != nil || string(sec.Expose()) != want {
			t.Errorf("%s/%s after rotation: %v", k[0], k[1], err)
		}
	}
	db.Close()

	h.Restart(t)
	for k, want := range secrets {
		sec, err := h.Vault().Get(ctx, k[0], k[1])
		if err != nil || string(sec.Expose()) != want {
			t.Errorf("%s/%s after restart: %v", k[0], k[1], err)
		}
	}
}
