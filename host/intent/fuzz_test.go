package intent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/host/egress"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/registry"
	"github.com/airlock-dev/airlock/host/store"
)

type noRevocations struct{}

func (noRevocations) RevokedAny(context.Context, string, ...store.Subject) (store.Subject, bool, error) {
	return store.Subject{}, false, nil
}

type countingAudit struct{ n atomic.Int64 }

func (a *countingAudit) Append(context.Context, audit.Entry) (int64, error) { return a.n.Add(1), nil }

func (a *countingAudit) AppendAll(_ context.Context, pre audit.Pre, es ...audit.Entry) ([]int64, error) {
	if pre != nil {
		return nil, errors.New("countingAudit has no transaction for a precondition")
	}
	idx := make([]int64, len(es))
	for i := range es {
		idx[i] = a.n.Add(1)
	}
	return idx, nil
}

// fuzzHost is one invocation's host calls under a grant that gives files
// (read docs/, write scratch/) and nothing that could dial: no http hosts,
// no mail recipients, no nested calls, no vault, no memory.
func fuzzHost(t testing.TB) *hostCalls {
	t.Helper()
	g, err := grant.Compile(&grant.Claims{
		Iss: "did:key:zOp", Sub: "did:key:zAgent", Aud: "did:key:zHost", Jti: "j", Iat: 1, Exp: 2, Realm: "default",
		Tools: []string{"t/t"}, Caps: grant.Caps{FS: &grant.FSCap{Read: []string{"docs/"}, Write: []string{"scratch/"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc := &Service{
		Revocations: noRevocations{},
		Audit:       &countingAudit{},
		Egress:      egress.NewClient(egress.Config{}),
		DataDir:     t.TempDir(),
		Logger:      slog.New(slog.DiscardHandler),
	}
	plugin := &registry.Plugin{Compiled: &bundle.Compiled{Manifest: &bundle.Manifest{}}}
	return &hostCalls{svc: svc, call: &call{grant: g, agent: "did:key:zAgent", request: "r", nested: new(atomic.Int32)},
		tool: "t/t", plugin: plugin}
}

// FuzzHostFunctionArguments feeds guest bytes to every host function: the
// answer is always one JSON value (a result or {"error": {code, message}}
// with a known code), whatever the guest sends, and nothing panics.
func FuzzHostFunctionArguments(f *testing.F) {
	for _, seed := range []string{
		`{"level":"info","message":"hi"}`, `{"method":"GET","url":"http://127.0.0.1:1/"}`,
		`{"path":"docs/a.txt"}`, `{"path":"scratch/x","data":"aGk="}`, `{"path":"../../etc/passwd"}`,
		`{"documents":[{"id":"a","content":"b"}]}`, `{"query":"q","k":3}`, `{"ids":["a"]}`,
		`{"to":["a@example.org"],"subject":"s","body":"b"}`, `{"tool":"x/y","input":{}}`, `{"name":"TOKEN"}`,
		`{"path":"docs/\u0000"}`, `{"PATH":"docs/a"}`, `{"path":"docs/a","path":"scratch/b"}`, `[]`, `null`, ``,
	} {
		for i := range abi.Functions {
			f.Add(uint8(i), []byte(seed))
		}
	}
	h := fuzzHost(f)
	codes := map[abi.Code]bool{}
	for _, c := range abi.Codes {
		codes[c] = true
	}
	f.Fuzz(func(t *testing.T, which uint8, req []byte) {
		fn := abi.Functions[int(which)%len(abi.Functions)]
		resp := h.Call(context.Background(), fn, req)
		if !json.Valid(resp) {
			t.Fatalf("%s answered invalid JSON %q", fn, resp)
		}
		var e struct {
			Error *abi.Error `json:"error"`
		}
		if json.Unmarshal(resp, &e) == nil && e.Error != nil && !codes[e.Error.Code] {
			t.Fatalf("%s answered unknown code %q", fn, e.Error.Code)
		}
	})
}

// TestHostFunctionArgumentsAreStrict: host functions refuse what a strict
// reader refuses (unknown or case-folded fields, duplicates, trailing data),
// before acting.
func TestHostFunctionArgumentsAreStrict(t *testing.T) {
	h := fuzzHost(t)
	for _, tc := range []struct {
		name string
		fn   abi.Function
		req  string
	}{
		{"unknown field smuggled into a write", abi.FuncFSWrite, `{"path":"scratch/a","data":"aGk=","mode":"0777"}`},
		{"case-folded field", abi.FuncFSRead, `{"PATH":"docs/a"}`},
		{"duplicate field read two ways", abi.FuncFSRead, `{"path":"docs/a","path":"../x"}`},
		{"trailing data", abi.FuncLog, `{"level":"info","message":"a"} {"level":"error"}`},
		{"not JSON", abi.FuncFSList, `path: docs/`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e abi.ErrorResponse
			if err := json.Unmarshal(h.Call(context.Background(), tc.fn, []byte(tc.req)), &e); err != nil || e.Error == nil || e.Error.Code != abi.CodeBadRequest {
				t.Fatalf("%s(%s) = %+v, want bad_request", tc.fn, tc.req, e.Error)
			}
		})
	}
}

// TestUngrantedFunctionRefusedAtCall: even a direct call (not through the
// runtime's linking) never reaches a function the grant does not give.
func TestUngrantedFunctionRefusedAtCall(t *testing.T) {
	h := fuzzHost(t)
	for _, fn := range []abi.Function{abi.FuncHTTPRequest, abi.FuncMailSend, abi.FuncToolCall, abi.FuncMemoryPut, abi.FuncSecretPresent} {
		var e abi.ErrorResponse
		if err := json.Unmarshal(h.Call(context.Background(), fn, []byte(`{}`)), &e); err != nil || e.Error == nil || e.Error.Code != abi.CodeForbidden {
			t.Errorf("%s under a files-only grant = %+v, want forbidden", fn, e.Error)
		}
	}
	if n := h.svc.Audit.(*countingAudit).n.Load(); n < 5 {
		t.Errorf("%d audit entries for 5 refused calls", n)
	}
}

// TestFilePathsAreHMACdInAudit: a file path a tool chose never appears in
// the audit log in clear; the same path gives the same keyed tag.
func TestFilePathsAreHMACdInAudit(t *testing.T) {
	h := fuzzHost(t)
	h.svc.AuditKey = []byte("0123456789abcdef0123456789abcdef")
	a, b := h.svc.sensitive("scratch/salary-of-alice.txt"), h.svc.sensitive("scratch/salary-of-alice.txt")
	if a != b || len(a) < 10 || a == "scratch/salary-of-alice.txt" {
		t.Fatalf("sensitive() = %q, %q", a, b)
	}
	if c := h.svc.sensitive("scratch/other.txt"); c == a {
		t.Fatal("two paths share a tag")
	}
	other := fuzzHost(t)
	other.svc.AuditKey = []byte("another host's key, 32 bytes....")
	if other.svc.sensitive("scratch/salary-of-alice.txt") == a {
		t.Fatal("tags do not depend on the host key")
	}
}
