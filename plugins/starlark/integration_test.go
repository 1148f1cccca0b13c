//go:build !wasip1

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/bundle"
	"github.com/airlock-dev/airlock/host/runtime"
	"github.com/airlock-dev/airlock/internal/wasmbuild"
)

// sandboxMemoryPages is the manifest's memory limit, 64 MiB. The engine
// gets it as its host maximum, so that the module is compiled once (Load
// compiles at the host maximum, a call with another limit compiles again).
const sandboxMemoryPages = 64 * 16

// sandboxLimits are the limits of every call: the host maximum memory and a
// timeout longer than the manifest's 10 s, as instances start slowly on a
// shared machine under -race; a runaway script is stopped by the step limit
// or, on a busy machine, by this timeout.
var sandboxLimits = runtime.Limits{Timeout: time.Minute}

// grantHost is a HostHandler standing for the host side of one grant: it
// allows the functions in allow, answers http_request with answer, and
// records what the guest asked and what was denied.
type grantHost struct {
	allow  map[abi.Function]bool
	answer abi.HTTPResponse

	mu       sync.Mutex
	requests []abi.HTTPRequest
	denied   []abi.Function
}

func (h *grantHost) Allowed(fn abi.Function) bool { return h.allow[fn] }

func (h *grantHost) Call(_ context.Context, fn abi.Function, req []byte) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if fn != abi.FuncHTTPRequest {
		b, _ := json.Marshal(abi.ErrorResponse{Error: &abi.Error{Code: abi.CodeForbidden, Message: "unexpected"}})
		return b
	}
	var r abi.HTTPRequest
	if err := json.Unmarshal(req, &r); err != nil {
		b, _ := json.Marshal(abi.ErrorResponse{Error: &abi.Error{Code: abi.CodeBadRequest, Message: err.Error()}})
		return b
	}
	h.requests = append(h.requests, r)
	b, _ := json.Marshal(h.answer)
	return b
}

func (h *grantHost) Denied(_ context.Context, fn abi.Function) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.denied = append(h.denied, fn)
}

// sandbox builds the plugin to Wasm, checks it against its manifest the way
// an install does, and loads it into a fresh engine.
func sandbox(t *testing.T) (*runtime.Engine, *runtime.Module, *bundle.Compiled) {
	t.Helper()
	ctx := context.Background()
	wasm := wasmbuild.Build(t, "plugins/starlark")

	raw, err := os.ReadFile("manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := bundle.ParseTemplate(raw)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	compiled, err := bundle.Compile(raw, m)
	if err != nil {
		t.Fatalf("manifest schemas: %v", err)
	}

	e, err := runtime.New(ctx, runtime.Config{
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxMemoryPages: sandboxMemoryPages,
		MaxTimeout:     time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })

	info, err := e.Inspect(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	imports := make([]bundle.Import, 0, len(info.Imports))
	for _, imp := range info.Imports {
		imports = append(imports, bundle.Import{Module: imp.Module, Name: imp.Name})
	}
	if err := bundle.CheckImports(m, imports); err != nil {
		t.Fatalf("the module would be refused at install: %v", err)
	}
	if err := bundle.CheckExports(m, info.Exports); err != nil {
		t.Fatalf("the module would be refused at install: %v", err)
	}

	mod, err := e.Load(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	return e, mod, compiled
}

func TestSandbox(t *testing.T) {
	e, mod, compiled := sandbox(t)

	httpOK := func() *grantHost {
		return &grantHost{allow: map[abi.Function]bool{abi.FuncHTTPRequest: true},
			answer: abi.HTTPResponse{Status: 200, Headers: map[string]string{}, Body: []byte(`{"n": 41}`)}}
	}
	noGrant := func() *grantHost { return &grantHost{allow: map[abi.Function]bool{}} }

	tests := []struct {
		name   string
		tool   string
		code   string
		input  string
		host   *grantHost
		want   string // exact output JSON; "" when a failure is expected
		reason []abi.FailureReason
		msg    string // in the failure message
		check  func(t *testing.T, h *grantHost)
	}{
		{name: "arithmetic", tool: "run", host: noGrant(),
			code: "result = 0\nfor i in range(10):\n  result += i * i\nprint('done')",
			want: `{"result":285,"prints":["done"]}`},
		{name: "json round trip", tool: "run", host: noGrant(),
			input: `{"b":[1,2.5,"x",null,true],"a":{"big":123456789012345678901234567890}}`,
			code:  "result = [input, json.decode(json.encode(input))]",
			// json.encode sorts keys; input itself keeps the document's order.
			want: `{"result":[{"b":[1,2.5,"x",null,true],"a":{"big":123456789012345678901234567890}},` +
				`{"a":{"big":123456789012345678901234567890},"b":[1,2.5,"x",null,true]}],"prints":[]}`},
		{name: "infinite loop", tool: "run", host: noGrant(),
			code:   "for i in range(1000000000000):\n  pass",
			reason: []abi.FailureReason{abi.ReasonTrap, abi.ReasonTimeout}},
		{name: "memory bomb by list growth", tool: "run", host: noGrant(),
			code:   "x = []\nfor i in range(1000000000):\n  x.append('a' * 100000 + str(i))",
			reason: []abi.FailureReason{abi.ReasonMemory, abi.ReasonTrap}},
		{name: "memory bomb by string doubling", tool: "run", host: noGrant(),
			code:   "s = 'a'\nfor i in range(40):\n  s = s + s",
			reason: []abi.FailureReason{abi.ReasonMemory, abi.ReasonTrap}},
		{name: "memory bomb by one repeat", tool: "run", host: noGrant(),
			code:   `x = "a" * (1 << 30)`,
			reason: []abi.FailureReason{abi.ReasonMemory, abi.ReasonTrap}},
		{name: "run calling http_get", tool: "run", host: httpOK(),
			code:   "result = http_get('https://api.example.org/')",
			reason: []abi.FailureReason{abi.ReasonTrap}, msg: "undefined: http_get",
			check: func(t *testing.T, h *grantHost) {
				if len(h.requests) != 0 {
					t.Errorf("host saw %d requests from run, want none", len(h.requests))
				}
			}},
		{name: "run_http fetches through the host", tool: "run_http", host: httpOK(),
			code: "r = http_get('https://api.example.org/n')\nresult = json.decode(r['body'])['n'] + 1",
			want: `{"result":42,"prints":[]}`,
			check: func(t *testing.T, h *grantHost) {
				if len(h.requests) != 1 || h.requests[0].Method != "GET" || h.requests[0].URL != "https://api.example.org/n" {
					t.Errorf("host saw %+v, want one GET of https://api.example.org/n", h.requests)
				}
			}},
		{name: "run_http under a grant without http", tool: "run_http", host: noGrant(),
			code:   "http_get('https://api.example.org/')",
			reason: []abi.FailureReason{abi.ReasonTrap}, msg: "in http_get: host: forbidden",
			check: func(t *testing.T, h *grantHost) {
				if len(h.denied) != 1 || h.denied[0] != abi.FuncHTTPRequest {
					t.Errorf("host denied %v, want [http_request]", h.denied)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input, err := json.Marshal(runInput{Code: tt.code, Input: json.RawMessage(tt.input)})
			if err != nil {
				t.Fatal(err)
			}
			out, err := e.Invoke(context.Background(), mod, runtime.Call{
				Export: tt.tool, Input: input, Limits: sandboxLimits, Host: tt.host})
			if tt.want != "" {
				if err != nil {
					t.Fatalf("invoke: %v", err)
				}
				if string(out) != tt.want {
					t.Errorf("output = %s, want %s", out, tt.want)
				}
				validateOutput(t, compiled, tt.tool, out)
			} else {
				var f *runtime.Failure
				if !errors.As(err, &f) {
					t.Fatalf("error = %v (output %s), want a runtime.Failure", err, out)
				}
				if !hasReason(tt.reason, f.Reason) {
					t.Errorf("failure = %v, want reason in %v", f, tt.reason)
				}
				if !strings.Contains(f.Message, tt.msg) {
					t.Errorf("failure message = %q, want it to contain %q", f.Message, tt.msg)
				}
				t.Logf("stopped: %v", f)
			}
			if tt.check != nil {
				tt.check(t, tt.host)
			}
			// Whatever the script did, the host serves the next call.
			out, err = e.Invoke(context.Background(), mod, runtime.Call{Export: "run",
				Input: []byte(`{"code":"result = input","input":"still here"}`), Limits: sandboxLimits})
			if err != nil || string(out) != `{"result":"still here","prints":[]}` {
				t.Fatalf("next call: %s, %v", out, err)
			}
		})
	}
}

func hasReason(rs []abi.FailureReason, r abi.FailureReason) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

func validateOutput(t *testing.T, c *bundle.Compiled, tool string, out []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	ct := c.Tools["starlark/"+tool]
	if ct == nil {
		t.Fatalf("tool %s not in the manifest", tool)
	}
	if err := ct.ValidateOutput(v); err != nil {
		t.Errorf("output does not match the manifest's output schema: %v", err)
	}
}
