package runtime

// Benchmarks of one tool call at the runtime layer (BENCHMARKS.md), each
// for a trivial tool and for echo (small JSON):
//
//   - BenchmarkReusedInstance: one Extism instance, called b.N times. This is
//     a lower bound on the cost of a call, NOT how Airlock runs tools: state
//     survives between calls, which DESIGN §3 forbids.
//   - BenchmarkFreshInstance: the fallback path of Engine.Invoke, a fresh
//     go-sdk instance per call, closed afterwards (the naive fresh state).
//   - BenchmarkFreshState: Engine.Invoke on the fresh-state path, a pooled
//     instance restored to its post-initialisation snapshot (what Airlock
//     does where it can).
//
// The first two use the same compiled module (same wazero compilation,
// memory limit, host functions and WASI sandbox), so their ratio is the
// price of naive isolation; FreshInstance/FreshState is what the
// fresh-state path saves.
// The identifiers of this file start with "bench" so they cannot clash with
// the package's other tests.

import (
	"bytes"
	"context"
	"github.com/airlock-dev/airlock/internal/proccpu"
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

// benchPlugin is one benchmarked tool: a call and its expected output.
type benchPlugin struct {
	name, dir, export string
	input, want       []byte
}

// benchPlugins are the benchmarked tools: a trivial one (Extism output, no
// JSON) and echo (a small JSON round trip through sdk/tool).
var benchPlugins = []benchPlugin{
	{name: "trivial", dir: "host/runtime/testdata/plugins/trivial", export: "run",
		input: []byte(`{}`), want: []byte("ok")},
	{name: "json", dir: "plugins/echo", export: "echo",
		input: []byte(`{"message":"hello from the benchmark"}`), want: []byte(`{"message":"hello from the benchmark"}`)},
}

// benchShared is built once per test binary: a benchmark function runs
// several times (once per b.N), and compiling a Go module takes seconds. It
// is not closed; the process exit releases it.
var benchShared struct {
	once    sync.Once
	engine  *Engine
	modules map[string]*Module
	err     error
}

func benchModules(b testing.TB) (*Engine, map[string]*Module) {
	b.Helper()
	wasm := map[string][]byte{}
	for _, p := range benchPlugins {
		wasm[p.name] = wasmbuild.Build(b, p.dir)
	}
	benchShared.once.Do(func() {
		ctx := context.Background()
		e, err := New(ctx, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			benchShared.err = err
			return
		}
		benchShared.engine, benchShared.modules = e, map[string]*Module{}
		for name, w := range wasm {
			m, err := e.Load(ctx, w)
			if err != nil {
				benchShared.err = err
				return
			}
			benchShared.modules[name] = m
		}
	})
	if benchShared.err != nil {
		b.Fatalf("benchmark fixture: %v", benchShared.err)
	}
	return benchShared.engine, benchShared.modules
}

// benchCheck fails the benchmark unless out is the plugin's expected
// output, so a broken call can never be timed as a fast one.
func benchCheck(b *testing.B, p benchPlugin, out []byte) {
	b.Helper()
	if !bytes.Equal(out, p.want) {
		b.Fatalf("%s answered %q, want %q", p.name, out, p.want)
	}
}

// BenchmarkReusedInstance calls each plugin b.N times in ONE go-sdk
// instance: a lower bound, not isolated.
func BenchmarkReusedInstance(b *testing.B) {
	_, mods := benchModules(b)
	for _, bp := range benchPlugins {
		b.Run(bp.name, func(b *testing.B) {
			ctx := context.Background()
			cp, err := mods[bp.name].plugin(ctx, benchPages)
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

			// The first call runs the module's initialisation; keep it out
			// of the timing.
			if _, out, err := p.CallWithContext(callCtx, bp.export, bp.input); err != nil {
				b.Fatal(err)
			} else {
				benchCheck(b, bp, out)
			}
			for b.Loop() {
				rc, out, err := p.CallWithContext(callCtx, bp.export, bp.input)
				if err != nil || rc != 0 {
					b.Fatalf("call: rc %d, %v", rc, err)
				}
				benchCheck(b, bp, out)
			}
		})
	}
}

// BenchmarkFreshInstance runs each plugin on the fallback path of
// Engine.Invoke: a fresh go-sdk instance per call, closed afterwards (the
// naive way to get fresh state).
func BenchmarkFreshInstance(b *testing.B) {
	e, mods := benchModules(b)
	for _, bp := range benchPlugins {
		b.Run(bp.name, func(b *testing.B) {
			ctx := context.Background()
			m := mods[bp.name]
			call := Call{Export: bp.export, Input: bp.input,
				Limits: Limits{MemoryPages: benchPages, Timeout: benchTimeout}}
			lim := e.limits(call.Limits)
			// Compile for this memory limit outside the timing.
			if out, err := e.invokeInstance(ctx, m, call, lim, denyAll{}); err != nil {
				b.Fatal(err)
			} else {
				benchCheck(b, bp, out)
			}
			for b.Loop() {
				out, err := e.invokeInstance(ctx, m, call, lim, denyAll{})
				if err != nil {
					b.Fatal(err)
				}
				benchCheck(b, bp, out)
			}
		})
	}
}

// BenchmarkFreshState runs each plugin through Engine.Invoke on the
// fresh-state path: a pooled instance restored to its post-initialisation
// snapshot after every call (what Airlock does where the path is
// available). The restore runs in the background after the call returns;
// its CPU time is in the process but not in the caller's latency, so the
// benchmark also reports cpu-ns/op (the process's user+system CPU time per
// call, restores included).
func BenchmarkFreshState(b *testing.B) {
	if !memoryImagesSupported {
		b.Skip("no fresh-state path on this platform")
	}
	e, mods := benchModules(b)
	for _, bp := range benchPlugins {
		b.Run(bp.name, func(b *testing.B) {
			ctx := context.Background()
			m := mods[bp.name]
			p := m.freshPool(ctx, benchPages, benchTimeout)
			if p == nil {
				b.Fatalf("%s does not take the fresh-state path", bp.name)
			}
			call := Call{Export: bp.export, Input: bp.input,
				Limits: Limits{MemoryPages: benchPages, Timeout: benchTimeout}}
			// Two calls outside the timing create the workers the loop
			// alternates between.
			for range 2 {
				if out, err := e.Invoke(ctx, m, call); err != nil {
					b.Fatal(err)
				} else {
					benchCheck(b, bp, out)
				}
			}
			p.restored.Wait()
			cpu0 := proccpu.Used()
			for b.Loop() {
				out, err := e.Invoke(ctx, m, call)
				if err != nil {
					b.Fatal(err)
				}
				benchCheck(b, bp, out)
			}
			p.restored.Wait()
			b.ReportMetric(float64(proccpu.Used()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
