package runtime

// Benchmarks of one echo call at the runtime layer (BENCHMARKS.md):
//
//   - BenchmarkReusedInstance: one Extism instance, called b.N times. This is
//     a lower bound on the cost of a call, NOT how Airlock runs tools: state
//     survives between calls, which DESIGN §3 forbids.
//   - BenchmarkFreshInstance: Engine.Invoke, a fresh instance per call, closed
//     afterwards (what Airlock does).
//
// Both use the same compiled module (same wazero compilation, memory limit,
// host functions and WASI sandbox), so their ratio is the price of isolation.
// The identifiers of this file start with "bench" so they cannot clash with
// the package's other tests.

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/wasmbuild"
	extism "github.com/extism/go-sdk"
)

const (
	// benchPages is the echo manifest's memory limit (32 MiB), the limit an
	// intent for echo/echo runs under.
	benchPages   = 32 * 16
	benchTimeout = 30 * time.Second
)

var benchInput = []byte(`{"message":"hello from the benchmark"}`)

// benchShared is built once per test binary: a benchmark function runs
// several times (once per b.N), and compiling the Go echo module takes
// seconds. It is not closed; the process exit releases it.
var benchShared struct {
	once   sync.Once
	engine *Engine
	echo   *Module
	err    error
}

func benchEcho(b *testing.B) (*Engine, *Module) {
	b.Helper()
	wasm := wasmbuild.Build(b, "plugins/echo")
	benchShared.once.Do(func() {
		ctx := context.Background()
		e, err := New(ctx, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			benchShared.err = err
			return
		}
		m, err := e.Load(ctx, wasm)
		if err != nil {
			benchShared.err = err
			return
		}
		benchShared.engine, benchShared.echo = e, m
	})
	if benchShared.err != nil {
		b.Fatalf("echo fixture: %v", benchShared.err)
	}
	return benchShared.engine, benchShared.echo
}

// benchCheckEcho fails the benchmark unless out is the echo of benchInput,
// so a broken call can never be timed as a fast one.
func benchCheckEcho(b *testing.B, out []byte) {
	b.Helper()
	if !bytes.Equal(out, benchInput) {
		b.Fatalf("echo answered %q, want %q", out, benchInput)
	}
}

// BenchmarkReusedInstance calls echo b.N times in ONE instance: a lower
// bound, not isolated.
func BenchmarkReusedInstance(b *testing.B) {
	_, m := benchEcho(b)
	ctx := context.Background()
	cp, err := m.plugin(ctx, benchPages)
	if err != nil {
		b.Fatal(err)
	}
	callCtx, cancel := context.WithTimeout(ctx, benchTimeout)
	defer cancel()
	callCtx = context.WithValue(callCtx, handlerKey{}, HostHandler(denyAll{}))
	stderr := &headBuffer{max: 4 << 10}
	p, err := cp.Instance(callCtx, extism.PluginInstanceConfig{ModuleConfig: sandboxConfig(stderr)})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(ctx)
	p.SetLogger(func(extism.LogLevel, string) {})

	// The first call runs the module's initialisation; keep it out of the
	// timing.
	if _, out, err := p.CallWithContext(callCtx, "echo", benchInput); err != nil {
		b.Fatal(err)
	} else {
		benchCheckEcho(b, out)
	}
	for b.Loop() {
		rc, out, err := p.CallWithContext(callCtx, "echo", benchInput)
		if err != nil || rc != 0 {
			b.Fatalf("call: rc %d, %v", rc, err)
		}
		benchCheckEcho(b, out)
	}
}

// BenchmarkFreshInstance runs echo through Engine.Invoke: a fresh instance
// per call, as Airlock runs every tool.
func BenchmarkFreshInstance(b *testing.B) {
	e, m := benchEcho(b)
	ctx := context.Background()
	call := Call{
		Export: "echo",
		Input:  benchInput,
		Limits: Limits{MemoryPages: benchPages, Timeout: benchTimeout},
	}
	// Compile for this memory limit outside the timing.
	if out, err := e.Invoke(ctx, m, call); err != nil {
		b.Fatal(err)
	} else {
		benchCheckEcho(b, out)
	}
	for b.Loop() {
		out, err := e.Invoke(ctx, m, call)
		if err != nil {
			b.Fatal(err)
		}
		benchCheckEcho(b, out)
	}
}
