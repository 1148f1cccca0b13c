// Package bench holds Airlock's end-to-end benchmarks; `make bench` runs
// them and BENCHMARKS.md records the numbers. The package has no code of its
// own: everything lives in its _test.go files.
//
//   - BenchmarkPipeline: one intent through intent.Service.Invoke, the request
//     proof already verified: grant verification, revocation checks, input
//     schema, a fresh sandboxed run of plugins/echo, output schema and two
//     audit appends to a real SQLite file.
//   - BenchmarkHTTPIntents: signed intents per second over HTTP on loopback
//     against the real server, N concurrent agents each signing a fresh
//     request proof per request and verifying the host's receipt (sdk/client);
//     reports req/s and the p50, p99 and p999 latencies.
//
// The benchmarks assemble the host the way cmd/airlock's openHost does
// (keys, store, audit log, runtime engine, registry, intent service,
// server) in a temporary data directory; the two runtime-level benchmarks
// (reused vs fresh instance) live in host/runtime, the only package that may
// import wazero and Extism.
//
// # Security
//
// The benchmarks dial only loopback: the server listens on 127.0.0.1:0 and
// the load generator's dialer refuses any other address. No key or token is
// ever printed.
package bench
