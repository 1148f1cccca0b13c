package bench

// The price of isolation per tool, in three modes measured side by side in
// one run (BENCHMARKS.md, "Tools"):
//
//   - reused: one Extism instance called b.N times. A lower bound, NOT
//     isolated: memory and globals survive between calls (DESIGN §3 forbids
//     it).
//   - naive: a new Extism instance from the compiled module per call, closed
//     afterwards: the obvious way to get a clean state.
//   - fresh: runtime.Engine.Invoke, whatever Airlock's runtime does to give
//     every call a fresh state.
//
// reused and naive drive the Extism SDK directly, configured like the
// runtime's instances (memory limit, WASI sandbox, compilation cache, the
// Airlock host functions linked). Only this test file does so: host/runtime
// stays the only non-test importer of wazero and Extism (DESIGN §8).

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/runtime"
	"github.com/airlock-dev/airlock/internal/wasmbuild"
	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"
)

const (
	// toolPages is the memory limit of every tool call here: the echo
	// manifest's 32 MiB.
	toolPages   = 32 * 16
	toolTimeout = 30 * time.Second
)

// ASWasmEnv names a prebuilt AssemblyScript echo module; the default is
// build/bench/asecho.wasm under the repository root (`make bench-as`).
const ASWasmEnv = "AIRLOCK_BENCH_AS_WASM"

// errNotBuilt reports a benchmark tool whose module is not there.
var errNotBuilt = errors.New("not built")

// benchTool is one tool the tool benchmarks call.
type benchTool struct {
	name   string // row name in the results: go-trivial, go-echo, go-echo-cold, as-echo
	export string
	input  []byte
	want   []byte // the exact answer
	load   func(tb testing.TB) ([]byte, error)
}

var benchTools = []benchTool{
	{
		name: "go-trivial", export: "trivial", input: echoInput, want: []byte(`{"ok":true}`),
		load: func(tb testing.TB) ([]byte, error) { return wasmbuild.Build(tb, "bench/testdata/trivial"), nil },
	},
	{
		name: "go-echo", export: "echo", input: echoInput, want: echoInput,
		load: func(tb testing.TB) ([]byte, error) { return wasmbuild.Build(tb, "plugins/echo"), nil },
	},
	{
		name: "go-echo-cold", export: "echo", input: echoInput, want: echoInput,
		load: func(tb testing.TB) ([]byte, error) { return wasmbuild.Build(tb, "bench/testdata/coldecho"), nil },
	},
	{
		name: "as-echo", export: "echo", input: echoInput, want: echoInput,
		load: func(testing.TB) ([]byte, error) { return loadASEcho() },
	},
}

// loadASEcho reads the AssemblyScript echo module built by `make bench-as`.
func loadASEcho() ([]byte, error) {
	path := os.Getenv(ASWasmEnv)
	if path == "" {
		root, err := wasmbuild.RepoRoot()
		if err != nil {
			return nil, err
		}
		path = filepath.Join(root, "build", "bench", "asecho.wasm")
	}
	wasm, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is missing; `make bench-as` builds it (needs npm)", errNotBuilt, path)
	}
	return wasm, err
}

// toolFixture is one tool loaded for every mode: an Engine module for
// fresh, an Extism compiled plugin for reused and naive.
type toolFixture struct {
	tool   benchTool
	engine *runtime.Engine
	module *runtime.Module
	plugin *extism.CompiledPlugin
}

var toolFixtures struct {
	mu     sync.Mutex
	engine *runtime.Engine
	cache  wazero.CompilationCache
	byName map[string]*toolFixture
}

// loadTool compiles t once per test binary. The fixtures are never closed:
// the process exit releases them. A tool whose module is not built skips.
func loadTool(tb testing.TB, t benchTool) *toolFixture {
	tb.Helper()
	toolFixtures.mu.Lock()
	defer toolFixtures.mu.Unlock()
	if f, ok := toolFixtures.byName[t.name]; ok {
		return f
	}
	wasm, err := t.load(tb)
	if errors.Is(err, errNotBuilt) {
		tb.Skipf("%s: %v", t.name, err)
	}
	if err != nil {
		tb.Fatalf("%s: %v", t.name, err)
	}
	ctx := context.Background()
	if toolFixtures.engine == nil {
		e, err := runtime.New(ctx, runtime.Config{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			tb.Fatal(err)
		}
		toolFixtures.engine, toolFixtures.cache = e, wazero.NewCompilationCache()
		toolFixtures.byName = map[string]*toolFixture{}
	}
	m, err := toolFixtures.engine.Load(ctx, wasm)
	if err != nil {
		tb.Fatalf("%s: runtime.Engine cannot load it: %v", t.name, err)
	}
	cp, err := compileDirect(ctx, toolFixtures.cache, wasm, toolPages)
	if err != nil {
		tb.Fatalf("%s: %v", t.name, err)
	}
	f := &toolFixture{tool: t, engine: toolFixtures.engine, module: m, plugin: cp}
	toolFixtures.byName[t.name] = f
	return f
}

// compileDirect compiles wasm with the Extism SDK the way host/runtime
// does: memory limit, close on context done, WASI, and Airlock's host
// functions linked (they refuse every call: no benchmark tool makes one).
func compileDirect(ctx context.Context, cache wazero.CompilationCache, wasm []byte, pages uint32) (*extism.CompiledPlugin, error) {
	rc := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(pages).
		WithCompilationCache(cache)
	fns := make([]extism.HostFunction, 0, len(abi.Functions))
	for _, fn := range abi.Functions {
		hf := extism.NewHostFunctionWithStack(fn.String(),
			func(ctx context.Context, p *extism.CurrentPlugin, stack []uint64) {
				panic(fmt.Sprintf("bench: host function %s called", fn))
			},
			[]extism.ValueType{extism.ValueTypeI64}, []extism.ValueType{extism.ValueTypeI64})
		hf.SetNamespace(abi.HostModule)
		fns = append(fns, hf)
	}
	return extism.NewCompiledPlugin(ctx, extism.Manifest{
		Wasm: []extism.Wasm{extism.WasmData{Data: wasm, Name: "main"}},
	}, extism.PluginConfig{RuntimeConfig: rc, EnableWasi: true}, fns)
}

// instance starts one Extism instance with the runtime's WASI sandbox.
func (f *toolFixture) instance(ctx context.Context) (*extism.Plugin, error) {
	mc := wazero.NewModuleConfig().
		WithRandSource(rand.Reader).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithStdin(bytes.NewReader(nil)).
		WithStdout(io.Discard).
		WithStderr(io.Discard)
	p, err := f.plugin.Instance(ctx, extism.PluginInstanceConfig{ModuleConfig: mc})
	if err != nil {
		return nil, err
	}
	p.SetLogger(func(extism.LogLevel, string) {})
	return p, nil
}

// callOn makes one call on p and checks the answer.
func (f *toolFixture) callOn(ctx context.Context, p *extism.Plugin) error {
	rc, out, err := p.CallWithContext(ctx, f.tool.export, f.tool.input)
	if err != nil || rc != 0 {
		return fmt.Errorf("%s: rc %d: %v", f.tool.name, rc, err)
	}
	return f.check(out)
}

func (f *toolFixture) check(out []byte) error {
	if !bytes.Equal(out, f.tool.want) {
		return fmt.Errorf("%s answered %q, want %q", f.tool.name, out, f.tool.want)
	}
	return nil
}

// naive makes one call in a new instance, closed afterwards.
func (f *toolFixture) naive(ctx context.Context) error {
	p, err := f.instance(ctx)
	if err != nil {
		return err
	}
	defer p.Close(context.WithoutCancel(ctx))
	return f.callOn(ctx, p)
}

// fresh makes one call through runtime.Engine.Invoke.
func (f *toolFixture) fresh(ctx context.Context) error {
	out, err := f.engine.Invoke(ctx, f.module, runtime.Call{
		Export: f.tool.export, Input: f.tool.input,
		Limits: runtime.Limits{MemoryPages: toolPages, Timeout: toolTimeout},
	})
	if err != nil {
		return err
	}
	return f.check(out)
}

// TestToolModes checks that every mode of every benchmark tool answers the
// expected bytes, so no mode can be timed while failing, and that the fresh
// mode does not leak state between calls of a tool that would show it.
func TestToolModes(t *testing.T) {
	ctx := context.Background()
	for _, bt := range benchTools {
		t.Run(bt.name, func(t *testing.T) {
			f := loadTool(t, bt)
			p, err := f.instance(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(ctx)
			for i := range 3 {
				if err := f.callOn(ctx, p); err != nil {
					t.Errorf("reused, call %d: %v", i, err)
				}
				if err := f.naive(ctx); err != nil {
					t.Errorf("naive, call %d: %v", i, err)
				}
				if err := f.fresh(ctx); err != nil {
					t.Errorf("fresh, call %d: %v", i, err)
				}
			}
		})
	}
}

// TestASEchoMatchesGoEcho checks that the AssemblyScript echo parses and
// answers like the Go one: same bytes for the same accepted input, a
// failure for input the Go SDK refuses.
func TestASEchoMatchesGoEcho(t *testing.T) {
	ctx := context.Background()
	as, goEcho := loadTool(t, benchTools[2]), loadTool(t, benchTools[1])
	inputs := []string{
		`{"message":"hello"}`,
		` { "message" : "spaces" } `,
		`{"message":"quote \" backslash \\ slash \/ tab \t nl \n"}`,
		`{"message":"html <b>&amp;</b> and \u2028 line sep"}`,
		`{"message":"unicode é \u00e9 \ud83d\ude00 emoji"}`,
		`{"message":"ctrl \u0001"}`,
		`{"message":""}`,
		`{"message":"x"} trailing`,
		`{"message":1}`,
		`{"other":"x"}`,
		`{"message":"x","other":"y"}`,
		`{"message":"unterminated}`,
		`[]`,
		``,
	}
	for _, in := range inputs {
		call := runtime.Call{Export: "echo", Input: []byte(in),
			Limits: runtime.Limits{MemoryPages: toolPages, Timeout: toolTimeout}}
		want, wantErr := goEcho.engine.Invoke(ctx, goEcho.module, call)
		got, gotErr := as.engine.Invoke(ctx, as.module, call)
		if (wantErr != nil) != (gotErr != nil) || !bytes.Equal(got, want) {
			t.Errorf("input %q: as-echo %q (%v), go-echo %q (%v)", in, got, gotErr, want, wantErr)
		}
		var f *runtime.Failure
		if gotErr != nil && !errors.As(gotErr, &f) {
			t.Errorf("input %q: as-echo failed with a host error %v, want a tool failure", in, gotErr)
		}
	}
}

// latencies records the duration of every iteration of a benchmark loop
// and reports the median, so a target stated as a median is checked as one.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	r := loadResult{latencies: s}
	b.ReportMetric(float64(r.quantile(0.50))/float64(time.Microsecond), "p50-us")
	b.ReportMetric(float64(r.quantile(0.99))/float64(time.Microsecond), "p99-us")
}

// BenchmarkTool times one call of each benchmark tool in each mode:
// BenchmarkTool/tool=NAME/mode={reused,naive,fresh}. Every answer is
// checked. The first call of each mode (compilation for the memory limit,
// the module's own initialisation) is outside the timing.
func BenchmarkTool(b *testing.B) {
	ctx := context.Background()
	for _, bt := range benchTools {
		b.Run("tool="+bt.name, func(b *testing.B) {
			f := loadTool(b, bt)
			b.Run("mode=reused", func(b *testing.B) {
				callCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
				defer cancel()
				p, err := f.instance(callCtx)
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close(ctx)
				if err := f.callOn(callCtx, p); err != nil {
					b.Fatal(err)
				}
				timeLoop(b, func() error { return f.callOn(callCtx, p) })
			})
			b.Run("mode=naive", func(b *testing.B) {
				if err := f.naive(ctx); err != nil {
					b.Fatal(err)
				}
				timeLoop(b, func() error { return f.naive(ctx) })
			})
			b.Run("mode=fresh", func(b *testing.B) {
				if err := f.fresh(ctx); err != nil {
					b.Fatal(err)
				}
				timeLoop(b, func() error { return f.fresh(ctx) })
			})
		})
	}
}

// timeLoop runs call b.N times, failing on the first error, and reports
// the median and p99 of the iterations next to the mean (ns/op).
func timeLoop(b *testing.B, call func() error) {
	b.ReportAllocs()
	lat := make(latencies, 0, 1024)
	for b.Loop() {
		t0 := time.Now()
		err := call()
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
	}
	lat.report(b)
}
