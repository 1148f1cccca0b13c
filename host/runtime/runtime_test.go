package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/airlock-dev/airlock/internal/wasmbuild"
)

// Plugins the tests run, by short name.
var pluginDirs = map[string]string{
	"echo":      "plugins/echo",
	"web":       "plugins/web",
	"spin":      "host/runtime/testdata/plugins/spin",
	"memhog":    "host/runtime/testdata/plugins/memhog",
	"isolation": "host/runtime/testdata/plugins/isolation",
	"forbidden": "host/runtime/testdata/plugins/forbidden",
	"hostcall":  "host/runtime/testdata/plugins/hostcall",
}

// hostMaxTimeout is long enough that a tool stopped at its own (short) limit
// can be told apart from one stopped by the host maximum.
const hostMaxTimeout = 2 * time.Minute

// callTimeout is generous: instances start slowly under the race detector on
// a shared machine.
const callTimeout = time.Minute

var shared struct {
	once    sync.Once
	engine  *Engine
	modules map[string]*Module
	wasm    map[string][]byte
	err     error
}

// TestMain closes the shared engine after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared.engine != nil {
		_ = shared.engine.Close(context.Background())
	}
	os.Exit(code)
}

// fixture returns the engine shared by the tests and every test plugin,
// each compiled once per test binary (concurrently, to use both cores).
func fixture(t *testing.T) (*Engine, map[string]*Module) {
	t.Helper()
	shared.once.Do(func() {
		// Stays set if a build below ends the test early.
		shared.err = errors.New("fixture setup did not finish")
		ctx := context.Background()
		shared.wasm = map[string][]byte{}
		for name, dir := range pluginDirs {
			shared.wasm[name] = wasmbuild.Build(t, dir)
		}
		e, err := New(ctx, Config{
			Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
			MaxTimeout: hostMaxTimeout,
		})
		if err != nil {
			shared.err = err
			return
		}
		shared.err = nil
		shared.engine = e
		shared.modules = map[string]*Module{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 2)
		for name, wasm := range shared.wasm {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				m, err := e.Load(ctx, wasm)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					shared.err = errors.Join(shared.err, err)
					return
				}
				shared.modules[name] = m
			}()
		}
		wg.Wait()
	})
	if shared.err != nil {
		t.Fatalf("fixture: %v", shared.err)
	}
	return shared.engine, shared.modules
}

// recorder is a HostHandler that allows some functions, answers with a
// fixed function, and records what it saw.
type recorder struct {
	allow  map[abi.Function]bool
	answer func(fn abi.Function, req []byte) []byte

	mu     sync.Mutex
	calls  []hostCall
	denied []abi.Function
}

type hostCall struct {
	fn  abi.Function
	req []byte
}

func (r *recorder) Allowed(fn abi.Function) bool { return r.allow[fn] }

func (r *recorder) Call(_ context.Context, fn abi.Function, req []byte) []byte {
	r.mu.Lock()
	r.calls = append(r.calls, hostCall{fn: fn, req: req})
	r.mu.Unlock()
	if r.answer == nil {
		return []byte(`{}`)
	}
	return r.answer(fn, req)
}

func (r *recorder) Denied(_ context.Context, fn abi.Function) {
	r.mu.Lock()
	r.denied = append(r.denied, fn)
	r.mu.Unlock()
}

func invoke(t *testing.T, e *Engine, m *Module, c Call) ([]byte, error) {
	t.Helper()
	if c.Limits.Timeout == 0 {
		c.Limits.Timeout = callTimeout
	}
	return e.Invoke(context.Background(), m, c)
}

func wantFailure(t *testing.T, err error, reason abi.FailureReason) *Failure {
	t.Helper()
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("error = %v, want a *Failure with reason %s", err, reason)
	}
	if f.Reason != reason {
		t.Fatalf("reason = %s (%q), want %s", f.Reason, f.Message, reason)
	}
	return f
}

// echoStillWorks checks that the engine serves a normal call after a failed
// one.
func echoStillWorks(t *testing.T, e *Engine, mods map[string]*Module) {
	t.Helper()
	out, err := invoke(t, e, mods["echo"], Call{Export: "echo", Input: []byte(`{"message":"still here"}`)})
	if err != nil {
		t.Fatalf("echo after failure: %v", err)
	}
	if string(out) != `{"message":"still here"}` {
		t.Fatalf("echo after failure = %s", out)
	}
}

func TestEchoRoundTrip(t *testing.T) {
	e, mods := fixture(t)
	tests := []struct {
		name   string
		input  string
		want   string
		reason abi.FailureReason // "" = success
		msg    string            // substring of Failure.Message
	}{
		{name: "plain message", input: `{"message":"hello"}`, want: `{"message":"hello"}`},
		{name: "unicode and markup", input: `{"message":"héllo <b>\u2603</b>"}`, want: `{"message":"héllo \u003cb\u003e☃\u003c/b\u003e"}`},
		{name: "empty message", input: `{"message":""}`, want: `{"message":""}`},
		{name: "unknown field smuggled in", input: `{"message":"x","admin":true}`, reason: abi.ReasonTrap, msg: "unknown field"},
		{name: "trailing second document", input: `{"message":"x"}{"message":"y"}`, reason: abi.ReasonTrap, msg: "trailing data"},
		{name: "not JSON", input: `message=x`, reason: abi.ReasonTrap, msg: "invalid input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := invoke(t, e, mods["echo"], Call{Export: "echo", Input: []byte(tt.input)})
			if tt.reason != "" {
				f := wantFailure(t, err, tt.reason)
				if !strings.Contains(f.Message, tt.msg) {
					t.Fatalf("message = %q, want it to contain %q", f.Message, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Fatalf("output = %s, want %s", out, tt.want)
			}
		})
	}
}

type probe struct {
	Global  int    `json:"global"`
	Heap    string `json:"heap"`
	Rand    int64  `json:"rand"`
	NowUnix int64  `json:"now_unix"`
	Env     int    `json:"env"`
	Args    int    `json:"args"`
	RootFS  bool   `json:"root_fs"`
}

// TestFreshInstancePerCall calls a tool that leaves marks in its globals and
// heap 50 times, two calls at a time on the same Module: no call may see
// another's marks, randomness must be real and the sandbox empty.
func TestFreshInstancePerCall(t *testing.T) {
	e, mods := fixture(t)
	const calls = 50
	probes := make([]probe, calls)
	errs := make([]error, calls)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out, err := e.Invoke(context.Background(), mods["isolation"],
					Call{Export: "probe", Input: []byte(`{}`), Limits: Limits{Timeout: callTimeout}})
				if err == nil {
					err = json.Unmarshal(out, &probes[i])
				}
				errs[i] = err
			}
		}()
	}
	for i := range calls {
		next <- i
	}
	close(next)
	wg.Wait()

	seen := map[int64]bool{}
	now := time.Now().Unix()
	for i, p := range probes {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		checks := []struct {
			threat string
			bad    bool
		}{
			{"global survived from an earlier call", p.Global != 0},
			{"heap value survived from an earlier call", p.Heap != ""},
			{"host environment leaked into the sandbox", p.Env != 0},
			{"host arguments leaked into the sandbox", p.Args != 0},
			{"host file system visible in the sandbox", p.RootFS},
			{"fake clock instead of the host's", p.NowUnix < now-86400 || p.NowUnix > now+86400},
		}
		for _, c := range checks {
			if c.bad {
				t.Errorf("call %d: %s: %+v", i, c.threat, p)
			}
		}
		seen[p.Rand] = true
	}
	if len(seen) != calls {
		t.Errorf("deterministic random source: %d distinct math/rand values in %d fresh instances", len(seen), calls)
	}
}

func TestInfiniteLoopIsStoppedAtItsDeadline(t *testing.T) {
	e, mods := fixture(t)
	_, err := e.Invoke(context.Background(), mods["spin"], Call{Export: "spin", Input: []byte(`{}`),
		Limits: Limits{Timeout: time.Second}})
	f := wantFailure(t, err, abi.ReasonTimeout)
	// Stopped by its own 1s limit, not by the host maximum.
	if !strings.Contains(f.Message, "of 1s") {
		t.Fatalf("message = %q, want the call's 1s limit", f.Message)
	}
	echoStillWorks(t, e, mods)
}

func TestCallerCancelIsNotAToolFailure(t *testing.T) {
	e, mods := fixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Invoke(ctx, mods["spin"], Call{Export: "spin", Limits: Limits{Timeout: time.Second}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	var f *Failure
	if errors.As(err, &f) {
		t.Fatalf("caller's cancel reported as a tool failure: %v", f)
	}
}

func TestMemoryExhaustion(t *testing.T) {
	e, mods := fixture(t)
	tests := []struct {
		name  string
		pages uint32
	}{
		{name: "heap grows past a 16 MiB limit", pages: 256},
		{name: "limit below the module's declared minimum", pages: 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := invoke(t, e, mods["memhog"], Call{Export: "memhog", Limits: Limits{MemoryPages: tt.pages}})
			wantFailure(t, err, abi.ReasonMemory)
			echoStillWorks(t, e, mods)
		})
	}
}

func TestOutputOverLimit(t *testing.T) {
	e, mods := fixture(t)
	msg := strings.Repeat("a", 4096)
	_, err := invoke(t, e, mods["echo"], Call{Export: "echo", Input: []byte(`{"message":"` + msg + `"}`),
		Limits: Limits{MaxOutputBytes: 1024}})
	wantFailure(t, err, abi.ReasonOutputSize)
}

func TestUngrantedHostFunction(t *testing.T) {
	e, mods := fixture(t)
	tests := []struct {
		name string
		host HostHandler
	}{
		{name: "http_request without the http capability", host: &recorder{allow: map[abi.Function]bool{abi.FuncLog: true}}},
		{name: "call without any host handler", host: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := invoke(t, e, mods["forbidden"], Call{Export: "fetch", Input: []byte(`{}`), Host: tt.host})
			if err != nil {
				t.Fatal(err)
			}
			var got struct{ Code, Message string }
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if got.Code != string(abi.CodeForbidden) || got.Message != "host function http_request not granted" {
				t.Fatalf("guest got %+v, want the forbidden answer", got)
			}
			if r, ok := tt.host.(*recorder); ok {
				if len(r.calls) != 0 {
					t.Fatalf("denied function ran: %v", r.calls)
				}
				if len(r.denied) != 1 || r.denied[0] != abi.FuncHTTPRequest {
					t.Fatalf("Denied saw %v, want [http_request]", r.denied)
				}
			}
		})
	}
}

func TestExtismOwnHTTPIsDenyAll(t *testing.T) {
	e, mods := fixture(t)
	host := &recorder{allow: map[abi.Function]bool{abi.FuncHTTPRequest: true}}
	_, err := invoke(t, e, mods["forbidden"], Call{Export: "extism_http", Host: host})
	f := wantFailure(t, err, abi.ReasonTrap)
	if !strings.Contains(f.Message, "not allowed") {
		t.Fatalf("message = %q, want Extism's refusal", f.Message)
	}
	if strings.Contains(f.Message, "\n") || len(f.Message) > maxFailureMessage {
		t.Fatalf("message not short and single-line: %q", f.Message)
	}
}

func TestHostCallGetsACopyOfTheRequest(t *testing.T) {
	e, mods := fixture(t)
	tests := []struct {
		name       string
		message    string
		wantAnswer string
		wantCalls  int
	}{
		{name: "guest rewrites its request after the call", message: "hello host",
			wantAnswer: `{"echo":"from host"}`, wantCalls: 1},
		{name: "oversized request", message: strings.Repeat("x", MaxHostRequestBytes),
			wantAnswer: `{"error":{"code":"too_large","message":"request to log over 1048576 bytes"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := &recorder{
				allow:  map[abi.Function]bool{abi.FuncLog: true},
				answer: func(abi.Function, []byte) []byte { return []byte(`{"echo":"from host"}`) },
			}
			in, _ := json.Marshal(map[string]string{"message": tt.message})
			out, err := invoke(t, e, mods["hostcall"], Call{Export: "hostcall", Input: in, Host: host})
			if err != nil {
				t.Fatal(err)
			}
			var got struct{ Answer string }
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if got.Answer != tt.wantAnswer {
				t.Fatalf("guest got %q, want %q", got.Answer, tt.wantAnswer)
			}
			if len(host.calls) != tt.wantCalls {
				t.Fatalf("handler called %d times, want %d", len(host.calls), tt.wantCalls)
			}
			if tt.wantCalls == 0 {
				return
			}
			// The guest overwrote its request block with 'X' after the
			// call; the handler's bytes must be unchanged.
			want, _ := json.Marshal(abi.LogRequest{Level: abi.LogInfo, Message: tt.message})
			if c := host.calls[0]; c.fn != abi.FuncLog || !bytes.Equal(c.req, want) {
				t.Fatalf("handler got %s %q, want log %q", c.fn, c.req, want)
			}
		})
	}
}

// TestWebFetch runs the first-party web plugin against a fake http_request.
func TestWebFetch(t *testing.T) {
	e, mods := fixture(t)
	// 80 KiB of 2-byte runes after one ASCII byte: the 64 KiB cut falls
	// inside a rune.
	longBody := append([]byte("a"), bytes.Repeat([]byte("é"), 40<<10)...)
	tests := []struct {
		name     string
		input    string
		answer   any // the fake http_request answer
		want     string
		wantFail string // substring of a trap message
		wantReq  string // the request the plugin sent
	}{
		{
			name:    "get a page",
			input:   `{"url":"https://example.org/a?b=c"}`,
			answer:  abi.HTTPResponse{Status: 200, Headers: map[string]string{"content-type": "text/plain"}, Body: []byte("hi")},
			want:    `{"status":200,"content_type":"text/plain","body":"hi"}`,
			wantReq: `{"method":"GET","url":"https://example.org/a?b=c"}`,
		},
		{
			name:    "body over 64 KiB is cut on a rune boundary",
			input:   `{"url":"http://example.org/","method":"head"}`,
			answer:  abi.HTTPResponse{Status: 200, Headers: map[string]string{}, Body: longBody},
			want:    `{"status":200,"content_type":"","body":"a` + strings.Repeat("é", 32<<10-1) + `"}`,
			wantReq: `{"method":"HEAD","url":"http://example.org/"}`,
		},
		{
			name:    "binary body becomes valid text",
			input:   `{"url":"http://example.org/"}`,
			answer:  abi.HTTPResponse{Status: 500, Headers: map[string]string{"Content-Type": "x/y"}, Body: []byte{'a', 0xff, 'b'}},
			want:    "{\"status\":500,\"content_type\":\"x/y\",\"body\":\"a\uFFFDb\"}",
			wantReq: `{"method":"GET","url":"http://example.org/"}`,
		},
		{
			name:     "host refuses the destination",
			input:    `{"url":"http://169.254.169.254/latest/meta-data"}`,
			answer:   abi.ErrorResponse{Error: &abi.Error{Code: abi.CodeForbidden, Message: "destination not allowed"}},
			wantFail: "forbidden: destination not allowed",
			wantReq:  `{"method":"GET","url":"http://169.254.169.254/latest/meta-data"}`,
		},
		{name: "method that writes", input: `{"url":"http://example.org/","method":"POST"}`, wantFail: "GET or HEAD"},
		{name: "file URL", input: `{"url":"file:///etc/passwd"}`, wantFail: "http or https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := &recorder{
				allow: map[abi.Function]bool{abi.FuncHTTPRequest: true},
				answer: func(abi.Function, []byte) []byte {
					b, _ := json.Marshal(tt.answer)
					return b
				},
			}
			out, err := invoke(t, e, mods["web"], Call{Export: "fetch", Input: []byte(tt.input), Host: host})
			if tt.wantReq == "" && len(host.calls) != 0 {
				t.Fatalf("plugin sent a request it should have refused: %s", host.calls[0].req)
			}
			if tt.wantReq != "" && (len(host.calls) != 1 || string(host.calls[0].req) != tt.wantReq) {
				t.Fatalf("plugin sent %v, want %s", host.calls, tt.wantReq)
			}
			if tt.wantFail != "" {
				f := wantFailure(t, err, abi.ReasonTrap)
				if !strings.Contains(f.Message, tt.wantFail) {
					t.Fatalf("message = %q, want %q", f.Message, tt.wantFail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Fatalf("output = %.200s, want %.200s", out, tt.want)
			}
		})
	}
}

// TestModulesImportOnlyTheHostFunctionsTheyCall checks that Go's linker
// drops the SDK's unused host imports, so a module declares exactly what it
// uses.
func TestModulesImportOnlyTheHostFunctionsTheyCall(t *testing.T) {
	e, _ := fixture(t)
	tests := []struct {
		plugin string
		want   []string // extism:host/user imports
		export string
	}{
		{plugin: "echo", want: nil, export: "echo"},
		{plugin: "isolation", want: []string{"log"}, export: "probe"},
		{plugin: "web", want: []string{"http_request"}, export: "fetch"},
		{plugin: "forbidden", want: []string{"http_request"}, export: "fetch"},
	}
	for _, tt := range tests {
		t.Run(tt.plugin, func(t *testing.T) {
			info, err := e.Inspect(context.Background(), shared.wasm[tt.plugin])
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, imp := range info.Imports {
				if imp.Module == abi.HostModule {
					got = append(got, imp.Name)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("%s imports %v from %s, want %v", tt.plugin, got, abi.HostModule, tt.want)
			}
			found := false
			for _, x := range info.Exports {
				found = found || x == tt.export
			}
			if !found {
				t.Fatalf("exports %v lack %q", info.Exports, tt.export)
			}
		})
	}
}

func TestInspectRefusesGarbage(t *testing.T) {
	e, _ := fixture(t)
	tests := []struct {
		name string
		wasm []byte
	}{
		{name: "empty", wasm: nil},
		{name: "not wasm", wasm: []byte("#!/bin/sh\nrm -rf /\n")},
		{name: "magic only", wasm: []byte("\x00asm")},
		{name: "truncated section", wasm: []byte("\x00asm\x01\x00\x00\x00\x01\x05\x01")},
		{name: "section size past the end", wasm: []byte("\x00asm\x01\x00\x00\x00\x01\xff\xff\xff\xff\x0f")},
		{name: "memory minimum over the host limit", wasm: []byte("\x00asm\x01\x00\x00\x00\x05\x04\x01\x00\x80\x20")},
		{name: "truncated real module", wasm: shared.wasm["echo"][:len(shared.wasm["echo"])/2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.Inspect(context.Background(), tt.wasm); !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("Inspect error = %v, want ErrInvalidModule", err)
			}
			if _, err := e.Load(context.Background(), tt.wasm); !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("Load error = %v, want ErrInvalidModule", err)
			}
		})
	}
}

func TestLoadIsCachedBySHA256(t *testing.T) {
	e, mods := fixture(t)
	wasm := shared.wasm["echo"]
	m, err := e.Load(context.Background(), bytes.Clone(wasm))
	if err != nil {
		t.Fatal(err)
	}
	if m != mods["echo"] {
		t.Fatal("loading the same bytes again compiled a new Module")
	}
	sum := sha256.Sum256(wasm)
	if m.SHA256() != hex.EncodeToString(sum[:]) {
		t.Fatalf("SHA256 = %s", m.SHA256())
	}
}

func TestInvokeRefusesNonToolExports(t *testing.T) {
	e, mods := fixture(t)
	for _, export := range []string{"_initialize", "_start", "memory", "no_such_tool", ""} {
		t.Run(export, func(t *testing.T) {
			if _, err := invoke(t, e, mods["echo"], Call{Export: export}); !errors.Is(err, ErrNoExport) {
				t.Fatalf("error = %v, want ErrNoExport", err)
			}
		})
	}
}

func TestLimitsAreClampedToTheHostMaximum(t *testing.T) {
	e := &Engine{cfg: Config{MaxMemoryPages: 100, MaxTimeout: time.Second, MaxOutputBytes: 10}}
	tests := []struct {
		name string
		in   Limits
		want Limits
	}{
		{name: "zero means host maximum", in: Limits{}, want: Limits{100, time.Second, 10}},
		{name: "grant asks for more than the host allows", in: Limits{1000, time.Hour, 1 << 30}, want: Limits{100, time.Second, 10}},
		{name: "negative values", in: Limits{0, -time.Second, -1}, want: Limits{100, time.Second, 10}},
		{name: "smaller limits are kept", in: Limits{50, time.Millisecond, 5}, want: Limits{50, time.Millisecond, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.limits(tt.in); got != tt.want {
				t.Fatalf("limits(%+v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestSafeMessage(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "plain", in: "boom", want: "boom"},
		{name: "log injection with newlines", in: "a\nFAKE LOG LINE\r\n", want: "a FAKE LOG LINE  "},
		{name: "invalid UTF-8", in: "a\xffb", want: "a\uFFFDb"},
		{name: "oversized message", in: strings.Repeat("é", 400), want: strings.Repeat("é", 256)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := safeMessage(tt.in); got != tt.want {
				t.Fatalf("safeMessage = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzInspect(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x07\x05\x01\x01f\x00\x00\x0a\x04\x01\x02\x00\x0b"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x02\x0b\x01\x03env\x03log\x00\x00"))
	e, err := New(context.Background(), Config{MaxMemoryPages: 256})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = e.Close(context.Background()) })
	f.Fuzz(func(t *testing.T, wasm []byte) {
		info, err := e.Inspect(context.Background(), wasm)
		if err == nil && info == nil {
			t.Fatal("nil info without error")
		}
		if err != nil && !errors.Is(err, ErrInvalidModule) {
			t.Fatalf("error %v does not wrap ErrInvalidModule", err)
		}
	})
}
