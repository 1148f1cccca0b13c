package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"
)

// Host maximums used when Config leaves a field zero.
const (
	DefaultMaxMemoryPages = 2048 // 128 MiB
	DefaultMaxTimeout     = 30 * time.Second
	DefaultMaxOutputBytes = 1 << 20
)

// Errors returned by the engine. A tool's own failure is a [*Failure] instead.
var (
	// ErrClosed is returned by every method of a closed Engine.
	ErrClosed = errors.New("engine closed")
	// ErrInvalidModule is returned for bytes that are not a valid Wasm module
	// or that the host cannot run (for example a memory minimum over the
	// host maximum).
	ErrInvalidModule = errors.New("invalid module")
	// ErrNoExport is returned when Call.Export is not a tool export of the
	// module.
	ErrNoExport = errors.New("no such export")
)

// Config sets the host maximums and caches of an Engine.
//
// CacheDir holds native code that the host executes: it must be writable by
// the host only.
type Config struct {
	CacheDir       string        // wazero compilation cache dir; "" = in-memory cache
	Logger         *slog.Logger  // nil → discard
	MaxMemoryPages uint32        // host maximum, default 2048 (128 MiB)
	MaxTimeout     time.Duration // host maximum, default 30s
	MaxOutputBytes int           // host maximum, default 1 MiB
}

// Engine compiles and runs tool modules. It is safe for concurrent use.
type Engine struct {
	cfg       Config
	log       *slog.Logger
	cache     wazero.CompilationCache
	inspect   wazero.Runtime // interpreter: validates without generating code
	hostFuncs []extism.HostFunction

	// noFresh sends every call to the fallback path (tests).
	noFresh bool

	mu      sync.Mutex
	closed  bool
	modules map[string]*Module // by SHA-256
}

// New returns an Engine. Close it to release compiled code and the cache.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.MaxMemoryPages == 0 {
		cfg.MaxMemoryPages = DefaultMaxMemoryPages
	}
	if cfg.MaxMemoryPages > 65536 {
		return nil, fmt.Errorf("runtime: MaxMemoryPages %d over the Wasm limit of 65536", cfg.MaxMemoryPages)
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = DefaultMaxTimeout
	}
	if cfg.MaxOutputBytes <= 0 {
		cfg.MaxOutputBytes = DefaultMaxOutputBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}

	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("runtime: compilation cache: %w", err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	if _, ok := os.LookupEnv("EXTISM_ENABLE_WASI_OUTPUT"); ok {
		log.WarnContext(ctx, "EXTISM_ENABLE_WASI_OUTPUT is set: tool stdout and stderr reach the host's")
	}

	e := &Engine{
		cfg:   cfg,
		log:   log,
		cache: cache,
		inspect: wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().
			WithMemoryLimitPages(cfg.MaxMemoryPages)),
		modules: map[string]*Module{},
	}
	e.hostFuncs = e.hostFunctions()
	return e, nil
}

// Close releases every compiled module and the compilation cache. Calls in
// flight are not waited for; later calls fail with ErrClosed.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	mods := e.modules
	e.modules = nil
	e.mu.Unlock()

	var errs []error
	for _, m := range mods {
		errs = append(errs, m.close(ctx))
	}
	errs = append(errs, e.inspect.Close(ctx), e.cache.Close(ctx))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("runtime: close: %w", err)
	}
	return nil
}

// Import is one function import of a module.
type Import struct{ Module, Name string }

// ModuleInfo lists a module's function imports and exports, each sorted.
type ModuleInfo struct {
	Imports []Import
	Exports []string
	// MinMemoryPages is the largest declared minimum of the module's
	// memories (0 when it has none).
	MinMemoryPages uint32
}

// Inspect compiles wasm without instantiating it and lists its function
// imports and exports. wasm is untrusted: any malformed input is an error
// wrapping ErrInvalidModule, never a panic.
func (e *Engine) Inspect(ctx context.Context, wasm []byte) (*ModuleInfo, error) {
	info, _, err := e.inspectModule(ctx, wasm)
	return info, err
}

// inspectModule is Inspect that also returns the exports a Call may name:
// functions that take no parameters and return at most one value.
func (e *Engine) inspectModule(ctx context.Context, wasm []byte) (info *ModuleInfo, callable map[string]bool, err error) {
	if e.isClosed() {
		return nil, nil, fmt.Errorf("runtime: %w", ErrClosed)
	}
	defer func() {
		if r := recover(); r != nil {
			info, callable, err = nil, nil, fmt.Errorf("runtime: %w: decoder panic", ErrInvalidModule)
		}
	}()
	// wazero allocates vectors at their declared length: bound them by the
	// input size before it sees the bytes (see checkBounds).
	if err := checkBounds(wasm); err != nil {
		return nil, nil, fmt.Errorf("runtime: %w: %w", ErrInvalidModule, err)
	}
	cm, err := e.inspect.CompileModule(ctx, wasm)
	if err != nil {
		return nil, nil, fmt.Errorf("runtime: %w: %w", ErrInvalidModule, err)
	}
	defer cm.Close(ctx)

	info = &ModuleInfo{Imports: []Import{}, Exports: []string{}}
	callable = map[string]bool{}
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		info.Imports = append(info.Imports, Import{Module: mod, Name: name})
	}
	for name, f := range cm.ExportedFunctions() {
		info.Exports = append(info.Exports, name)
		if len(f.ParamTypes()) == 0 && len(f.ResultTypes()) <= 1 && !reservedExports[name] {
			callable[name] = true
		}
	}
	for _, m := range cm.ExportedMemories() {
		info.MinMemoryPages = max(info.MinMemoryPages, m.Min())
	}
	for _, m := range cm.ImportedMemories() {
		info.MinMemoryPages = max(info.MinMemoryPages, m.Min())
	}
	sort.Slice(info.Imports, func(i, j int) bool {
		a, b := info.Imports[i], info.Imports[j]
		if a.Module != b.Module {
			return a.Module < b.Module
		}
		return a.Name < b.Name
	})
	sort.Strings(info.Exports)
	return info, callable, nil
}

// reservedExports are module entry points that are never a tool.
var reservedExports = map[string]bool{
	"_start": true, "_initialize": true, "__wasm_call_ctors": true,
	"hs_init": true, "hs_exit": true,
}

// Module is a compiled tool module. It is safe for concurrent use.
type Module struct {
	engine   *Engine
	sha256   string
	wasm     []byte
	exports  map[string]bool // exports a Call may name
	minPages uint32

	// run is the module as it is compiled: wasm with its mutable globals
	// exported (see exportMutableGlobals), or wasm itself if it could not
	// be rewritten. layout is nil in that case.
	run    []byte
	layout *stateLayout

	mu       sync.Mutex
	compiled map[uint32]*compiled   // by memory limit in pages
	fresh    map[uint32]*freshEntry // by memory limit in pages
}

// freshEntry is the fresh-state pool of a module for one memory limit.
// ready is closed once pool or err is set; err means the fallback path.
type freshEntry struct {
	ready chan struct{}
	pool  *freshPool
	err   error
}

// compiled is the module compiled for one memory limit. ready is closed once
// plugin or err is set.
type compiled struct {
	ready  chan struct{}
	plugin *extism.CompiledPlugin
	err    error
}

// SHA256 returns the lowercase hex SHA-256 of the module bytes.
func (m *Module) SHA256() string { return m.sha256 }

// Load compiles wasm once and caches it in memory by SHA-256 (and on disk
// through the compilation cache when Config.CacheDir is set). Loading the
// same bytes again returns the same Module.
func (e *Engine) Load(ctx context.Context, wasm []byte) (*Module, error) {
	sum := sha256.Sum256(wasm)
	key := hex.EncodeToString(sum[:])

	e.mu.Lock()
	m, ok := e.modules[key]
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("runtime: %w", ErrClosed)
	}
	if ok {
		// Wait for (or redo) the compilation at the host maximum.
		if _, err := m.plugin(ctx, e.cfg.MaxMemoryPages); err != nil {
			return nil, err
		}
		return m, nil
	}

	// A module this host compiled before (the info cache) skips the
	// inspection and the up-front compilation: its first call compiles it
	// from the compilation cache.
	mi, known := e.cachedInfo(key)
	if !known {
		info, callable, err := e.inspectModule(ctx, wasm)
		if err != nil {
			return nil, err
		}
		if info.MinMemoryPages > e.cfg.MaxMemoryPages {
			return nil, fmt.Errorf("runtime: %w: needs %d memory pages, host maximum is %d",
				ErrInvalidModule, info.MinMemoryPages, e.cfg.MaxMemoryPages)
		}
		mi = &moduleInfo{MinPages: info.MinMemoryPages, Exports: callable}
	}
	m = &Module{
		engine:   e,
		sha256:   key,
		wasm:     append([]byte(nil), wasm...),
		exports:  mi.Exports,
		minPages: mi.MinPages,
		compiled: map[uint32]*compiled{},
		fresh:    map[uint32]*freshEntry{},
	}
	m.run = m.wasm
	if run, layout, err := exportMutableGlobals(m.wasm); err == nil {
		m.run, m.layout = run, layout
	} else {
		e.log.DebugContext(ctx, "module keeps the fallback path", "sha256", key, "error", err)
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, fmt.Errorf("runtime: %w", ErrClosed)
	}
	if prev, ok := e.modules[key]; ok {
		m = prev // lost a race with a concurrent Load of the same bytes
	} else {
		e.modules[key] = m
	}
	e.mu.Unlock()

	if known {
		return m, nil
	}
	start := time.Now()
	if _, err := m.plugin(ctx, e.cfg.MaxMemoryPages); err != nil {
		e.mu.Lock()
		if e.modules[key] == m {
			delete(e.modules, key)
		}
		e.mu.Unlock()
		return nil, err
	}
	e.rememberInfo(key, *mi)
	e.log.DebugContext(ctx, "module compiled", "sha256", key, "duration", time.Since(start))
	return m, nil
}

// plugin returns the module compiled with a memory limit of pages, compiling
// it on first use. Concurrent callers for the same limit share one
// compilation.
func (m *Module) plugin(ctx context.Context, pages uint32) (*extism.CompiledPlugin, error) {
	m.mu.Lock()
	c, ok := m.compiled[pages]
	if !ok {
		if m.compiled == nil {
			m.mu.Unlock()
			return nil, fmt.Errorf("runtime: %w", ErrClosed)
		}
		c = &compiled{ready: make(chan struct{})}
		m.compiled[pages] = c
		m.mu.Unlock()

		c.plugin, c.err = m.engine.compile(ctx, m.run, pages)
		if c.err != nil {
			// Do not cache failures: a cancelled ctx must not poison the module.
			m.mu.Lock()
			if m.compiled != nil && m.compiled[pages] == c {
				delete(m.compiled, pages)
			}
			m.mu.Unlock()
		}
		close(c.ready)
	} else {
		m.mu.Unlock()
	}
	select {
	case <-c.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("runtime: %w", ctx.Err())
	}
	return c.plugin, c.err
}

// compile builds an Extism compiled plugin whose wazero runtime limits every
// memory to pages. It recovers from panics of the compiler, as wasm is
// untrusted.
func (e *Engine) compile(ctx context.Context, wasm []byte, pages uint32) (p *extism.CompiledPlugin, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("runtime: %w: compiler panic", ErrInvalidModule)
		}
	}()
	rc := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(pages).
		WithCompilationCache(e.cache)
	manifest := extism.Manifest{
		// No AllowedHosts, no AllowedPaths: Extism's own http_request and
		// WASI directory mounts stay deny-all.
		Wasm: []extism.Wasm{extism.WasmData{Data: wasm, Name: "main"}},
	}
	p, err = extism.NewCompiledPlugin(ctx, manifest, extism.PluginConfig{
		RuntimeConfig: rc,
		EnableWasi:    true,
	}, e.hostFuncs)
	if err != nil {
		return nil, fmt.Errorf("runtime: %w: %w", ErrInvalidModule, err)
	}
	return p, nil
}

// freshPool returns the fresh-state pool of m for a memory limit of pages,
// building it on first use (within timeout), or nil when calls under that
// limit take the fallback path. A build that ctx ended is not cached; one
// that ran out of time is (the module's initialisation is too slow for the
// fresh-state path).
func (m *Module) freshPool(ctx context.Context, pages uint32, timeout time.Duration) *freshPool {
	if m.engine.noFresh || m.layout == nil {
		return nil
	}
	m.mu.Lock()
	f, ok := m.fresh[pages]
	if !ok {
		if m.fresh == nil {
			m.mu.Unlock()
			return nil
		}
		f = &freshEntry{ready: make(chan struct{})}
		m.fresh[pages] = f
		m.mu.Unlock()

		start := time.Now()
		bctx, cancel := context.WithTimeout(ctx, timeout)
		f.pool, f.err = m.engine.newFreshPool(bctx, m.run, m.layout, pages)
		cancel()
		m.mu.Lock()
		switch {
		case f.err == nil && m.fresh == nil:
			// The module was closed meanwhile.
			_ = f.pool.close(context.WithoutCancel(ctx))
			f.pool, f.err = nil, ErrClosed
		case f.err != nil && ctx.Err() != nil && m.fresh != nil && m.fresh[pages] == f:
			// Do not cache a failure the caller's context caused.
			delete(m.fresh, pages)
		}
		m.mu.Unlock()
		if f.err != nil {
			m.engine.log.DebugContext(ctx, "calls take the fallback path", "sha256", m.sha256, "pages", pages, "error", f.err)
		} else {
			m.engine.log.DebugContext(ctx, "fresh-state snapshot taken", "sha256", m.sha256, "pages", pages,
				"duration", time.Since(start))
		}
		close(f.ready)
	} else {
		m.mu.Unlock()
	}
	select {
	case <-f.ready:
	case <-ctx.Done():
		return nil
	}
	return f.pool
}

// close releases every compilation and fresh-state pool of m.
func (m *Module) close(ctx context.Context) error {
	m.mu.Lock()
	all := m.compiled
	m.compiled = nil
	pools := m.fresh
	m.fresh = nil
	m.mu.Unlock()
	var errs []error
	for _, f := range pools {
		<-f.ready
		if f.pool != nil {
			errs = append(errs, f.pool.close(ctx))
		}
	}
	for _, c := range all {
		<-c.ready
		if c.plugin != nil {
			errs = append(errs, c.plugin.Close(ctx))
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}
