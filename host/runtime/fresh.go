package runtime

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlock-dev/airlock/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// wasmPage is the size of a Wasm memory page.
const wasmPage = 64 << 10

// errNoFastPath is returned when a module cannot take the fresh-state path;
// it runs on the fallback path instead.
var errNoFastPath = errors.New("no fresh-state path")

// Entropy detection: bytes that differ between two initialisations of the
// same module fed different randomness, in runs of at least minEntropyRun
// bytes (gaps of up to entropyGap equal bytes inside a run), are a PRNG's
// state and are refilled with fresh random bytes before every call.
const (
	minEntropyRun = 64
	entropyGap    = 16
)

// wasiStateFunctions are the WASI functions that can change host-side state
// of an instance (its descriptor table, flags or positions). A call that
// uses any of them taints its worker, which is then discarded instead of
// reused; an initialisation that uses them keeps the module on the
// fallback path.
//
// fd_fdstat_set_flags is not among them (Go's os package calls it on the
// standard descriptors at initialisation): the only descriptors a worker
// can have without a tainting call are 0, 1 and 2, which the sandbox
// configuration backs with an io.Reader and io.Writers; wazero keeps no
// flag for those (they are not pollable files and not regular files), so
// the call changes nothing.
var wasiStateFunctions = map[string]bool{
	"fd_close": true, "fd_renumber": true, "fd_fdstat_set_rights": true, "fd_seek": true, "fd_tell": true,
	"fd_allocate": true, "fd_advise": true, "fd_filestat_set_size": true,
	"fd_filestat_set_times": true, "fd_read": true, "fd_pread": true,
	"fd_pwrite": true, "fd_readdir": true, "fd_sync": true, "fd_datasync": true,
	"path_open": true, "path_create_directory": true, "path_link": true,
	"path_remove_directory": true, "path_rename": true, "path_symlink": true,
	"path_unlink_file": true, "path_filestat_set_times": true,
	"sock_accept": true, "sock_recv": true, "sock_send": true,
	"sock_shutdown": true, "proc_raise": true,
}

// wasiTaint is a wazero function listener on the WASI host module: it marks
// the running call tainted when the guest calls a wasiStateFunctions entry.
type wasiTaint struct{}

func (wasiTaint) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	if wasiStateFunctions[def.Name()] {
		return wasiTaint{}
	}
	return nil
}

func (wasiTaint) Before(ctx context.Context, _ api.Module, def api.FunctionDefinition, _ []uint64, _ experimental.StackIterator) {
	if cs, ok := ctx.Value(callStateKey{}).(*callState); ok {
		cs.taint(def.Name())
	}
}

func (wasiTaint) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {}

func (wasiTaint) Abort(context.Context, api.Module, api.FunctionDefinition, error) {}

// switchWriter is a worker's stderr: it forwards to the current call's
// buffer, so nothing written in one call lands in another's.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

// Write implements io.Writer; it never fails.
func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil {
		_, _ = s.w.Write(p)
	}
	return len(p), nil
}

// span is a byte range of linear memory.
type span struct{ off, n uint64 }

// snapshot is the state of a module right after its initialisation.
type snapshot struct {
	memory  []byte   // linear memory
	globals []uint64 // by layout.globals order
	entropy []span   // PRNG state, refilled per call
	init    string   // the initialisation export ("" if none)
}

// freshRuntime is a wazero runtime for one memory limit with the
// fresh-state host modules: WASI (with the taint listener), the native
// Extism kernel and Airlock's host functions.
func (e *Engine) freshRuntime(ctx context.Context, pages uint32) (wazero.Runtime, error) {
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(pages).
		WithCompilationCache(e.cache))
	b := rt.NewHostModuleBuilder(wasiModule)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	cm, err := b.Compile(experimental.WithFunctionListenerFactory(ctx, wasiTaint{}))
	if err == nil {
		_, err = rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig())
	}
	if err == nil {
		err = instantiateEnv(ctx, rt)
	}
	if err == nil {
		err = instantiateUser(ctx, rt)
	}
	if err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	return rt, nil
}

// checkFastImports returns errNoFastPath unless the fresh-state host
// implements every function cm imports.
func checkFastImports(cm wazero.CompiledModule) error {
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		if !envKnown(mod, name) {
			return fmt.Errorf("%w: imports %s.%s", errNoFastPath, mod, name)
		}
	}
	for _, name := range []string{"hs_init", "hs_exit"} {
		if _, ok := cm.ExportedFunctions()[name]; ok {
			return fmt.Errorf("%w: Haskell runtime", errNoFastPath)
		}
	}
	return nil
}

// initExport is the export the go-sdk runs before a module's first call:
// _initialize for a WASI reactor, else __wasm_call_ctors.
func initExport(cm wazero.CompiledModule) (string, error) {
	for _, name := range []string{"_initialize", "__wasm_call_ctors"} {
		if f, ok := cm.ExportedFunctions()[name]; ok {
			if len(f.ParamTypes()) != 0 {
				return "", fmt.Errorf("%w: %s takes parameters", errNoFastPath, name)
			}
			return name, nil
		}
	}
	return "", nil
}

// initOnce instantiates cm with a plain memory, runs its initialisation and
// returns the memory and the mutable globals afterwards.
func initOnce(ctx context.Context, rt wazero.Runtime, cm wazero.CompiledModule, layout *stateLayout,
	init string) (mem []byte, globals []uint64, err error) {
	tracker := &memoryTracker{}
	cs := &callState{init: true, host: denyAll{}}
	ctx = context.WithValue(experimental.WithMemoryAllocator(ctx, tracker), callStateKey{}, cs)
	ctx = context.WithValue(ctx, handlerKey{}, HostHandler(denyAll{}))
	mod, err := rt.InstantiateModule(ctx, cm, sandboxConfig(io.Discard).WithStartFunctions().WithName(""))
	if err != nil {
		return nil, nil, err
	}
	defer mod.Close(context.WithoutCancel(ctx))
	if init != "" {
		if _, err := mod.ExportedFunction(init).Call(ctx); err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", errNoFastPath, init, err)
		}
	}
	if cs.tainted {
		return nil, nil, fmt.Errorf("%w: initialisation calls %s", errNoFastPath, cs.taintedBy)
	}
	if mod.IsClosed() || len(tracker.mems) != 1 {
		return nil, nil, fmt.Errorf("%w: initialisation closed the module", errNoFastPath)
	}
	for _, idx := range layout.globals {
		g, ok := mod.ExportedGlobal(globalExportName(idx)).(api.MutableGlobal)
		if !ok {
			return nil, nil, fmt.Errorf("%w: global %d not exported", errNoFastPath, idx)
		}
		globals = append(globals, g.Get())
	}
	m := tracker.mems[0]
	m.mu.Lock()
	mem = append([]byte(nil), m.buf...)
	m.mu.Unlock()
	return mem, globals, nil
}

// takeSnapshot initialises the module twice and keeps the first result; the
// bytes that differ between the two in long runs are its PRNG state.
func takeSnapshot(ctx context.Context, rt wazero.Runtime, cm wazero.CompiledModule, layout *stateLayout) (*snapshot, error) {
	init, err := initExport(cm)
	if err != nil {
		return nil, err
	}
	a, ga, err := initOnce(ctx, rt, cm, layout, init)
	if err != nil {
		return nil, err
	}
	b, _, err := initOnce(ctx, rt, cm, layout, init)
	if err != nil {
		return nil, err
	}
	if len(a) != len(b) {
		return nil, fmt.Errorf("%w: initialisation is not deterministic", errNoFastPath)
	}
	return &snapshot{memory: a, globals: ga, entropy: entropySpans(a, b), init: init}, nil
}

// entropySpans returns the runs of at least minEntropyRun bytes where a and
// b differ, allowing gaps of up to entropyGap equal bytes inside a run.
func entropySpans(a, b []byte) []span {
	var out []span
	start, last := -1, -1
	flush := func() {
		if start >= 0 && last-start+1 >= minEntropyRun {
			out = append(out, randomParts(a, b, start, last+1)...)
		}
		start, last = -1, -1
	}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		if start >= 0 && i-last > entropyGap {
			flush()
		}
		if start < 0 {
			start = i
		}
		last = i
	}
	flush()
	return out
}

// randomParts returns the parts of the differing run [start, end) that can
// be PRNG output in both a and b: 16-byte chunks with at most one zero byte
// (a chunk of random bytes has one with probability 6%, two with 0.2%),
// merged when adjacent, at least 32 bytes long. Other bytes of a run differ
// because of a hash seed — a map's groups laid out differently — and hold
// pointers and small integers whose high bytes are zero; refilling those
// with random bytes would corrupt the map (seen: the Starlark scanner's
// keyword table). They are cloned from the snapshot instead.
func randomParts(a, b []byte, start, end int) []span {
	var out []span
	from := -1
	emit := func(to int) {
		if from >= 0 && to-from >= minRandomPart {
			out = append(out, span{off: uint64(from), n: uint64(to - from)})
		}
		from = -1
	}
	for c := start; c+randomChunk <= end; c += randomChunk {
		if zeros(a[c:c+randomChunk]) <= 1 && zeros(b[c:c+randomChunk]) <= 1 {
			if from < 0 {
				from = c
			}
			continue
		}
		emit(c)
	}
	if from >= 0 {
		emit(start + (end-start)/randomChunk*randomChunk)
	}
	return out
}

// Sizes used by randomParts.
const (
	randomChunk   = 16
	minRandomPart = 32
)

func zeros(p []byte) int {
	n := 0
	for _, c := range p {
		if c == 0 {
			n++
		}
	}
	return n
}

// worker is one instance of a module, restored to its snapshot between
// calls.
type worker struct {
	pool      *freshPool
	idleSince time.Time
	mod       api.Module
	mem       *snapMemory
	globals   []api.MutableGlobal
	stderr    *switchWriter
	funcs     map[string]api.Function
}

// freshPool serves the calls of one module under one memory limit from
// instances restored to a snapshot.
type freshPool struct {
	e      *Engine
	rt     wazero.Runtime
	cm     wazero.CompiledModule
	layout *stateLayout
	snap   *snapshot
	image  *memoryImage
	pages  uint32

	mu        sync.Mutex
	idle      []*worker
	restoring int            // workers being restored after a call
	waiters   []chan *worker // calls waiting for a restored worker
	closed    bool
	maxIdle   int
	restored  sync.WaitGroup // restores in flight (close waits for them)

	trimTimer *time.Timer // releases idle workers (trim)

	// created and discarded count workers: created-discarded are alive.
	created, discarded atomic.Int64
}

// newFreshPool builds the runtime, snapshot and memory image of a module
// for one memory limit. errNoFastPath means the module must use the
// fallback path.
func (e *Engine) newFreshPool(ctx context.Context, wasm []byte, layout *stateLayout, pages uint32) (p *freshPool, err error) {
	if layout == nil {
		return nil, fmt.Errorf("%w: module not rewritten", errNoFastPath)
	}
	if problem := layout.problem(); problem != "" {
		return nil, fmt.Errorf("%w: module %s", errNoFastPath, problem)
	}
	if !memoryImagesSupported {
		return nil, fmt.Errorf("%w: not supported on this platform", errNoFastPath)
	}
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%w: panic: %v", errNoFastPath, r)
		}
	}()
	rt, err := e.freshRuntime(ctx, pages)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = rt.Close(context.WithoutCancel(ctx))
		}
	}()
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	if err := checkFastImports(cm); err != nil {
		return nil, err
	}
	snap, err := takeSnapshot(ctx, rt, cm, layout)
	if err != nil {
		return nil, err
	}
	image, err := newMemoryImage(snap.memory)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoFastPath, err)
	}
	snap.memory = nil // the image holds it
	return &freshPool{
		e: e, rt: rt, cm: cm, layout: layout, snap: snap, image: image, pages: pages,
		maxIdle: idleWorkers(image.size),
	}, nil
}

// alternateWorkers is how many workers a pool makes before a call waits
// for a restore in flight rather than making another.
const alternateWorkers = 2

// idleMemoryBudget bounds the memory of one pool's idle workers, counting
// each as a whole private copy of the snapshot (an upper bound: workers
// share the pages no call wrote, see memoryImage).
const idleMemoryBudget = 256 << 20

// idleWorkers is how many restored workers a pool keeps for a snapshot of
// size bytes: enough that concurrent calls do not make a new worker each
// (instantiating a Go module costs milliseconds), within idleMemoryBudget,
// at least 2 and at most 64.
func idleWorkers(size uint64) int {
	return int(min(max(idleMemoryBudget/max(size, 1), 2), 64))
}

// get returns an idle worker, a worker being restored (when there is one
// no other call waits for) or a new one.
func (p *freshPool) get(ctx context.Context) (*worker, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("runtime: %w", ErrClosed)
	}
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return w, nil
	}
	// Make a new worker when every restore in flight is promised to a
	// waiting call, or while the pool has fewer than alternateWorkers:
	// calls made one after another then alternate between two workers, and
	// each restore runs while the next call does.
	if len(p.waiters) >= p.restoring || p.created.Load()-p.discarded.Load() < alternateWorkers {
		p.mu.Unlock()
		return p.newWorker(ctx)
	}
	ch := make(chan *worker, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	select {
	case w := <-ch:
		if w != nil {
			return w, nil
		}
		return p.newWorker(ctx) // the restore discarded its worker
	case <-ctx.Done():
		p.mu.Lock()
		for i, c := range p.waiters {
			if c == ch {
				p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
				break
			}
		}
		p.mu.Unlock()
		select {
		case w := <-ch: // handed over just before we left
			if w != nil {
				p.release(w)
			}
		default:
		}
		return nil, ctx.Err()
	}
}

// newWorker instantiates the module over a private mapping of the snapshot
// image and sets its globals to the snapshot's.
func (p *freshPool) newWorker(ctx context.Context) (w *worker, err error) {
	alloc := &imageAllocator{image: p.image}
	w = &worker{stderr: &switchWriter{}, funcs: map[string]api.Function{}}
	cs := &callState{init: true, host: denyAll{}}
	ictx := context.WithValue(experimental.WithMemoryAllocator(ctx, alloc), callStateKey{}, cs)
	var mod api.Module
	func() {
		// The allocator panics when it cannot map memory.
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("runtime: new instance: %v", r)
			}
		}()
		mod, err = p.rt.InstantiateModule(ictx, p.cm, sandboxConfig(w.stderr).WithStartFunctions().WithName(""))
	}()
	if err != nil {
		if alloc.mem != nil {
			alloc.mem.unmap()
		}
		return nil, err
	}
	w.mod, w.mem = mod, alloc.mem
	if w.mem == nil {
		w.discard()
		return nil, errors.New("runtime: instance without memory")
	}
	// The memory starts at the module's declared minimum: grow it to the
	// snapshot's size (the pages are the image's).
	cur := uint64(mod.Memory().Size())
	if size := p.image.size; size > cur {
		if _, ok := mod.Memory().Grow(uint32((size - cur) / wasmPage)); !ok {
			w.discard()
			return nil, errors.New("runtime: cannot grow a new instance to the snapshot size")
		}
	}
	for _, idx := range p.layout.globals {
		g, ok := mod.ExportedGlobal(globalExportName(idx)).(api.MutableGlobal)
		if !ok {
			w.discard()
			return nil, fmt.Errorf("runtime: global %d not exported", idx)
		}
		w.globals = append(w.globals, g)
	}
	w.mem.forget() // undo the data segments' copies (the image has them)
	if err := p.restore(w); err != nil {
		w.discard()
		return nil, err
	}
	w.pool = p
	p.created.Add(1)
	return w, nil
}

// restore puts w's memory (size included) and globals back to the
// snapshot.
func (p *freshPool) restore(w *worker) error {
	grown := w.mem.grown()
	if err := w.mem.reset(); err != nil {
		return err
	}
	if grown && !shrinkMemory(w.mod.Memory(), uint32(p.image.size/wasmPage)) {
		return errors.New("runtime: cannot shrink the memory back to the snapshot")
	}
	for i, g := range w.globals {
		g.Set(p.snap.globals[i])
	}
	return nil
}

// put restores w in the background and then hands it to a waiting call or
// keeps it idle; a worker that is not reusable is discarded. The call that
// used w has returned: no guest code runs in it.
func (p *freshPool) put(w *worker, reusable bool) {
	if !reusable || w.mod.IsClosed() {
		w.discard()
		p.release(nil)
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		w.discard()
		return
	}
	p.restoring++
	p.restored.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.restored.Done()
		err := p.restore(w)
		p.mu.Lock()
		p.restoring--
		p.mu.Unlock()
		if err != nil {
			p.e.log.Debug("restoring worker", "error", err)
			w.discard()
			w = nil
		}
		p.release(w)
	}()
}

// release hands a restored worker (or nil, "make your own") to the first
// waiting call, or keeps w idle.
func (p *freshPool) release(w *worker) {
	p.mu.Lock()
	if len(p.waiters) > 0 {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		ch <- w
		return
	}
	if w == nil {
		p.mu.Unlock()
		return
	}
	if p.closed || len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		w.discard()
		return
	}
	w.idleSince = time.Now()
	p.idle = append(p.idle, w)
	if p.trimTimer == nil {
		p.trimTimer = time.AfterFunc(idleTTL, p.trim)
	}
	p.mu.Unlock()
}

// idleTTL is how long a worker stays idle before it is released.
const idleTTL = time.Minute

// trim releases the workers idle for idleTTL or more (the oldest are at the
// bottom of the stack) and runs again while any worker is idle.
func (p *freshPool) trim() {
	p.mu.Lock()
	cut := 0
	for cut < len(p.idle) && time.Since(p.idle[cut].idleSince) >= idleTTL {
		cut++
	}
	old := append([]*worker(nil), p.idle[:cut]...)
	p.idle = append(p.idle[:0], p.idle[cut:]...)
	p.trimTimer = nil
	if len(p.idle) > 0 && !p.closed {
		p.trimTimer = time.AfterFunc(idleTTL-time.Since(p.idle[0].idleSince), p.trim)
	}
	p.mu.Unlock()
	for _, w := range old {
		w.discard()
	}
}

// discard closes w's instance and unmaps its memory. It is called only when
// no guest code runs in w.
func (w *worker) discard() {
	if w.pool != nil {
		w.pool.discarded.Add(1)
	}
	if w.mod != nil {
		_ = w.mod.Close(context.Background())
	}
	if w.mem != nil {
		w.mem.unmap()
	}
}

// close releases every idle worker, the runtime and the image. Workers in
// flight are discarded when their call returns.
func (p *freshPool) close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if p.trimTimer != nil {
		p.trimTimer.Stop()
	}
	p.mu.Unlock()
	p.restored.Wait()
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, w := range idle {
		w.discard()
	}
	err := p.rt.Close(ctx)
	p.image.release()
	return err
}

// function returns the export name of w's module, cached.
func (w *worker) function(name string) api.Function {
	f, ok := w.funcs[name]
	if !ok {
		f = w.mod.ExportedFunction(name)
		w.funcs[name] = f
	}
	return f
}

// callMemory is the nearLimiter of a fresh-state call: its guest memory and
// its Extism arena.
type callMemory struct {
	mem *snapMemory
	cs  *callState
}

func (c callMemory) nearLimit(slack uint64) bool {
	if c.mem != nil && c.mem.nearLimit(slack) {
		return true
	}
	return c.cs != nil && c.cs.peak+slack >= c.cs.limit
}

// invokeFresh runs one call on a worker of p. It behaves as the fallback
// path of Invoke: same limits, same failures, same output.
func (e *Engine) invokeFresh(ctx context.Context, m *Module, p *freshPool, c Call, lim Limits, host HostHandler) ([]byte, error) {
	callCtx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	stderr := &headBuffer{max: 4 << 10}
	cs, err := newCallState(host, c.Input, uint64(lim.MemoryPages)*wasmPage)
	if err != nil {
		return nil, e.failure(ctx, callCtx, m, c.Export, lim, callMemory{cs: &callState{peak: 1, limit: 1}}, stderr, 0, err, "")
	}
	w, err := p.get(callCtx)
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, e.failure(ctx, callCtx, m, c.Export, lim, callMemory{cs: cs}, stderr, 0, err, "")
	}
	reusable := false
	defer func() { p.put(w, reusable) }()

	w.stderr.set(stderr)
	defer w.stderr.set(nil)
	w.mem.startCall()
	if err := w.mem.reseed(p.snap.entropy); err != nil {
		return nil, fmt.Errorf("runtime: reseeding: %w", err)
	}
	callCtx = context.WithValue(callCtx, handlerKey{}, host)
	callCtx = context.WithValue(callCtx, callStateKey{}, cs)

	fn := w.function(c.Export)
	if fn == nil {
		return nil, fmt.Errorf("runtime: %w: %q", ErrNoExport, c.Export)
	}
	stack := []uint64{0}
	err = fn.CallWithStack(callCtx, stack)
	var rc uint32
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		// As the go-sdk: exit status 0 is success, any other the result.
		stack[0] = uint64(exit.ExitCode())
		if exit.ExitCode() == 0 {
			err = nil
		}
	}
	switch {
	case exit != nil || (err == nil && len(fn.Definition().ResultTypes()) == 1):
		rc = api.DecodeU32(stack[0])
	case err != nil:
		rc = 1
	}
	toolErr := ""
	if err == nil {
		if msg := cs.errorMessage(); msg != "" {
			err, toolErr = errors.New(msg), msg
		}
	}
	mem := callMemory{mem: w.mem, cs: cs}
	if err != nil || rc != 0 {
		reusable = exit == nil && !cs.tainted && callCtx.Err() == nil && (err == nil || toolErr != "")
		return nil, e.failure(ctx, callCtx, m, c.Export, lim, mem, stderr, rc, err, toolErr)
	}
	reusable = !cs.tainted && callCtx.Err() == nil
	out := cs.output()
	if len(out) > lim.MaxOutputBytes {
		return nil, e.logFailure(ctx, m, c.Export, &Failure{Reason: abi.ReasonOutputSize, Message: fmt.Sprintf(
			"output of %d bytes over the limit of %d", len(out), lim.MaxOutputBytes)})
	}
	return out, nil
}

// reseed fills spans of the memory with fresh random bytes.
func (m *snapMemory) reseed(spans []span) error {
	for _, s := range spans {
		if _, err := rand.Read(m.buf[s.off : s.off+s.n]); err != nil {
			return err
		}
	}
	return nil
}
