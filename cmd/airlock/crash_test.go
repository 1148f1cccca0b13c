package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/internal/node"
)

// Crash test bounds. The issue asks for hundreds of kills; the default keeps
// the test near three minutes on a small machine. Set
// AIRLOCK_CRASH_ITERATIONS (and, for long runs, -timeout) to run more.
const (
	defaultCrashIterations = 40
	shortCrashIterations   = 5
	crashTimeBudget        = 3 * time.Minute
	crashAgents            = 4
)

// ack is an intent the host acknowledged: a 200 with a receipt that verifies
// against the pinned host DID, bound to the request jti.
type ack struct {
	jti  string
	seq  int64
	auth string // the exact Authorization header
	body []byte // the exact body
}

// TestCrashSafety runs the real binary under load from concurrent agents and
// kills it with SIGKILL at random moments. After every kill it checks, on
// the disk the dead process left, that every acknowledged intent has its
// audit entry at the receipt's seq with the request's jti and that the whole
// log verifies; after every restart it replays an acknowledged request byte
// for byte and requires 409 replay.
func TestCrashSafety(t *testing.T) {
	iterations := defaultCrashIterations
	if testing.Short() {
		iterations = shortCrashIterations
	}
	if s := os.Getenv("AIRLOCK_CRASH_ITERATIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("AIRLOCK_CRASH_ITERATIONS=%q: want a positive integer", s)
		}
		iterations = n
	}
	budget := crashTimeBudget
	if os.Getenv("AIRLOCK_CRASH_ITERATIONS") != "" {
		budget = time.Duration(iterations) * 10 * time.Second // explicit count: run them all
	}

	dir := t.TempDir()
	bin := buildBinary(t, dir)
	w := newWorld(t, bin, dir)
	opKey, agentDID := w.opKey, w.agentDID
	bundlePath, data, url, cfgPath := w.bundlePath, w.data, w.url, w.cfgPath
	agentKey, err := identity.LoadKeyFile(w.agentKey)
	if err != nil {
		t.Fatal(err)
	}

	h := startHost(t, bin, cfgPath, url)
	hostDID := hostDIDOf(t, url)
	mustBin(t, bin, "plugin", "install", "--host", url, "--key", opKey, bundlePath)
	grantPath := filepath.Join(dir, "grant.jws")
	mustBin(t, bin, "grant", "issue", "--key", opKey, "--agent", agentDID, "--tool", "echo/echo",
		"--host", url, "--ttl", "2h", "--out", grantPath)
	grantJWS, err := os.ReadFile(grantPath)
	if err != nil {
		t.Fatal(err)
	}
	grant := string(bytes.TrimSpace(grantJWS))

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	client := &http.Client{Timeout: 10 * time.Second}
	var all []ack
	var latest []ack // acknowledged in the last run: their proofs are still unexpired
	replays := 0
	start := time.Now()
	for i := 0; i < iterations && time.Since(start) < budget; i++ {
		if i > 0 {
			h = startHost(t, bin, cfgPath, url)
			if got := hostDIDOf(t, url); got != hostDID {
				t.Fatalf("iteration %d: host DID changed across a SIGKILL: %s, was %s", i, got, hostDID)
			}
			if len(latest) > 0 {
				requireReplayRefused(t, client, url, hostDID, latest[len(latest)-1])
				replays++
			}
		}

		ctx, cancel := context.WithCancel(context.Background())
		acks := make(chan ack, 1<<16)
		var wg sync.WaitGroup
		for a := range crashAgents {
			wg.Go(func() { sendIntents(ctx, client, url, hostDID, agentKey, grant, fmt.Sprintf("%d-%d", i, a), acks) })
		}
		time.Sleep(time.Duration(50+rng.IntN(451)) * time.Millisecond)
		h.stop(t, syscall.SIGKILL)
		cancel()
		wg.Wait()
		close(acks)
		latest = latest[:0]
		for a := range acks {
			latest = append(latest, a)
		}
		all = append(all, latest...)
		checkDisk(t, data, hostDID, all, i)
	}
	t.Logf("%d acknowledged intents, %d replays refused, over %s", len(all), replays, time.Since(start).Round(time.Second))
	if len(all) == 0 {
		t.Fatal("no intent was ever acknowledged: the crash test exercised nothing")
	}
	if iterations > 1 && replays == 0 {
		t.Fatal("no acknowledged request was ever replayed after a restart")
	}

	t.Run("backup of a host under load restores and verifies", func(t *testing.T) {
		h := startHost(t, bin, cfgPath, url)
		ctx, cancel := context.WithCancel(context.Background())
		acks := make(chan ack, 1<<16)
		var wg sync.WaitGroup
		for a := range crashAgents {
			wg.Go(func() { sendIntents(ctx, client, url, hostDID, agentKey, grant, fmt.Sprintf("backup-%d", a), acks) })
		}
		out := filepath.Join(dir, "host.backup")
		mustBin(t, bin, "backup", "--data", data, "--out", out)
		cancel()
		wg.Wait()
		h.stop(t, syscall.SIGTERM)
		if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("backup file: %v %v; want mode 0600", fi, err)
		}

		_, otherDID := binKey(t, bin, dir, "impostor")
		if code, _, errOut := runBin(t, bin, "restore", "--in", out, "--data", filepath.Join(dir, "refused"), "--host-did", otherDID); code == 0 {
			t.Fatalf("restore pinned to another host DID succeeded: %s", errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "refused")); !os.IsNotExist(err) {
			t.Fatalf("a refused restore created its target: %v", err)
		}
		if code, _, _ := runBin(t, bin, "restore", "--in", out, "--data", data, "--host-did", hostDID); code == 0 {
			t.Fatal("restore over the live, non-empty data dir succeeded")
		}

		restored := filepath.Join(dir, "restored")
		mustBin(t, bin, "restore", "--in", out, "--data", restored, "--host-did", hostDID)
		if got := mustBin(t, bin, "audit", "verify", "--data", restored); !strings.HasPrefix(got, "ok: ") {
			t.Fatalf("audit verify of the restored data dir: %q", got)
		}
	})
}

// sendIntents sends signed echo intents until ctx ends or the host dies, and
// reports each acknowledged one.
func sendIntents(ctx context.Context, client *http.Client, url, hostDID string, key *identity.Key, grant, name string, acks chan<- ack) {
	for n := 0; ctx.Err() == nil; n++ {
		body, err := json.Marshal(map[string]any{
			"tool":  "echo/echo",
			"input": map[string]string{"message": fmt.Sprintf("agent %s intent %d", name, n)},
			"grant": grant,
		})
		if err != nil {
			return
		}
		proof, err := identity.SignRequest(key, hostDID, http.MethodPost, "/v1/intents", body, time.Now())
		if err != nil {
			return
		}
		status, resp, receipt, err := post(ctx, client, url+"/v1/intents", "Airlock "+proof, body)
		if err != nil {
			return // the host was killed
		}
		if status != http.StatusOK {
			continue
		}
		jti := jtiOf(proof)
		r, err := identity.VerifyReceipt(receipt, hostDID, jti, status, resp)
		if err != nil {
			continue // not acknowledged
		}
		acks <- ack{jti: jti, seq: r.Seq, auth: "Airlock " + proof, body: body}
	}
}

func post(ctx context.Context, client *http.Client, url, auth string, body []byte) (int, []byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, "", err
	}
	return resp.StatusCode, b, resp.Header.Get("Airlock-Receipt"), nil
}

func jtiOf(proof string) string {
	_, payload, err := identity.ParseUnverified(proof)
	if err != nil {
		return ""
	}
	var c struct {
		Jti string `json:"jti"`
	}
	_ = json.Unmarshal(payload, &c)
	return c.Jti
}

// requireReplayRefused sends an acknowledged request again, the same proof
// and the same body, to the restarted host.
func requireReplayRefused(t *testing.T, client *http.Client, url, hostDID string, a ack) {
	t.Helper()
	status, body, receipt, err := post(context.Background(), client, url+"/v1/intents", a.auth, a.body)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &p)
	if status != http.StatusConflict || p.Code != "replay" {
		t.Fatalf("replayed jti %s after a SIGKILL answered %d %s, want 409 replay", a.jti, status, body)
	}
	if _, err := identity.VerifyReceipt(receipt, hostDID, "", status, body); err != nil {
		t.Errorf("the replay refusal carries no valid host receipt: %v", err)
	}
}

// checkDisk opens the database the killed host left and checks the log and
// every acknowledged intent.
func checkDisk(t *testing.T, data, hostDID string, acks []ack, iteration int) {
	t.Helper()
	ctx := context.Background()
	key, err := identity.LoadKeyFile(filepath.Join(data, "host.key"))
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := key.Ed25519()
	db, err := store.Open(ctx, filepath.Join(data, "airlock.db"))
	if err != nil {
		t.Fatalf("iteration %d: database after SIGKILL: %v", iteration, err)
	}
	defer db.Close()
	origin := node.AuditOrigin(hostDID)
	if rep, err := audit.Verify(ctx, db.SQLDB(), origin, priv.Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("iteration %d: audit log after SIGKILL does not verify: %v (%+v)", iteration, err, rep)
	}
	lg, err := audit.Open(ctx, db.SQLDB(), origin, priv)
	if err != nil {
		t.Fatal(err)
	}
	requests := auditRequests(t, lg)
	for _, a := range acks {
		got, ok := requests[a.seq]
		if !ok {
			t.Fatalf("iteration %d: acknowledged intent %s (seq %d) lost: the log has %d entries", iteration, a.jti, a.seq, lg.Size())
		}
		if got != a.jti {
			t.Fatalf("iteration %d: entry %d names request %q, the receipt said %q", iteration, a.seq, got, a.jti)
		}
	}
}

// auditRequests maps every entry index of lg to the request jti it records.
func auditRequests(t *testing.T, lg *audit.Log) map[int64]string {
	t.Helper()
	ctx := context.Background()
	requests := make(map[int64]string, lg.Size())
	for from := int64(0); from < lg.Size(); {
		es, err := lg.Entries(ctx, "", from, audit.MaxEntries)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			requests[e.Index] = e.Request
		}
		from = es[len(es)-1].Index + 1
	}
	return requests
}
