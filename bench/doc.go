// Package bench holds Airlock's end-to-end benchmarks; `make bench` runs
// them and prints a summary (bench/cmd/benchsummary), `make bench-check`
// compares a quick subset with bench/baseline.txt (bench/cmd/benchcheck),
// and BENCHMARKS.md records the numbers. The package has no code of its
// own: everything lives in its _test.go files; subpackage report parses and
// judges the results.
//
//   - BenchmarkTool: one call of a tool (a trivial and a small-JSON
//     standard-Go tool, and an AssemblyScript one when npm built it) in a
//     reused instance (a lower bound, not isolated), a naive fresh instance,
//     and runtime.Engine.Invoke, Airlock's fresh-state call.
//   - BenchmarkPipeline, BenchmarkPipelineBreakdown: one intent through
//     intent.Service.Invoke with the request proof already verified (grant,
//     revocations, schemas, the run, two audit appends), alone and
//     interleaved with a bare fresh-state call for a fair ratio.
//   - BenchmarkAuditAppend, BenchmarkProofVerify, BenchmarkGrantVerify,
//     BenchmarkSignRequest: the parts of a request.
//   - BenchmarkHTTPIntents: signed intents per second over HTTP on loopback
//     against the real server, 8 and 32 concurrent agents (closed loop), each
//     with its own key and grant, signing a fresh request proof per request
//     and verifying the host's receipt (sdk/client); reports req/s and the
//     p50, p99 and p999 latencies.
//   - BenchmarkAuditAppends, BenchmarkAuditVerify1M, BenchmarkAuditOpen1M,
//     BenchmarkAuditProof: durable appends per second (1, 8, 32 appenders;
//     SQLite, and PostgreSQL when AIRLOCK_BENCH_POSTGRES names a server),
//     verification and reload of a cached 1,000,000-entry log, inclusion and
//     consistency proofs at 1k, 100k and 1M entries.
//   - BenchmarkRestart10Plugins: a host with 10 installed plugins, from
//     node.Open to its first served intent.
//
// The benchmarks assemble the host the way cmd/airlock's openHost does
// (internal/node) in temporary data directories. Only tools_test.go drives
// the Extism SDK directly, to time the reused and naive baselines that
// Airlock itself never uses; host/runtime stays the only non-test importer
// of wazero and Extism.
//
// # Security
//
// The benchmarks dial only loopback: the server listens on 127.0.0.1:0 and
// the load generator's dialer refuses any other address. No key or token is
// ever printed. The cached audit fixture's signing key
// (build/bench/audit-1m-v2.key) is a throwaway key used for nothing else.
package bench
