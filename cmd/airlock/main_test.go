package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/internal/node"
	"github.com/airlock-dev/airlock/internal/wasmbuild"
)

// cli runs the command line in-process, exactly as main does.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// mustCLI runs the command line and fails the test unless it succeeds.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := cli(t, args...)
	if code != 0 {
		t.Fatalf("airlock %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// newKeyFile creates a key with `airlock key new` and returns its path and DID.
func newKeyFile(t *testing.T, dir, name string) (path, did string) {
	t.Helper()
	path = filepath.Join(dir, name+".key")
	did = strings.TrimSpace(mustCLI(t, "key", "new", "--out", path))
	return path, did
}

func TestKeyNew(t *testing.T) {
	dir := t.TempDir()
	for _, kind := range []string{"ed25519", "p256"} {
		t.Run(kind, func(t *testing.T) {
			path := filepath.Join(dir, kind+".key")
			code, out, errOut := cli(t, "key", "new", "--type", kind, "--out", path)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			did := strings.TrimSpace(out)
			if _, err := identity.DecodeDID(did); err != nil {
				t.Fatalf("stdout %q is not a did:key: %v", out, err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
			}
			k, err := identity.LoadKeyFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if k.DID() != did {
				t.Errorf("printed DID %s, file holds %s", did, k.DID())
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var jwk struct{ D string }
			if err := json.Unmarshal(raw, &jwk); err != nil || jwk.D == "" {
				t.Fatalf("key file is not a private JWK")
			}
			if strings.Contains(out+errOut, jwk.D) {
				t.Errorf("key new printed the private key")
			}
			if got := strings.TrimSpace(mustCLI(t, "key", "did", path)); got != did {
				t.Errorf("key did = %s, want %s", got, did)
			}
		})
	}

	t.Run("refuses to overwrite an existing key", func(t *testing.T) {
		path, did := newKeyFile(t, dir, "precious")
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		code, out, errOut := cli(t, "key", "new", "--out", path)
		if code == 0 {
			t.Fatalf("key new overwrote %s (stdout %q)", path, out)
		}
		if !strings.Contains(errOut, "refusing to overwrite") {
			t.Errorf("stderr %q does not say why", errOut)
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("the existing key file changed")
		}
		if k, err := identity.LoadKeyFile(path); err != nil || k.DID() != did {
			t.Errorf("the existing key no longer loads as %s: %v", did, err)
		}
	})

	t.Run("unknown key type", func(t *testing.T) {
		if code, _, _ := cli(t, "key", "new", "--type", "rsa", "--out", filepath.Join(dir, "rsa.key")); code == 0 {
			t.Fatal("key new accepted --type rsa")
		}
		if _, err := os.Stat(filepath.Join(dir, "rsa.key")); err == nil {
			t.Error("a key file was written for a refused type")
		}
	})
}

func TestGrantIssue(t *testing.T) {
	dir := t.TempDir()
	opPath, opDID := newKeyFile(t, dir, "operator")
	_, agentDID := newKeyFile(t, dir, "agent")
	_, hostDID := newKeyFile(t, dir, "host")
	verifier := &grant.Verifier{HostDID: hostDID, Trust: func(realm, did string) bool {
		return realm == "default" && did == opDID
	}}

	out := mustCLI(t, "grant", "issue", "--key", opPath, "--agent", agentDID, "--host-did", hostDID,
		"--tool", "echo/echo", "--tool", "notes/*", "--http-host", "api.github.com", "--approval", "notes/delete",
		"--calls-per-minute", "30", "--ttl", "10m")
	g, err := verifier.Verify(strings.TrimSpace(out), agentDID)
	if err != nil {
		t.Fatalf("grant.Verify refused the issued grant: %v", err)
	}
	c := g.Claims
	switch {
	case c.Iss != opDID, c.Sub != agentDID, c.Aud != hostDID, c.Realm != "default":
		t.Errorf("claims bound wrongly: %+v", c)
	case !g.AllowTool("echo/echo") || !g.AllowTool("notes/read") || g.AllowTool("mail/send"):
		t.Errorf("tools = %v", c.Tools)
	case !g.NeedsApproval("notes/delete"), c.Budget.CallsPerMinute != 30:
		t.Errorf("approval/budget = %v %+v", c.Approval, c.Budget)
	case c.Exp-c.Iat != int64((10 * time.Minute).Seconds()):
		t.Errorf("exp-iat = %d, want 600", c.Exp-c.Iat)
	}

	t.Run("written to a 0600 file with --out", func(t *testing.T) {
		path := filepath.Join(dir, "grant.jws")
		mustCLI(t, "grant", "issue", "--key", opPath, "--agent", agentDID, "--host-did", hostDID, "--tool", "echo/*", "--out", path)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("grant file mode %v, want 0600", fi.Mode().Perm())
		}
		tok, err := readGrant(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verifier.Verify(tok, agentDID); err != nil {
			t.Errorf("grant file does not verify: %v", err)
		}
		jti, err := grantJTIFromFile(path)
		if err != nil || jti == "" {
			t.Errorf("grantJTIFromFile: %q %v", jti, err)
		}
	})

	refused := []struct {
		name string
		args []string
	}{
		{"no host named (grant for any host)", []string{"--agent", agentDID, "--tool", "echo/echo"}},
		{"agent that is not a DID", []string{"--agent", "bob", "--host-did", hostDID, "--tool", "echo/echo"}},
		{"double-star tool glob", []string{"--agent", agentDID, "--host-did", hostDID, "--tool", "web/**"}},
		{"tool glob with empty bundle", []string{"--agent", agentDID, "--host-did", hostDID, "--tool", "/x"}},
		{"upper-case tool", []string{"--agent", agentDID, "--host-did", hostDID, "--tool", "Web/fetch"}},
		{"http host with a path", []string{"--agent", agentDID, "--host-did", hostDID, "--tool", "web/fetch", "--http-host", "evil.example/x"}},
		{"ttl of zero", []string{"--agent", agentDID, "--host-did", hostDID, "--tool", "echo/echo", "--ttl", "0s"}},
		{"ttl over a year", []string{"--agent", agentDID, "--host-did", hostDID, "--tool", "echo/echo", "--ttl", "9000h"}},
		{"bad realm", []string{"--agent", agentDID, "--host-did", hostDID, "--tool", "echo/echo", "--realm", "../x"}},
		{"no tool", []string{"--agent", agentDID, "--host-did", hostDID}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"grant", "issue", "--key", opPath}, tt.args...)
			code, out, _ := cli(t, args...)
			if code == 0 {
				t.Fatalf("grant issue signed it: %s", out)
			}
			if strings.TrimSpace(out) != "" {
				t.Errorf("a refused grant printed %q", out)
			}
		})
	}
}

func TestPluginPackVerifyInspect(t *testing.T) {
	dir := t.TempDir()
	root, err := wasmbuild.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	module := filepath.Join(dir, "module.wasm")
	if err := os.WriteFile(module, wasmbuild.Build(t, "plugins/echo"), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(root, "plugins", "echo", "manifest.json")
	pubPath, pubDID := newKeyFile(t, dir, "publisher")
	_, otherDID := newKeyFile(t, dir, "other")
	bundlePath := filepath.Join(dir, "echo.airlock")

	out := mustCLI(t, "plugin", "pack", "--manifest", manifest, "--module", module, "--key", pubPath, "--out", bundlePath)
	if strings.TrimSpace(out) != bundlePath {
		t.Errorf("pack printed %q, want the bundle path", out)
	}

	out = mustCLI(t, "plugin", "verify", bundlePath)
	if !strings.HasPrefix(out, "ok: echo 1.0.0 signed by "+pubDID) {
		t.Errorf("verify: %q", out)
	}
	out = mustCLI(t, "plugin", "verify", "--publisher", pubDID, bundlePath)
	if !strings.Contains(out, "a trusted publisher") {
		t.Errorf("verify --publisher: %q", out)
	}

	out = mustCLI(t, "plugin", "inspect", bundlePath)
	var info struct {
		Manifest struct {
			Name, Version, Publisher string
			ModuleSHA256             string `json:"module_sha256"`
		}
		SignatureHeader map[string]any `json:"signature_header"`
		Exports         []string
		ModuleBytes     int `json:"module_bytes"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("inspect output is not JSON: %v\n%s", err, out)
	}
	if info.Manifest.Name != "echo" || info.Manifest.Publisher != pubDID || len(info.Manifest.ModuleSHA256) != 64 {
		t.Errorf("inspect manifest = %+v", info.Manifest)
	}
	if info.SignatureHeader["typ"] != identity.TypManifest || info.SignatureHeader["kid"] != identity.KIDFor(pubDID) {
		t.Errorf("inspect signature header = %v", info.SignatureHeader)
	}
	if !contains(info.Exports, "echo") || info.ModuleBytes == 0 {
		t.Errorf("inspect exports = %v, module_bytes = %d", info.Exports, info.ModuleBytes)
	}

	t.Run("bundle from an untrusted publisher", func(t *testing.T) {
		code, out, errOut := cli(t, "plugin", "verify", "--publisher", otherDID, bundlePath)
		if code == 0 {
			t.Fatalf("verify accepted a bundle of another publisher: %s", out)
		}
		if strings.Contains(out, "ok:") || errOut == "" {
			t.Errorf("stdout %q stderr %q", out, errOut)
		}
	})

	t.Run("module swapped after signing", func(t *testing.T) {
		b, err := readBundle(bundlePath)
		if err != nil {
			t.Fatal(err)
		}
		b.Module = append(bytes.Clone(b.Module), 0, 0x61, 0x73, 0x6d) // a trailing custom section's worth
		var buf bytes.Buffer
		if err := b.Write(&buf); err != nil {
			t.Fatal(err)
		}
		evil := filepath.Join(dir, "evil.airlock")
		if err := os.WriteFile(evil, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, out, _ := cli(t, "plugin", "verify", evil); code == 0 {
			t.Fatalf("verify accepted a swapped module: %s", out)
		}
	})

	t.Run("re-signed by another publisher", func(t *testing.T) {
		otherPath := filepath.Join(dir, "other.key")
		resigned := filepath.Join(dir, "resigned.airlock")
		mustCLI(t, "plugin", "sign", bundlePath, "--key", otherPath, "--out", resigned)
		if code, out, _ := cli(t, "plugin", "verify", "--publisher", pubDID, resigned); code == 0 {
			t.Fatalf("verify trusted a bundle re-signed by someone else: %s", out)
		}
		out := mustCLI(t, "plugin", "verify", "--publisher", otherDID, resigned)
		if !strings.Contains(out, otherDID) {
			t.Errorf("verify: %q", out)
		}
	})

	t.Run("not a bundle", func(t *testing.T) {
		if code, _, _ := cli(t, "plugin", "verify", manifest); code == 0 {
			t.Fatal("verify accepted a JSON file as a bundle")
		}
		if code, _, _ := cli(t, "plugin", "inspect", module); code == 0 {
			t.Fatal("inspect accepted a wasm file as a bundle")
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// writeAuditLog creates DATA/host.key and an audit log of n entries with a
// signed checkpoint, as a host leaves them.
func writeAuditLog(t *testing.T, data string, n int) {
	t.Helper()
	ctx := context.Background()
	hostKey, err := identity.GenerateKey(identity.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	if err := identity.SaveKeyFile(filepath.Join(data, "host.key"), hostKey); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, filepath.Join(data, "airlock.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	priv, _ := hostKey.Ed25519()
	log, err := audit.Open(ctx, db.SQLDB(), node.AuditOrigin(hostKey.DID()), priv)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := log.Append(ctx, audit.Entry{Realm: "default", Actor: "did:key:zAgent", Action: "invoke",
			Tool: "echo/echo", Decision: "allow"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := log.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestAuditVerify(t *testing.T) {
	data := t.TempDir()
	writeAuditLog(t, data, 5)

	out := mustCLI(t, "audit", "verify", "--data", data)
	if !strings.HasPrefix(out, "ok: 5 entries, 1 checkpoints verified") {
		t.Fatalf("untouched log: %q", out)
	}

	// flipByte flips one bit of the leaf of entry idx, as an attacker with
	// the file (and no host key) can.
	flipByte := func(idx int) func(db *sql.DB) error {
		return func(db *sql.DB) error {
			var leaf []byte
			if err := db.QueryRow(`SELECT leaf FROM audit_entries WHERE idx = ?`, idx).Scan(&leaf); err != nil {
				return err
			}
			leaf[len(leaf)/2] ^= 0x01
			_, err := db.Exec(`UPDATE audit_entries SET leaf = ? WHERE idx = ?`, leaf, idx)
			return err
		}
	}
	exec := func(stmt string) func(db *sql.DB) error {
		return func(db *sql.DB) error {
			_, err := db.Exec(stmt)
			return err
		}
	}
	tests := []struct {
		name    string
		tamper  func(db *sql.DB) error
		wantIdx string
	}{
		{"one byte of a leaf flipped", flipByte(3), "first bad entry 3"},
		{"first entry rewritten", flipByte(0), "first bad entry 0"},
		{
			name:    "decision rewritten after the fact",
			tamper:  exec(`UPDATE audit_entries SET leaf = CAST(replace(CAST(leaf AS TEXT), '"allow"', '"deny!"') AS BLOB) WHERE idx = 2`),
			wantIdx: "first bad entry 2",
		},
		{"entry deleted", exec(`DELETE FROM audit_entries WHERE idx = 1`), "first bad entry 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			writeAuditLog(t, data, 5)
			db, err := store.Open(context.Background(), filepath.Join(data, "airlock.db"))
			if err != nil {
				t.Fatal(err)
			}
			// Anyone with write access to the file can drop the triggers.
			for _, trg := range []string{"audit_entries_no_update", "audit_entries_no_delete"} {
				if _, err := db.SQL().Exec("DROP TRIGGER " + trg); err != nil {
					t.Fatal(err)
				}
			}
			if err := tt.tamper(db.SQL()); err != nil {
				t.Fatal(err)
			}
			db.Close()

			code, out, errOut := cli(t, "audit", "verify", "--data", data)
			if code == 0 {
				t.Fatalf("audit verify accepted a tampered log: %s", out)
			}
			if !strings.Contains(out, "TAMPERED: "+tt.wantIdx) {
				t.Errorf("stdout %q does not name %q (stderr %q)", out, tt.wantIdx, errOut)
			}
		})
	}

	t.Run("log signed by another host", func(t *testing.T) {
		other, err := identity.GenerateKey(identity.KeyEd25519)
		if err != nil {
			t.Fatal(err)
		}
		if code, out, _ := cli(t, "audit", "verify", "--data", data, "--host-did", other.DID()); code == 0 {
			t.Fatalf("audit verify accepted checkpoints of another host: %s", out)
		}
	})

	t.Run("no data dir", func(t *testing.T) {
		if code, _, _ := cli(t, "audit", "verify"); code == 0 {
			t.Fatal("audit verify without --data succeeded")
		}
	})
}
