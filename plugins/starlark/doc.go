// Command starlark is the Airlock code runner: it runs agent-supplied
// Starlark (go.starlark.net) inside the tool sandbox and returns the value
// the code leaves in its global "result".
//
// Tools:
//
//   - "run" (no capability): {"code", "input"?} → {"result", "prints"}. The
//     code sees a predeclared "input" (the JSON input as Starlark values) and
//     the "json" module (go.starlark.net/lib/json).
//   - "run_http" (capability "http"): the same, plus a builtin
//     http_get(url) → {"status", "body"} that goes through the host's
//     http_request function.
//
// The Starlark logic (JSON ↔ Starlark conversion, interpreter limits) lives in
// script.go, which has no build tag so that it is tested natively; main.go
// holds the wasip1 exports.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o starlark.wasm ./plugins/starlark
//
// # Security
//
// The Airlock sandbox is the boundary: the host's time and memory limits end
// a runaway script, and only the host functions the caller's grant allows do
// anything. The interpreter limits here make the usual failures cheap and
// readable, they are not a second sandbox: at most 5 million Starlark steps,
// no recursion, no load statement, print output capped, result and input
// nesting capped. "run" does not predeclare http_get, and a module call of
// http_request under a grant without "http" is refused by the host. http_get
// never dials anything itself: the host applies the grant's allowlist, its
// private-address checks and its size and time caps.
package main
