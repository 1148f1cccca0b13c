package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/internal/hosttest"
)

func appendAudit(t *testing.T, h *hosttest.Host, n int) {
	t.Helper()
	for range n {
		if _, err := h.AuditLog().Append(context.Background(), audit.Entry{
			Realm: hosttest.DefaultRealm, Actor: "did:key:zAgent", Action: "invoke", Decision: "allow",
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func readState(t *testing.T, path string) auditState {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st auditState
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func writeState(t *testing.T, path string, st auditState) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuditVerifyRemote(t *testing.T) {
	h := hosttest.New(t)
	appendAudit(t, h, 5)
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")

	out := mustCLI(t, "audit", "verify", "--host", h.URL(), "--state", state)
	if !strings.Contains(out, "pinning host "+h.DID()) || !strings.Contains(out, "ok: checkpoint of") {
		t.Fatalf("first run: %q", out)
	}
	fi, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	first := readState(t, state)
	if first.HostDID != h.DID() || first.Size < 5 {
		t.Fatalf("state remembers %+v", first)
	}

	t.Run("log that grew is proven consistent", func(t *testing.T) {
		appendAudit(t, h, 7)
		out := mustCLI(t, "audit", "verify", "--host", h.URL(), "--state", state)
		if !strings.Contains(out, "extends the one of") {
			t.Fatalf("second run: %q", out)
		}
		if st := readState(t, state); st.Size <= first.Size {
			t.Fatalf("state not advanced: %+v", st)
		}
		// and an unchanged log verifies again
		mustCLI(t, "audit", "verify", "--host", h.URL(), "--state", state)
	})

	current := readState(t, state)
	otherRoot := bytes.Repeat([]byte{0x42}, 32)
	impostor := hosttest.New(t)
	appendAudit(t, impostor, int(current.Size)+3)

	tests := []struct {
		name   string
		host   string
		state  *auditState // written before the run
		extra  []string
		stdout string // what stdout or stderr must name
	}{
		{
			name:   "rolled-back log: remembered checkpoint is larger",
			host:   h.URL(),
			state:  &auditState{HostDID: h.DID(), Size: current.Size + 10, Root: otherRoot},
			stdout: "ROLLED BACK",
		},
		{
			name:   "forked log: different root at the same size",
			host:   h.URL(),
			state:  &auditState{HostDID: h.DID(), Size: current.Size, Root: otherRoot},
			stdout: "FORKED",
		},
		{
			name:   "forked log: remembered prefix is not a prefix of the new tree",
			host:   h.URL(),
			state:  &auditState{HostDID: h.DID(), Size: current.Size - 2, Root: otherRoot},
			stdout: "FORKED",
		},
		{
			name:   "checkpoint signed by another key: impostor at the pinned host's address",
			host:   impostor.URL(),
			state:  &current,
			stdout: "not signed by host " + h.DID(),
		},
		{
			name:   "checkpoint signed by another key: --host-did pins a different host",
			host:   impostor.URL(),
			extra:  []string{"--host-did", h.DID()},
			stdout: "not signed by host " + h.DID(),
		},
		{
			name:   "state file of another host",
			host:   h.URL(),
			state:  &auditState{HostDID: impostor.DID(), Size: 1, Root: otherRoot},
			extra:  []string{"--host-did", h.DID()},
			stdout: "pinned to host " + impostor.DID(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if tt.state != nil {
				writeState(t, path, *tt.state)
			}
			args := append([]string{"audit", "verify", "--host", tt.host, "--state", path}, tt.extra...)
			code, out, errOut := cli(t, args...)
			if code == 0 {
				t.Fatalf("accepted: %s", out)
			}
			if !strings.Contains(out+errOut, tt.stdout) {
				t.Fatalf("output does not name %q:\nstdout %q\nstderr %q", tt.stdout, out, errOut)
			}
			if tt.state != nil {
				if st := readState(t, path); st.Size != tt.state.Size || !bytes.Equal(st.Root, tt.state.Root) {
					t.Fatalf("state overwritten after a failed check: %+v", st)
				}
			}
		})
	}

	t.Run("both --data and --host", func(t *testing.T) {
		if code, _, _ := cli(t, "audit", "verify", "--host", h.URL(), "--data", dir); code == 0 {
			t.Fatal("accepted")
		}
	})
}

// FuzzConsistencyAnswer: whatever a host answers, parsing it never panics
// and never yields a proof for sizes other than the ones asked.
func FuzzConsistencyAnswer(f *testing.F) {
	for _, seed := range []string{
		`{"from":3,"to":7,"proof":["AAAA"]}`, `{"from":3,"to":7,"proof":[]}`,
		`{"from":3,"to":8,"proof":[]}`, `{"from":3,"to":7,"proof":[],"x":1}`,
		`{"from":3,"to":7,"proof":["!"]}`, `{}{}`, ``, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseConsistencyAnswer(body, 3, 7)
		if err != nil {
			return
		}
		var a consistencyAnswer
		if json.Unmarshal(body, &a) != nil || a.From != 3 || a.To != 7 || len(a.Proof) != len(p) {
			t.Fatalf("accepted %q", body)
		}
	})
}
