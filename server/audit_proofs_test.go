package server_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/internal/hosttest"
)

type inclusionDoc struct {
	Index    int64    `json:"index"`
	Size     int64    `json:"size"`
	LeafHash []byte   `json:"leaf_hash"`
	Proof    [][]byte `json:"proof"`
}

type consistencyDoc struct {
	From  int64    `json:"from"`
	To    int64    `json:"to"`
	Proof [][]byte `json:"proof"`
}

// appendEntries writes n entries straight into the host's audit log.
func appendEntries(t *testing.T, h *hosttest.Host, n int) {
	t.Helper()
	for i := range n {
		if _, err := h.AuditLog().Append(context.Background(), audit.Entry{
			Realm: hosttest.DefaultRealm, Actor: "did:key:zAgent", Action: "invoke", Tool: "echo/echo",
			Decision: "allow", Request: fmt.Sprintf("jti-%d", i),
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// signedCheckpoint fetches GET /v1/audit/checkpoint without a signature
// and opens it with the host key.
func signedCheckpoint(t *testing.T, h *hosttest.Host) (int64, []byte) {
	t.Helper()
	resp := send(t, h, http.MethodGet, "/v1/audit/checkpoint", "", nil, "")
	if resp.Status != http.StatusOK {
		t.Fatalf("checkpoint: status %d: %s", resp.Status, resp.Body)
	}
	pub, _ := h.HostKey().Ed25519()
	size, root, err := audit.OpenCheckpoint(resp.Body, "airlock/"+h.DID(), pub.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return size, root
}

func getJSON(t *testing.T, h *hosttest.Host, target string, out any) {
	t.Helper()
	resp := send(t, h, http.MethodGet, target, "", nil, "")
	if resp.Status != http.StatusOK {
		t.Fatalf("%s: status %d: %s", target, resp.Status, resp.Body)
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		t.Fatal(err)
	}
}

// TestAuditProofs: anyone holding a signed checkpoint can check, without a
// signature of their own, that every entry is in the log and that the log
// only grew; a tampered answer or a request outside the log is refused.
func TestAuditProofs(t *testing.T) {
	h := newHost(t)
	appendEntries(t, h, 6)
	size1, root1 := signedCheckpoint(t, h)
	if size1 < 6 {
		t.Fatalf("checkpoint covers %d entries, want at least 6", size1)
	}

	t.Run("inclusion proof verifies for every entry", func(t *testing.T) {
		for idx := range size1 {
			var got inclusionDoc
			getJSON(t, h, fmt.Sprintf("/v1/audit/proof/inclusion?index=%d&size=%d", idx, size1), &got)
			if got.Index != idx || got.Size != size1 {
				t.Fatalf("answer names index %d size %d", got.Index, got.Size)
			}
			if err := audit.VerifyInclusion(got.LeafHash, idx, size1, root1, got.Proof); err != nil {
				t.Fatalf("entry %d: %v", idx, err)
			}
			// A flipped bit anywhere in the answer is caught.
			if len(got.Proof) > 0 {
				got.Proof[0][0] ^= 1
				if audit.VerifyInclusion(got.LeafHash, idx, size1, root1, got.Proof) == nil {
					t.Fatalf("entry %d: tampered proof verifies", idx)
				}
			}
		}
	})

	appendEntries(t, h, 5)
	size2, root2 := signedCheckpoint(t, h)

	t.Run("consistency proof verifies across growth", func(t *testing.T) {
		var got consistencyDoc
		getJSON(t, h, fmt.Sprintf("/v1/audit/proof/consistency?from=%d&to=%d", size1, size2), &got)
		if got.From != size1 || got.To != size2 {
			t.Fatalf("answer names %d→%d", got.From, got.To)
		}
		if err := audit.VerifyConsistency(size1, size2, root1, root2, got.Proof); err != nil {
			t.Fatal(err)
		}
		if audit.VerifyConsistency(size2, size1, root2, root1, got.Proof) == nil {
			t.Fatal("rolled-back sizes verify")
		}
	})

	refusals := []struct{ name, target string }{
		{"inclusion: index past the tree", fmt.Sprintf("/v1/audit/proof/inclusion?index=%d&size=%d", size2, size2)},
		{"inclusion: tree larger than the log", fmt.Sprintf("/v1/audit/proof/inclusion?index=0&size=%d", size2+1000)},
		{"inclusion: negative index", "/v1/audit/proof/inclusion?index=-1&size=3"},
		{"inclusion: index missing", "/v1/audit/proof/inclusion?size=3"},
		{"inclusion: index given twice", "/v1/audit/proof/inclusion?index=0&index=1&size=3"},
		{"inclusion: leading zero", "/v1/audit/proof/inclusion?index=01&size=3"},
		{"inclusion: not a number", "/v1/audit/proof/inclusion?index=zero&size=3"},
		{"inclusion: overflow", "/v1/audit/proof/inclusion?index=0&size=99999999999999999999"},
		{"inclusion: unknown parameter", "/v1/audit/proof/inclusion?index=0&size=3&realm=default"},
		{"consistency: from zero", "/v1/audit/proof/consistency?from=0&to=3"},
		{"consistency: backwards (rollback request)", "/v1/audit/proof/consistency?from=4&to=3"},
		{"consistency: to past the log", fmt.Sprintf("/v1/audit/proof/consistency?from=1&to=%d", size2+1)},
		{"consistency: plus sign", "/v1/audit/proof/consistency?from=%2B1&to=3"},
		{"consistency: empty", "/v1/audit/proof/consistency?from=&to=3"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, h, http.MethodGet, tt.target, "", nil, "")
			wantProblem(t, resp.Status, resp.Body, abi.CodeBadRequest, "")
		})
	}
}

// FuzzProofQuery sends arbitrary query strings to both proof endpoints:
// a proof or a bad_request, never an internal error.
func FuzzProofQuery(f *testing.F) {
	h := newHost(f)
	for i := range 5 {
		if _, err := h.AuditLog().Append(context.Background(), audit.Entry{Realm: hosttest.DefaultRealm, Request: fmt.Sprint(i)}); err != nil {
			f.Fatal(err)
		}
	}
	for _, seed := range []string{
		"index=0&size=5", "index=4&size=5", "index=5&size=5", "from=1&to=5", "from=5&to=5",
		"from=0&to=1", "index=-1&size=1", "index=1e3&size=5", "index=0&size=5&size=5", "", "%zz", ";",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		for _, path := range []string{"/v1/audit/proof/inclusion", "/v1/audit/proof/consistency"} {
			u := &url.URL{Path: path, RawQuery: query}
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL, req.RequestURI = u, u.RequestURI()
			rec := serveFuzz(t, h, req, "")
			if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
				t.Fatalf("%s?%s answered %d: %s", path, query, rec.Code, rec.Body.Bytes())
			}
		}
	})
}
