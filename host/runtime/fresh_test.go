package runtime

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/internal/wasmbuild"
)

// freshPages is the memory limit of the fresh-state tests (64 MiB): room
// for the 4 MiB buffers of the fresh plugin.
const freshPages = 1024

var freshShared struct {
	once    sync.Once
	modules map[string]*Module
	err     error
}

// requireFresh skips a test of the fresh-state path where there is none.
func requireFresh(t *testing.T) {
	t.Helper()
	if !memoryImagesSupported {
		t.Skip("no fresh-state path on this platform")
	}
}

// freshFixture loads the fresh-state test plugins into the shared engine.
func freshFixture(t *testing.T) (*Engine, map[string]*Module) {
	t.Helper()
	e, _ := fixture(t)
	freshShared.once.Do(func() {
		freshShared.err = errors.New("fresh fixture setup did not finish")
		mods := map[string]*Module{}
		for name, dir := range map[string]string{
			"fresh":     "host/runtime/testdata/plugins/fresh",
			"initclose": "host/runtime/testdata/plugins/initclose",
		} {
			m, err := e.Load(context.Background(), wasmbuild.Build(t, dir))
			if err != nil {
				freshShared.err = err
				return
			}
			mods[name] = m
		}
		freshShared.modules, freshShared.err = mods, nil
	})
	if freshShared.err != nil {
		t.Fatalf("fresh fixture: %v", freshShared.err)
	}
	return e, freshShared.modules
}

type writeResult struct {
	Rand        int64 `json:"rand"`
	FileCreated bool  `json:"file_created"`
}

type probeResult struct {
	Global      bool  `json:"global"`
	Heap        bool  `json:"heap"`
	Big         bool  `json:"big"`
	Drawn       int64 `json:"drawn"`
	Found       int   `json:"found"`
	Rand        int64 `json:"rand"`
	FileVisible bool  `json:"file_visible"`
	ExtraFD     bool  `json:"extra_fd"`
	NowUnix     int64 `json:"now_unix"`
}

// freshCall calls the fresh plugin under freshPages.
func freshCall(t *testing.T, e *Engine, m *Module, export string, input any, timeout time.Duration) ([]byte, error) {
	t.Helper()
	in, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	return e.Invoke(context.Background(), m, Call{Export: export, Input: in,
		Limits: Limits{MemoryPages: freshPages, Timeout: timeout}})
}

// freshProbe runs the probe and fails the test on any trace of an earlier
// call.
func freshProbe(t *testing.T, e *Engine, m *Module, after string, scan bool) probeResult {
	t.Helper()
	out, err := freshCall(t, e, m, "probe", map[string]bool{"scan": scan}, callTimeout)
	if err != nil {
		t.Fatalf("probe after %s: %v", after, err)
	}
	var p probeResult
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("probe after %s: %v: %s", after, err, out)
	}
	now := time.Now().Unix()
	checks := []struct {
		threat string
		bad    bool
	}{
		{"global survived", p.Global},
		{"heap object survived", p.Heap},
		{"grown buffer survived", p.Big},
		{"drawn random value survived", p.Drawn != 0},
		{"marker found in fresh memory", p.Found != 0},
		{"file created by an earlier call", p.FileVisible},
		{"descriptor opened by an earlier call", p.ExtraFD},
		{"clock is not the host's", p.NowUnix < now-86400 || p.NowUnix > now+86400},
	}
	for _, c := range checks {
		if c.bad {
			t.Fatalf("after %s: %s: %+v", after, c.threat, p)
		}
	}
	return p
}

// scanIdleWorkers looks for a marker word in the whole linear memory of
// every idle worker of p (host side: covers bytes the probe cannot reach).
func scanIdleWorkers(t *testing.T, p *freshPool) {
	t.Helper()
	p.restored.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.idle {
		mem := w.mem.buf
		if uint64(len(mem)) != p.image.size {
			t.Fatalf("idle worker memory is %d bytes, snapshot %d", len(mem), p.image.size)
		}
		for off := 0; off+8 <= len(mem); off += 8 {
			if binary.LittleEndian.Uint64(mem[off:])>>32 == 0xA1B2C3D4 {
				t.Fatalf("marker at offset %d of an idle worker's memory", off)
			}
		}
		if sz := w.mod.Memory().Size(); uint64(sz) != p.image.size {
			t.Fatalf("idle worker memory.size is %d, snapshot %d", sz, p.image.size)
		}
	}
}

// TestFreshStateIsolation alternates a call that leaves markers everywhere
// (and ends normally, with a tool error, a trap, an exit, a timeout, after
// growing memory) with a probe, on the same pooled workers: the probe never
// finds a marker, a drawn random value, a file or a descriptor of the
// earlier call, and every random value drawn is distinct.
func TestFreshStateIsolation(t *testing.T) {
	requireFresh(t)
	e, mods := freshFixture(t)
	m := mods["fresh"]
	p := m.freshPool(context.Background(), freshPages, callTimeout)
	if p == nil {
		t.Fatal("the fresh plugin does not take the fresh-state path")
	}
	type ending struct {
		end     string
		grow    bool
		files   bool
		reason  abi.FailureReason // "" = success
		every   int               // run on cycles where i%every == 0
		timeout time.Duration
	}
	endings := []ending{
		{end: "", every: 1},
		{end: "", grow: true, every: 3},
		{end: "", files: true, every: 7},
		{end: "error", reason: abi.ReasonTrap, every: 5},
		{end: "trap", reason: abi.ReasonTrap, every: 25},
		{end: "exit", reason: abi.ReasonTrap, every: 50},
		{end: "spin", reason: abi.ReasonTimeout, every: isolationCycles / 4, timeout: 200 * time.Millisecond},
	}
	seen := map[int64]string{}
	drawn := func(v int64, what string) {
		if prev, ok := seen[v]; ok {
			t.Fatalf("random value %d drawn by %s and %s", v, prev, what)
		}
		seen[v] = what
	}
	wantDiscards := int64(0)
	startDiscarded := p.discarded.Load()
	for i := range isolationCycles {
		en := endings[0]
		for _, x := range endings[1:] {
			if i%x.every == 0 {
				en = x
			}
		}
		timeout := callTimeout
		if en.timeout != 0 {
			timeout = en.timeout
		}
		what := fmt.Sprintf("cycle %d (end %q, grow %v, files %v)", i, en.end, en.grow, en.files)
		out, err := freshCall(t, e, m, "write", map[string]any{"n": i + 1, "grow": en.grow, "files": en.files, "end": en.end}, timeout)
		if en.files {
			wantDiscards++ // path_open taints the worker
		}
		if en.reason != "" {
			wantFailure(t, err, en.reason)
			if en.end != "error" {
				wantDiscards++
			}
		} else {
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			var w writeResult
			if err := json.Unmarshal(out, &w); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if w.FileCreated {
				t.Fatalf("%s: the tool created a file", what)
			}
			drawn(w.Rand, what)
		}
		pr := freshProbe(t, e, m, what, en.grow || i%10 == 0)
		drawn(pr.Rand, "probe after "+what)
		if i%200 == 0 {
			scanIdleWorkers(t, p)
		}
	}
	scanIdleWorkers(t, p)
	if got := p.discarded.Load() - startDiscarded; got < wantDiscards {
		t.Fatalf("%d workers discarded, want at least %d (one per trap, exit, timeout and file call)", got, wantDiscards)
	}
	// Workers are reused: far fewer instances than calls.
	if c := p.created.Load(); c > wantDiscards+int64(p.maxIdle)+4 {
		t.Fatalf("%d workers created for %d calls with %d discards: workers are not reused", c, 2*isolationCycles, wantDiscards)
	}
}

// TestFreshStateConcurrentCalls runs writers and probes from several
// goroutines at once on one pool.
func TestFreshStateConcurrentCalls(t *testing.T) {
	requireFresh(t)
	e, mods := freshFixture(t)
	m := mods["fresh"]
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				in, _ := json.Marshal(map[string]any{"n": g*1000 + i + 1, "grow": i%4 == 0})
				if _, err := e.Invoke(context.Background(), m, Call{Export: "write", Input: in,
					Limits: Limits{MemoryPages: freshPages, Timeout: callTimeout}}); err != nil {
					errs <- err
					return
				}
				out, err := e.Invoke(context.Background(), m, Call{Export: "probe", Input: []byte(`{}`),
					Limits: Limits{MemoryPages: freshPages, Timeout: callTimeout}})
				if err != nil {
					errs <- err
					return
				}
				var p probeResult
				if err := json.Unmarshal(out, &p); err != nil {
					errs <- err
					return
				}
				if p.Global || p.Heap || p.Big || p.Drawn != 0 || p.Found != 0 {
					errs <- fmt.Errorf("probe saw an earlier call: %+v", p)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestFallbackPath runs a module whose initialisation changes host-side
// WASI state: it keeps the go-sdk fresh-instance path and still works.
func TestFallbackPath(t *testing.T) {
	e, mods := freshFixture(t)
	m := mods["initclose"]
	if p := m.freshPool(context.Background(), freshPages, callTimeout); p != nil {
		t.Fatal("a module whose initialisation closes stdin took the fresh-state path")
	}
	m.mu.Lock()
	f := m.fresh[freshPages]
	m.mu.Unlock()
	if f == nil || !errors.Is(f.err, errNoFastPath) {
		t.Fatalf("fresh-state entry = %+v, want errNoFastPath", f)
	}
	for range 3 {
		out, err := e.Invoke(context.Background(), m, Call{Export: "echo", Input: []byte(`{"message":"via the fallback"}`),
			Limits: Limits{MemoryPages: freshPages, Timeout: callTimeout}})
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != `{"message":"via the fallback","stdin_closed":true}` {
			t.Fatalf("output = %s", out)
		}
	}
}

// TestFallbackPathMatchesFreshState runs echo on both paths: same output,
// same failures.
func TestFallbackPathMatchesFreshState(t *testing.T) {
	requireFresh(t)
	e, mods := fixture(t)
	m := mods["echo"]
	if m.freshPool(context.Background(), e.cfg.MaxMemoryPages, callTimeout) == nil {
		t.Fatal("echo does not take the fresh-state path")
	}
	for _, input := range []string{`{"message":"hello"}`, `{"message":"x","admin":true}`, `not json`, ``} {
		c := Call{Export: "echo", Input: []byte(input), Limits: Limits{Timeout: callTimeout}}
		lim := e.limits(c.Limits)
		fastOut, fastErr := e.Invoke(context.Background(), m, c)
		slowOut, slowErr := e.invokeInstance(context.Background(), m, c, lim, denyAll{})
		if string(fastOut) != string(slowOut) || fmt.Sprint(fastErr) != fmt.Sprint(slowErr) {
			t.Fatalf("input %q: fresh state gave %q, %v; fallback gave %q, %v", input, fastOut, fastErr, slowOut, slowErr)
		}
	}
}

func TestEntropySpans(t *testing.T) {
	rnd := func(n int) []byte {
		p := make([]byte, n)
		if _, err := crand.Read(p); err != nil {
			t.Fatal(err)
		}
		for i := range p {
			if p[i] == 0 {
				p[i] = 7
			}
		}
		return p
	}
	a := make([]byte, 2000)
	b := make([]byte, 2000)
	copy(a[100:300], rnd(200)) // a PRNG state, with a few bytes equal in both
	copy(b[100:300], rnd(200))
	for i := 150; i < 300; i += 50 {
		b[i] = a[i]
	}
	b[500] = 1 // a lone seed: left alone
	for i := 600; i < 630; i++ {
		b[i] = 1 // too short
	}
	// A map laid out by another hash seed: 64-bit pointers (high bytes
	// zero) and small values in other slots. Refilling it would corrupt it.
	for i := 1000; i < 1400; i += 16 {
		a[i], a[i+1], a[i+2] = byte(i), byte(i>>8), 3
		b[i+8], b[i+9], b[i+10] = byte(i), byte(i>>8), 3
	}
	got := entropySpans(a, b)
	if len(got) != 1 || got[0].off != 100 || got[0].off+got[0].n < 280 || got[0].off+got[0].n > 300 {
		t.Fatalf("entropySpans = %+v, want (most of) the run [100, 300) only", got)
	}
}

// TestCloseReleasesFreshPools closes an engine with idle workers: the
// pools are closed, their workers' memory unmapped, and later calls fail
// with ErrClosed.
func TestCloseReleasesFreshPools(t *testing.T) {
	requireFresh(t)
	ctx := context.Background()
	e, err := New(ctx, Config{MaxTimeout: hostMaxTimeout})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Load(ctx, wasmbuild.Build(t, "host/runtime/testdata/plugins/trivial"))
	if err != nil {
		t.Fatal(err)
	}
	call := Call{Export: "run", Input: []byte(`{}`), Limits: Limits{Timeout: callTimeout}}
	for range 3 {
		if out, err := e.Invoke(ctx, m, call); err != nil || string(out) != "ok" {
			t.Fatalf("Invoke = %q, %v", out, err)
		}
	}
	p := m.freshPool(ctx, e.cfg.MaxMemoryPages, callTimeout)
	if p == nil {
		t.Fatal("trivial does not take the fresh-state path")
	}
	p.restored.Wait()
	p.mu.Lock()
	idle := append([]*worker(nil), p.idle...)
	p.mu.Unlock()
	if len(idle) == 0 {
		t.Fatal("no idle worker after three calls")
	}
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	closed, left := p.closed, len(p.idle)
	p.mu.Unlock()
	if !closed || left != 0 {
		t.Fatalf("pool closed %v with %d idle workers after Engine.Close", closed, left)
	}
	for _, w := range idle {
		if w.mem.region != nil || !w.mod.IsClosed() {
			t.Fatal("an idle worker survived Engine.Close")
		}
	}
	if _, err := e.Invoke(ctx, m, call); !errors.Is(err, ErrClosed) {
		t.Fatalf("Invoke after Close = %v, want ErrClosed", err)
	}
}
