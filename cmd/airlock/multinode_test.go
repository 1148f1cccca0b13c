package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/sqldb"
	"github.com/airlock-dev/airlock/internal/node"
	"github.com/airlock-dev/airlock/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// revocationDeadline is the bound: a revocation made through one
// node is enforced by every other node within a second.
const revocationDeadline = time.Second

// TestTwoNodes runs two real `airlock serve` processes on one PostgreSQL
// database, with the same host key and vault master key (copied from the
// first node's data directory, as an operator would), and checks that they
// act as one host: a plugin installed through A is served by B; a request
// accepted by A is a replay on B; a grant revoked through A is refused by B
// within a second; calls-per-minute budgets count calls on both; and the
// audit entries of both form one log that verifies.
func TestTwoNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	w := newWorld(t, bin, dir)
	agentKey, err := identity.LoadKeyFile(w.agentKey)
	if err != nil {
		t.Fatal(err)
	}

	type nodeDir struct{ data, url, cfg string }
	var nodes [2]nodeDir
	for i, name := range []string{"a", "b"} {
		n := &nodes[i]
		n.data = filepath.Join(dir, "node-"+name)
		if err := os.MkdirAll(n.data, 0o700); err != nil {
			t.Fatal(err)
		}
		addr := freeLoopbackAddr(t)
		n.url = "http://" + addr
		n.cfg = filepath.Join(dir, "node-"+name+".yaml")
		cfg := fmt.Sprintf(`listen: %s
data: %s
store: %q
realms:
  default:
    operators: [%s]
    publishers: [%s]
limits:
  checkpoint_seconds: 1
`, addr, n.data, dsn, w.opDID, w.pubDID)
		if err := os.WriteFile(n.cfg, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a, b := nodes[0], nodes[1]

	// One host key for both nodes: made once, copied to the second.
	binKey(t, bin, a.data, "host")
	copyPrivate(t, filepath.Join(a.data, "host.key"), filepath.Join(b.data, "host.key"))
	hostA := startHost(t, bin, a.cfg, a.url)
	// A created the vault master key at its start; B gets a copy.
	copyPrivate(t, filepath.Join(a.data, "master.key"), filepath.Join(b.data, "master.key"))
	hostB := startHost(t, bin, b.cfg, b.url)

	hostDID := hostDIDOf(t, a.url)
	if got := hostDIDOf(t, b.url); got != hostDID {
		t.Fatalf("node B is %s, node A %s: not one host", got, hostDID)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	grantFile := func(name string, extra ...string) string {
		path := filepath.Join(dir, name+".jws")
		args := append([]string{"grant", "issue", "--key", w.opKey, "--agent", w.agentDID, "--tool", "echo/echo",
			"--host", a.url, "--out", path}, extra...)
		mustBin(t, bin, args...)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(bytes.TrimSpace(raw))
	}
	// send signs a fresh echo intent and posts it to url.
	send := func(url, grant, msg string) (int, string, ack) {
		t.Helper()
		body, err := json.Marshal(map[string]any{"tool": "echo/echo", "input": map[string]string{"message": msg}, "grant": grant})
		if err != nil {
			t.Fatal(err)
		}
		proof, err := identity.SignRequest(agentKey, hostDID, http.MethodPost, "/v1/intents", body, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		status, resp, receipt, err := post(context.Background(), client, url+"/v1/intents", "Airlock "+proof, body)
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(resp, &p)
		a := ack{jti: jtiOf(proof), auth: "Airlock " + proof, body: body}
		if status == http.StatusOK {
			r, err := identity.VerifyReceipt(receipt, hostDID, a.jti, status, resp)
			if err != nil {
				t.Fatalf("receipt of %s: %v", url, err)
			}
			a.seq = r.Seq
		}
		return status, p.Code, a
	}
	var acked []ack // intents acknowledged by either node

	// (c) A plugin installed through A is served by B.
	mustBin(t, bin, "plugin", "install", "--host", a.url, "--key", w.opKey, w.bundlePath)
	grant := grantFile("grant")
	for deadline := time.Now().Add(30 * time.Second); ; {
		status, code, ack := send(b.url, grant, "installed on A")
		if status == http.StatusOK {
			acked = append(acked, ack)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node B never served the plugin installed on A: %d %s", status, code)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// (a) A request accepted by A is refused by B as a replay.
	status, code, first := send(a.url, grant, "once only")
	if status != http.StatusOK {
		t.Fatalf("node A refused a fresh intent: %d %s", status, code)
	}
	acked = append(acked, first)
	requireReplayRefused(t, client, b.url, hostDID, first)

	// Budgets are the host's: 3 calls per minute in all, whichever node.
	limited := grantFile("limited", "--calls-per-minute", "3")
	for i := range 3 {
		url := []string{a.url, b.url}[i%2]
		status, code, ack := send(url, limited, fmt.Sprint("budget ", i))
		if status != http.StatusOK {
			t.Fatalf("budgeted call %d refused: %d %s", i+1, status, code)
		}
		acked = append(acked, ack)
	}
	if status, code, _ := send(b.url, limited, "over budget"); status != http.StatusTooManyRequests || code != "budget_exceeded" {
		t.Fatalf("4th call in a minute (3 on two nodes before it) answered %d %s, want 429 budget_exceeded", status, code)
	}

	// (b) A grant revoked through A is refused by B within a second.
	mustBin(t, bin, "grant", "revoke", "--host", a.url, "--key", w.opKey, "--grant-file", filepath.Join(dir, "grant.jws"))
	revoked := time.Now()
	for {
		status, code, ack := send(b.url, grant, "after revocation")
		if status == http.StatusForbidden && code == "grant_revoked" {
			break
		}
		if status == http.StatusOK {
			acked = append(acked, ack)
		}
		if time.Since(revoked) > revocationDeadline {
			t.Fatalf("node B still answers %d %s %v after the grant was revoked through A", status, code, time.Since(revoked))
		}
		time.Sleep(20 * time.Millisecond)
	}

	hostA.stop(t, syscall.SIGTERM)
	hostB.stop(t, syscall.SIGTERM)

	// (d) The entries written by both nodes are one log that verifies.
	checkSharedLog(t, dsn, filepath.Join(a.data, "host.key"), hostDID, acked)
}

// checkSharedLog verifies the audit log in the PostgreSQL database dsn and
// finds every acknowledged intent at its receipt's seq.
func checkSharedLog(t *testing.T, dsn, hostKey, hostDID string, acks []ack) {
	t.Helper()
	ctx := context.Background()
	key, err := identity.LoadKeyFile(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := key.Ed25519()
	db, err := sqldb.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	origin := node.AuditOrigin(hostDID)
	rep, err := audit.Verify(ctx, db, origin, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatalf("the audit log of the two nodes does not verify: %v (%+v)", err, rep)
	}
	lg, err := audit.Open(ctx, db, origin, priv)
	if err != nil {
		t.Fatal(err)
	}
	requests := auditRequests(t, lg)
	for _, a := range acks {
		if got := requests[a.seq]; got != a.jti {
			t.Fatalf("acknowledged intent %s (seq %d): the log has %q there (%d entries)", a.jti, a.seq, got, lg.Size())
		}
	}
	if rep.Entries != lg.Size() || rep.Checkpoints == 0 {
		t.Fatalf("verify report %+v for a log of %d entries: want every entry and a checkpoint", rep, lg.Size())
	}
	t.Logf("one log of %d entries and %d checkpoints; %d acknowledged intents found at their seq", rep.Entries, rep.Checkpoints, len(acks))
}

// copyPrivate copies a key file, keeping it 0600.
func copyPrivate(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
