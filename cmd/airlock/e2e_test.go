package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/wasmbuild"
)

// TestEndToEnd drives the real binary as an operator, a publisher and an
// agent would: serve from a config file, install a signed bundle over HTTP,
// grant, invoke, revoke, stop with SIGTERM, verify the audit log offline,
// then survive a SIGKILL with its identity and plugins intact.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	bin := buildBinary(t, dir)

	w := newWorld(t, bin, dir)
	opKey, agentKey, agentDID := w.opKey, w.agentKey, w.agentDID
	bundlePath, data, url, cfgPath := w.bundlePath, w.data, w.url, w.cfgPath

	h := startHost(t, bin, cfgPath, url)
	hostDID := hostDIDOf(t, url)

	out := mustBin(t, bin, "plugin", "install", "--host", url, "--key", opKey, bundlePath)
	if !strings.Contains(out, "echo") {
		t.Errorf("install answered %q", out)
	}

	grantPath := filepath.Join(dir, "grant.jws")
	mustBin(t, bin, "grant", "issue", "--key", opKey, "--agent", agentDID, "--tool", "echo/echo",
		"--host", url, "--out", grantPath)
	invoke := func(grant, msg string) (int, string) {
		code, out, errOut := runBin(t, bin, "invoke", "--host", url, "--host-did", hostDID, "--key", agentKey,
			"--grant", grant, "echo/echo", `{"message":"`+msg+`"}`)
		return code, out + errOut
	}
	code, out := invoke(grantPath, "hello through the airlock")
	if code != 0 || !strings.Contains(out, `"message": "hello through the airlock"`) {
		t.Fatalf("invoke: exit %d: %s", code, out)
	}

	mustBin(t, bin, "grant", "revoke", "--host", url, "--key", opKey, "--grant-file", grantPath)
	code, out = invoke(grantPath, "after revocation")
	if code == 0 || !strings.Contains(out, "grant_revoked") {
		t.Fatalf("invoke with a revoked grant: exit %d: %s", code, out)
	}
	if strings.Contains(out, `"message": "after revocation"`) {
		t.Fatalf("the revoked grant still ran the tool: %s", out)
	}

	h.stop(t, syscall.SIGTERM)
	out = mustBin(t, bin, "audit", "verify", "--data", data)
	if !strings.HasPrefix(out, "ok: ") || !strings.Contains(out, hostDID) {
		t.Fatalf("audit verify after SIGTERM: %q", out)
	}

	// Restart, then crash: identity, plugins and audit are as acknowledged.
	h = startHost(t, bin, cfgPath, url)
	if got := hostDIDOf(t, url); got != hostDID {
		t.Fatalf("host DID changed across a restart: %s, was %s", got, hostDID)
	}
	h.stop(t, syscall.SIGKILL)

	h = startHost(t, bin, cfgPath, url)
	if got := hostDIDOf(t, url); got != hostDID {
		t.Fatalf("host DID changed across a SIGKILL: %s, was %s", got, hostDID)
	}
	code, out = invoke(grantPath, "revocation survives a crash")
	if code == 0 || !strings.Contains(out, "grant_revoked") {
		t.Fatalf("revocation lost across a SIGKILL: exit %d: %s", code, out)
	}
	grant2 := filepath.Join(dir, "grant2.jws")
	mustBin(t, bin, "grant", "issue", "--key", opKey, "--agent", agentDID, "--tool", "echo/*",
		"--host", url, "--out", grant2)
	code, out = invoke(grant2, "still installed after a crash")
	if code != 0 || !strings.Contains(out, `"message": "still installed after a crash"`) {
		t.Fatalf("invoke after SIGKILL and restart: exit %d: %s", code, out)
	}
	h.stop(t, syscall.SIGTERM)
	out = mustBin(t, bin, "audit", "verify", "--data", data)
	if !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("audit verify after SIGKILL and restart: %q", out)
	}
}

// buildBinary builds cmd/airlock into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	root, err := wasmbuild.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "airlock")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/airlock")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runBin(t *testing.T, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("run %s: %v", bin, err)
	}
	return code, out.String(), errOut.String()
}

func mustBin(t *testing.T, bin string, args ...string) string {
	t.Helper()
	code, out, errOut := runBin(t, bin, args...)
	if code != 0 {
		t.Fatalf("airlock %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func binKey(t *testing.T, bin, dir, name string) (path, did string) {
	t.Helper()
	path = filepath.Join(dir, name+".key")
	return path, strings.TrimSpace(mustBin(t, bin, "key", "new", "--out", path))
}

// freeLoopbackAddr returns a loopback address with a port that was free a
// moment ago (the host must print a real port, so :0 will not do).
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// hostProc is a running `airlock serve`.
type hostProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  *os.File
}

// startHost starts `airlock serve --config cfg` and waits until /readyz
// answers 200 or the process exits.
func startHost(t *testing.T, bin, cfg, url string) *hostProc {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "serve-*.log")
	if err != nil {
		t.Fatal(err)
	}
	h := &hostProc{cmd: exec.Command(bin, "serve", "--config", cfg), done: make(chan struct{}), log: logf}
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = h.cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		select {
		case <-h.done:
		default:
			_ = h.cmd.Process.Kill()
			<-h.done
		}
	})
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); {
		select {
		case <-h.done:
			t.Fatalf("airlock serve exited before it was ready: %v\n%s", h.cmd.ProcessState, h.output())
		default:
		}
		if resp, err := client.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return h
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("airlock serve never became ready\n%s", h.output())
	return nil
}

func (h *hostProc) output() string {
	b, _ := os.ReadFile(h.log.Name())
	return string(b)
}

// stop sends sig and requires the process to exit within 15 s (DESIGN §9);
// after SIGTERM it must also exit cleanly.
func (h *hostProc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := h.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("airlock serve did not exit within 15 s of %v\n%s", sig, h.output())
	}
	if sig == syscall.SIGTERM && !h.cmd.ProcessState.Success() {
		t.Fatalf("airlock serve exited with %v after SIGTERM\n%s", h.cmd.ProcessState, h.output())
	}
}

func hostDIDOf(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/v1/host")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		DID string `json:"did"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || info.DID == "" {
		t.Fatalf("GET /v1/host: %v %+v", err, info)
	}
	return info.DID
}

// world is what both binary tests set up: the keys of an operator, a
// publisher and an agent (made with `airlock key new`), the echo bundle
// packed and signed by the publisher, and a config for a host on a free
// loopback port that trusts the operator and publisher.
type world struct {
	opKey, opDID, pubKey, pubDID, agentKey, agentDID string
	bundlePath, data, addr, url, cfgPath             string
}

func newWorld(t *testing.T, bin, dir string) world {
	t.Helper()
	var w world
	w.opKey, w.opDID = binKey(t, bin, dir, "operator")
	w.pubKey, w.pubDID = binKey(t, bin, dir, "publisher")
	w.agentKey, w.agentDID = binKey(t, bin, dir, "agent")

	module := filepath.Join(dir, "module.wasm")
	if err := os.WriteFile(module, wasmbuild.Build(t, "plugins/echo"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := wasmbuild.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	w.bundlePath = filepath.Join(dir, "echo.airlock")
	mustBin(t, bin, "plugin", "pack", "--manifest", filepath.Join(root, "plugins", "echo", "manifest.json"),
		"--module", module, "--key", w.pubKey, "--out", w.bundlePath)

	w.data = filepath.Join(dir, "data")
	w.addr = freeLoopbackAddr(t)
	w.url = "http://" + w.addr
	w.cfgPath = filepath.Join(dir, "airlock.yaml")
	cfg := fmt.Sprintf(`listen: %s
data: %s
realms:
  default:
    operators: [%s]
    publishers: [%s]
limits:
  checkpoint_seconds: 1
`, w.addr, w.data, w.opDID, w.pubDID)
	if err := os.WriteFile(w.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}
