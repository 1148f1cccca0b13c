// Package runtime runs Airlock tools: WebAssembly modules that follow the
// Extism ABI. It is the only package of Airlock that imports wazero or the
// Extism Go SDK; everything above it sees [Engine], [Module], [Call] and
// [Failure].
//
// An [Engine] compiles modules ([Engine.Load]) and runs one tool call at a
// time per instance ([Engine.Invoke]). Airlock's host functions (package abi)
// are linked into every module under abi.HostModule; what each one does is
// decided by the [HostHandler] of the call.
//
// # Security
//
// Every call runs in fresh state: no byte of linear memory, no global, no
// open file and no host-side state of one call is visible to the next. There
// are two ways to get there (see "Fresh state" below): the fresh-state path
// restores a pooled instance to a snapshot taken right after the module's
// initialisation; the fallback path runs each call in a new go-sdk instance
// that is closed afterwards. The instance gets WASI with no environment, no
// arguments, no preopened directories and no stdin; its stdout is discarded
// and its stderr is kept only as a short tail to recognise an out-of-memory
// abort (it is never logged or returned). It gets crypto/rand as its random
// source (wazero's default is deterministic) and the real wall and monotonic
// clocks. Extism's own http_request is never given allowed hosts, so it
// refuses every request; network access goes through the Airlock
// http_request host function only. (On the fallback path, the Extism SDK
// sends WASI stdout and stderr to the host's when EXTISM_ENABLE_WASI_OUTPUT
// is set; [New] logs a warning if it is.)
//
// Each call has a memory limit (wazero's per-runtime page limit, so a module
// gets a runtime, and a snapshot, per distinct limit; the code is compiled
// once), a deadline (the instance is closed when it passes, so an infinite
// loop ends) and an output size limit, each clamped to the host maximum of
// [Config]. The first call under a new limit may take up to twice its time
// limit: building the snapshot and then, if that fails, the fallback call.
//
// Module bytes are untrusted. Before wazero decodes them, a bounds check
// refuses any vector, string or section longer than the bytes that remain,
// functions with over 50,000 locals and tables declaring over 2^22 entries:
// wazero allocates at declared lengths, and a 14-byte module could otherwise
// make the Go runtime abort the host. Tables that a tool grows at run time
// (table.grow) are not covered by the memory page limit.
//
// # Fresh state
//
// Instantiating a standard Go tool (wasip1, c-shared) and running its
// _initialize costs milliseconds; the fresh-state path pays that once per
// module and memory limit and then serves calls from restored instances.
//
// Load rewrites the module so that every mutable global it defines is also
// exported (as __airlock_global_<index>, see exportMutableGlobals; the
// code is unchanged and both paths run the rewritten bytes). On first use
// under a memory limit, the engine builds a wazero runtime with its own
// host modules: WASI (wazero's, with the sandbox configuration above),
// extism:host/env implemented natively in Go, and Airlock's host functions.
// The Extism memory of a call (input, output, error, blocks of the host
// functions, Extism variables) is a Go arena created for the call and
// dropped after it: none of it can reach another call by construction.
//
// It then instantiates the module, runs _initialize (or
// __wasm_call_ctors) and records the snapshot: the linear memory and every
// mutable global. Calls run on workers, instances whose memory is a private
// region of the host reserved up to the memory's maximum. After a call, in
// the background, the worker is restored before anyone can use it again:
//
//   - linear memory: every page a call may have written is put back to the
//     snapshot's bytes, and memory a call grew is zeroed and the memory
//     shrunk back to the snapshot's size, memory.size included (wazero has
//     no API for that: shrinkMemory sets the size through reflection on
//     wazero v1.12's memory type and refuses, discarding the worker, if the
//     type is not as expected);
//   - every mutable global is set to its snapshot value;
//   - the call's stderr buffer, Extism arena and host handler are dropped.
//
// A worker is discarded, never reused, when its call trapped, exited
// (proc_exit), hit its deadline or was cancelled, or used a WASI function
// that changes host-side state (descriptor table, positions, flags:
// fd_close, fd_renumber, path_open, fd_read, ...; see wasiStateFunctions,
// detected through a wazero function listener). Without a preopened
// directory a worker has only descriptors 0, 1 and 2, backed by an empty
// reader and two writers with no state. A tool error (error_set, non-zero
// status) does not discard the worker: it is restored like any other.
//
// Which pages a call may have written: the snapshot lives in a sealed
// memfd, and a worker's memory starts with a private (copy-on-write)
// mapping of it. A page no call of the worker wrote is still the memfd's
// page; the first write makes the kernel copy it. After a call the restore
// reads /proc/self/pagemap (8 bytes per page) and compares with the
// snapshot only the pages that are not the memfd's, copying back those
// that differ; the written pages stay private, so a worker pays the
// copy-on-write fault (10-40 µs on the virtual machine Airlock was
// measured on) once per page over its life, not per call. For a 3 MiB Go
// tool that writes 25 pages a call, a restore takes about 10 µs instead of
// 50 µs for comparing every page, and the pages no call writes (most of a
// Go module's data) are shared by all workers. Where memfd sealing or
// pagemap is missing, each worker holds a copy and every page is compared.
// Faulting on every write (soft-dirty bits, userfaultfd write protection,
// dropping pages after each call) was measured first and costs
// milliseconds per call here.
//
// Calls made one after another alternate between two workers, so one is
// restored while the other runs the next call.
//
// Each pool keeps at most max(2, GOMAXPROCS) idle workers; extra ones are
// discarded when their call ends, and a worker idle for a minute is
// released. A worker holds the snapshot's size of resident memory (plus
// what calls grew it by, kept zeroed) and reserves, without committing,
// address space up to the memory limit. Closing the module's engine closes the
// pools, their wazero runtimes and unmaps every worker's memory (a worker
// still running a call is unmapped when that call returns: wazero may close
// an instance while guest code still runs in it).
//
// Random numbers: the snapshot holds the PRNG state the module seeded at
// initialisation (Go's runtime seeds math/rand and its per-thread chacha8
// from WASI random_get). The engine initialises the module twice with
// different randomness and compares the memories: runs of at least 64
// differing bytes are PRNG state, and are refilled with fresh bytes from
// crypto/rand before every call, so each call draws its own random
// numbers and never the previous call's. Shorter differing runs (per-map
// hash seeds of maps built at initialisation, which must keep their values
// or the maps break, and clock readings) are cloned from the snapshot into
// every call: a tool cannot learn anything from them about another call,
// but two calls see the same map seeds and initialisation time.
//
// A module takes the fallback path when: it cannot be rewritten; it
// imports a memory, table or global, has a shared or 64-bit memory, not
// exactly one memory, a passive data or element segment (data.drop and
// elem.drop would survive) or a mutable global of a reference or vector
// type; its code can change a table (table.set, table.grow, table.fill,
// table.copy, table.init: the restore does not put tables back) or holds
// an instruction the scan for those does not know (changesTables); it
// imports a function the native host does not implement; it is a
// Haskell module (hs_init); its initialisation calls an Extism or Airlock
// host function or a state-changing WASI function, closes the module, or
// is not deterministic in memory size; on a platform other than Linux; or
// when anything in building the snapshot fails. Calls then behave exactly
// as before the fresh-state path existed.
//
// Known limits of the fresh-state path: wasm tables are not restored,
// which is why a module whose code can change one takes the fallback path
// (Go, Rust, C and AssemblyScript toolchains do not emit those
// instructions for ordinary code; every plugin here takes the fast path);
// the snapshot's PRNG handling assumes PRNG states are at least 64 bytes (true
// of Go's runtime and of ChaCha-based generators); and the first call
// under a new memory limit pays for the snapshot (two initialisations).
//
// # Host functions
//
// A host function reads the guest's request only after asking the handler
// whether the function is allowed; a refused call is reported to
// [HostHandler.Denied] and answered with code "forbidden" without running
// anything. An allowed call's request is copied out of guest memory, capped
// at [MaxHostRequestBytes], before the handler sees it, so the guest cannot
// change it between check and use.
package runtime
