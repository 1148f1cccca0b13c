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
// Every call runs in a fresh instance that is closed afterwards, whatever
// happens: no byte of memory, no global, no open file survives from one call
// to the next. The instance gets WASI with no environment, no arguments, no
// preopened directories and no stdin; its stdout is discarded and its stderr
// is kept only as a short tail to recognise an out-of-memory abort (it is
// never logged or returned). It gets crypto/rand as its random source
// (wazero's default is deterministic) and the real wall and monotonic clocks.
// Extism's own http_request is never given allowed hosts, so it refuses every
// request; network access goes through the Airlock http_request host
// function only. (The Extism SDK sends WASI stdout and stderr to the host's
// when EXTISM_ENABLE_WASI_OUTPUT is set; [New] logs a warning if it is.)
//
// Each call has a memory limit (wazero's per-runtime page limit, so a module
// is compiled once per distinct limit), a deadline (the instance is closed
// when it passes, so an infinite loop ends) and an output size limit, each
// clamped to the host maximum of [Config].
//
// Module bytes are untrusted. Before wazero decodes them, a bounds check
// refuses any vector, string or section longer than the bytes that remain,
// functions with over 50,000 locals and tables declaring over 2^22 entries:
// wazero allocates at declared lengths, and a 14-byte module could otherwise
// make the Go runtime abort the host. Tables that a tool grows at run time
// (table.grow) are not covered by the memory page limit.
//
// A host function reads the guest's request only after asking the handler
// whether the function is allowed; a refused call is reported to
// [HostHandler.Denied] and answered with code "forbidden" without running
// anything. An allowed call's request is copied out of guest memory, capped
// at [MaxHostRequestBytes], before the handler sees it, so the guest cannot
// change it between check and use.
package runtime
