package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/airlock-dev/airlock/abi"
	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
)

// maxFailureMessage caps Failure.Message.
const maxFailureMessage = 512

// Limits bound one call. A zero field means the host maximum; every field is
// clamped to the host maximum of the Engine's Config.
type Limits struct {
	MemoryPages    uint32        // per memory, in 64 KiB pages
	Timeout        time.Duration // wall time of the whole call, instantiation included
	MaxOutputBytes int           // size of the tool's output
}

// Call is one tool invocation.
type Call struct {
	Export string      // the tool's export, named like the manifest's tool
	Input  []byte      // the tool's JSON input, passed as Extism input
	Limits Limits      // clamped to the host maximums
	Host   HostHandler // serves host functions for this call; nil denies all
}

// Failure is returned by Invoke when the tool itself failed. Reason is
// abi.ReasonTimeout, abi.ReasonMemory, abi.ReasonTrap or
// abi.ReasonOutputSize. Message is short and safe to show to the agent: it
// never holds host paths, stack traces or another call's data.
type Failure struct {
	Reason  abi.FailureReason
	Message string
}

// Error implements error.
func (f *Failure) Error() string {
	return "runtime: tool failed (" + f.Reason.String() + "): " + f.Message
}

// limits returns l with zero fields set to, and every field clamped to, the
// host maximums.
func (e *Engine) limits(l Limits) Limits {
	if l.MemoryPages == 0 || l.MemoryPages > e.cfg.MaxMemoryPages {
		l.MemoryPages = e.cfg.MaxMemoryPages
	}
	if l.Timeout <= 0 || l.Timeout > e.cfg.MaxTimeout {
		l.Timeout = e.cfg.MaxTimeout
	}
	if l.MaxOutputBytes <= 0 || l.MaxOutputBytes > e.cfg.MaxOutputBytes {
		l.MaxOutputBytes = e.cfg.MaxOutputBytes
	}
	return l
}

// Invoke runs one call in fresh state: on the fresh-state path, a pooled
// instance of m restored to its post-initialisation snapshot; otherwise a
// fresh instance closed afterwards whatever happens (see the package
// documentation). It returns the tool's output bytes. A failure of the tool is a
// [*Failure]; any other error (unknown export, closed engine, ctx done) is
// the host's or the caller's.
func (e *Engine) Invoke(ctx context.Context, m *Module, c Call) ([]byte, error) {
	if m == nil || m.engine != e {
		return nil, errors.New("runtime: module not loaded by this engine")
	}
	if e.isClosed() {
		return nil, fmt.Errorf("runtime: %w", ErrClosed)
	}
	if !m.exports[c.Export] {
		return nil, fmt.Errorf("runtime: %w: %q", ErrNoExport, c.Export)
	}
	lim := e.limits(c.Limits)
	if lim.MemoryPages < m.minPages {
		return nil, &Failure{Reason: abi.ReasonMemory, Message: fmt.Sprintf(
			"tool needs %d memory pages, its limit is %d", m.minPages, lim.MemoryPages)}
	}
	host := c.Host
	if host == nil {
		host = denyAll{}
	}

	if p := m.freshPool(ctx, lim.MemoryPages, lim.Timeout); p != nil {
		return e.invokeFresh(ctx, m, p, c, lim, host)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("runtime: %w", ctx.Err())
	}
	return e.invokeInstance(ctx, m, c, lim, host)
}

// invokeInstance is the fallback path of Invoke: a fresh go-sdk instance,
// closed afterwards whatever happens.
func (e *Engine) invokeInstance(ctx context.Context, m *Module, c Call, lim Limits, host HostHandler) ([]byte, error) {
	cp, err := m.plugin(ctx, lim.MemoryPages)
	if err != nil {
		return nil, err
	}

	callCtx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	callCtx = context.WithValue(callCtx, handlerKey{}, host)
	mem := &memoryTracker{}
	stderr := &headBuffer{max: 4 << 10}

	plugin, err := cp.Instance(experimental.WithMemoryAllocator(callCtx, mem),
		extism.PluginInstanceConfig{ModuleConfig: sandboxConfig(stderr)})
	if err != nil {
		return nil, e.failure(ctx, callCtx, m, c.Export, lim, mem, stderr, 0, err, "")
	}
	defer func() {
		// The call's context may be done: close with one that is not.
		if err := plugin.Close(context.WithoutCancel(ctx)); err != nil {
			e.log.DebugContext(ctx, "closing instance", "sha256", m.sha256, "error", err)
		}
	}()
	// Extism's own log functions bypass Airlock's rate- and size-capped log:
	// drop what they say.
	plugin.SetLogger(func(extism.LogLevel, string) {})

	rc, out, err := plugin.CallWithContext(callCtx, c.Export, c.Input)
	if err != nil || rc != 0 {
		toolErr := ""
		if err != nil {
			if msg := plugin.GetErrorWithContext(context.WithoutCancel(ctx)); msg != "" && msg == err.Error() {
				toolErr = msg // set by the tool through Extism's error_set
			}
		}
		return nil, e.failure(ctx, callCtx, m, c.Export, lim, mem, stderr, rc, err, toolErr)
	}
	if len(out) > lim.MaxOutputBytes {
		return nil, e.logFailure(ctx, m, c.Export, &Failure{Reason: abi.ReasonOutputSize, Message: fmt.Sprintf(
			"output of %d bytes over the limit of %d", len(out), lim.MaxOutputBytes)})
	}
	return out, nil
}

// sandboxConfig is the WASI configuration of every instance (DESIGN §3): no
// environment, arguments, directories or stdin; real randomness and clocks;
// stdout discarded; stderr kept only in a bounded buffer for classifying
// failures.
func sandboxConfig(stderr io.Writer) wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithRandSource(rand.Reader).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithStdin(bytes.NewReader(nil)).
		WithStdout(io.Discard).
		WithStderr(stderr)
}

// failure classifies a failed call. A caller whose own context ended gets
// that error, not a Failure.
func (e *Engine) failure(ctx, callCtx context.Context, m *Module, export string, lim Limits,
	mem nearLimiter, stderr *headBuffer, rc uint32, err error, toolErr string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("runtime: %w", ctx.Err())
	}
	var f *Failure
	var exit *sys.ExitError
	switch {
	case errors.Is(callCtx.Err(), context.DeadlineExceeded):
		f = &Failure{Reason: abi.ReasonTimeout, Message: fmt.Sprintf("tool exceeded its time limit of %s", lim.Timeout)}
	case toolErr != "":
		f = &Failure{Reason: abi.ReasonTrap, Message: safeMessage(toolErr)}
	case mem.nearLimit(memorySlack(lim.MemoryPages)) || stderr.contains("out of memory"):
		f = &Failure{Reason: abi.ReasonMemory, Message: fmt.Sprintf(
			"tool exceeded its memory limit of %d pages (%d MiB)", lim.MemoryPages, lim.MemoryPages/16)}
	case errors.As(err, &exit):
		f = &Failure{Reason: abi.ReasonTrap, Message: fmt.Sprintf("tool exited with status %d", exit.ExitCode())}
	case err != nil:
		f = &Failure{Reason: abi.ReasonTrap, Message: safeMessage(firstLine(err.Error()))}
	default:
		f = &Failure{Reason: abi.ReasonTrap, Message: fmt.Sprintf("tool returned status %d", rc)}
	}
	return e.logFailure(ctx, m, export, f)
}

func (e *Engine) logFailure(ctx context.Context, m *Module, export string, f *Failure) *Failure {
	// The message may hold guest-chosen text: log only the reason.
	e.log.DebugContext(ctx, "tool failed", "sha256", m.sha256, "export", export, "reason", f.Reason.String())
	return f
}

// nearLimiter reports whether any memory of a call reached within slack
// bytes of its maximum.
type nearLimiter interface {
	nearLimit(slack uint64) bool
}

// memorySlack is how close to its limit a memory must have grown for a
// failure to count as out-of-memory. Allocators grow the heap in steps (Go's
// by up to 4 MiB at a time), so a heap that could not grow may stop short of
// the limit by one step.
func memorySlack(pages uint32) uint64 {
	const page = 64 << 10
	return uint64(4<<20) + uint64(pages)*page/16
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// safeMessage returns s as valid UTF-8 of at most maxFailureMessage bytes,
// control characters removed.
func safeMessage(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= maxFailureMessage {
		return s
	}
	i := maxFailureMessage
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// headBuffer keeps the first max bytes written to it and drops the rest.
type headBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

// Write implements io.Writer; it never fails, so the guest sees its writes
// succeed.
func (b *headBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *headBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Contains(b.buf, []byte(s))
}

// denyAll is the HostHandler of a Call without one.
type denyAll struct{}

func (denyAll) Allowed(abi.Function) bool { return false }
func (denyAll) Call(context.Context, abi.Function, []byte) []byte {
	return errorResponse(abi.CodeForbidden, "no host functions granted")
}
func (denyAll) Denied(context.Context, abi.Function) {}
