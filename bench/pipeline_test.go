package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	goruntime "runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/intent"
	"github.com/airlock-dev/airlock/host/registry"
	"github.com/airlock-dev/airlock/host/runtime"
)

// echoInput is the input of every benchmark call; echo answers it unchanged.
var echoInput = json.RawMessage(`{"message":"hello from the benchmark"}`)

// intentBody is the POST /v1/intents body for one echo call under a's grant.
func intentBody(tb testing.TB, a agent) []byte {
	tb.Helper()
	body, err := json.Marshal(intent.Request{Tool: echoTool, Input: echoInput, Grant: a.grant})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// verifiedProof is the proof the HTTP layer hands to Service.Invoke after
// checking it: a fresh jti per request, as every signed request has.
func verifiedProof(tb testing.TB, h *host, a agent, body []byte, now time.Time) *identity.Proof {
	tb.Helper()
	jti, err := identity.NewJTI()
	if err != nil {
		tb.Fatal(err)
	}
	return &identity.Proof{
		Iss: a.key.DID(), Aud: h.key.DID(), Jti: jti, Iat: now.Unix(), Exp: now.Add(time.Minute).Unix(),
		Htm: http.MethodPost, Htu: "/v1/intents", Bh: identity.BodyHash(body),
	}
}

// checkEcho fails unless output is echoInput, so a refused or broken intent
// is never timed as a fast one.
func checkEcho(tb testing.TB, output json.RawMessage) {
	tb.Helper()
	if !bytes.Equal(output, echoInput) {
		tb.Fatalf("echo answered %s, want %s", output, echoInput)
	}
}

// BenchmarkPipeline runs one echo intent through the whole decision path
// (intent.Service.Invoke) with the request proof already verified: grant
// signature and claims, revocation lookups, input schema, a fresh instance,
// output schema and two audit appends to the SQLite file.
func BenchmarkPipeline(b *testing.B) {
	h := sharedHost(b)
	a := h.newAgent(b)
	body := intentBody(b, a)
	ctx := context.Background()
	// The first call compiles echo for its manifest's memory limit; keep it
	// out of the timing.
	res, _, err := h.intents.InvokeFresh(ctx, verifiedProof(b, h, a, body, time.Now()), body)
	if err != nil {
		b.Fatal(err)
	}
	checkEcho(b, res.Output)
	for b.Loop() {
		res, out, err := h.intents.InvokeFresh(ctx, verifiedProof(b, h, a, body, time.Now()), body)
		if err != nil {
			b.Fatalf("intent refused (audit index %d): %v", out.Seq, err)
		}
		checkEcho(b, res.Output)
	}
}

// echoCall returns the installed echo tool and a bare runtime call of it
// under its manifest's limits, as the pipeline runs it.
func echoCall(tb testing.TB, h *host) (*registry.Tool, runtime.Call) {
	tb.Helper()
	tool, err := h.registry.Tool(realm, echoTool)
	if err != nil {
		tb.Fatal(err)
	}
	lim := tool.Plugin.Compiled.Manifest.Limits
	return tool, runtime.Call{Export: tool.Tool.Tool.Name, Input: echoInput, Limits: runtime.Limits{
		MemoryPages: uint32(lim.MemoryMB) * 16, Timeout: time.Duration(lim.TimeoutMS) * time.Millisecond,
	}}
}

// BenchmarkPipelineBreakdown interleaves, in every iteration, one pipeline
// intent, one bare fresh-instance run of the same module under the same
// limits (runtime.Engine.Invoke) and two audit appends, and reports the mean
// of each. On a shared machine whose load drifts between benchmarks, only
// interleaved numbers give a fair pipeline-vs-fresh ratio. ns/op is the sum.
func BenchmarkPipelineBreakdown(b *testing.B) {
	h := sharedHost(b)
	a := h.newAgent(b)
	body := intentBody(b, a)
	ctx := context.Background()
	tool, call := echoCall(b, h)
	entry := audit.Entry{Realm: realm, Actor: a.key.DID(), Action: "invoke", Tool: echoTool,
		Decision: "allow", Reason: "started", InputSHA256: identity.BodyHash(body)}
	if _, _, err := h.intents.InvokeFresh(ctx, verifiedProof(b, h, a, body, time.Now()), body); err != nil {
		b.Fatal(err)
	}
	var pipeline, fresh, appends time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		res, _, err := h.intents.InvokeFresh(ctx, verifiedProof(b, h, a, body, time.Now()), body)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		out, err := h.engine.Invoke(ctx, tool.Plugin.Module, call)
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		for range 2 {
			if _, err := h.audit.Append(ctx, entry); err != nil {
				b.Fatal(err)
			}
		}
		t3 := time.Now()
		checkEcho(b, res.Output)
		checkEcho(b, out)
		pipeline, fresh, appends = pipeline+t1.Sub(t0), fresh+t2.Sub(t1), appends+t3.Sub(t2)
		n++
	}
	mean := func(d time.Duration) float64 { return milliseconds(d) / float64(n) }
	b.ReportMetric(mean(pipeline), "pipeline-ms")
	b.ReportMetric(mean(fresh), "fresh-ms")
	b.ReportMetric(mean(appends), "2appends-ms")
	b.ReportMetric(float64(pipeline)/float64(fresh), "pipeline/fresh")
}

// BenchmarkPipelineParallel is the amortised cost of an intent when eight
// agents send at once, as on a busy host: ns/op of the full in-process
// pipeline (its one durable commit shared by a group) next to ns/op of the
// bare fresh-state call under the same concurrency. pipeline/fresh is the
// ratio of the two.
func BenchmarkPipelineParallel(b *testing.B) {
	h := sharedHost(b)
	tool, call := echoCall(b, h)
	const agents = 8
	as := make([]agent, agents)
	bodies := make([][]byte, agents)
	for i := range as {
		as[i] = h.newAgent(b)
		bodies[i] = intentBody(b, as[i])
	}
	ctx := context.Background()
	run := func(op func(i int) error) time.Duration {
		var next atomic.Int64
		start := time.Now()
		b.SetParallelism((agents + goruntime.GOMAXPROCS(0) - 1) / goruntime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)-1) % agents
			for pb.Next() {
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
		return time.Since(start)
	}
	intent := func(i int) error {
		res, _, err := h.intents.InvokeFresh(ctx, verifiedProof(b, h, as[i], bodies[i], time.Now()), bodies[i])
		if err == nil && !bytes.Equal(res.Output, echoInput) {
			err = errors.New("wrong echo")
		}
		return err
	}
	bare := func(int) error {
		out, err := h.engine.Invoke(ctx, tool.Plugin.Module, call)
		if err == nil && !bytes.Equal(out, echoInput) {
			err = errors.New("wrong echo")
		}
		return err
	}
	// Each agent's first intent and a first bare call (the snapshot for the
	// memory limit, the workers) are not timed: b.N starts at 1, and one
	// untimed setup in a 1-iteration run would stand for the whole result.
	for i := range as {
		if err := intent(i); err != nil {
			b.Fatal(err)
		}
	}
	if err := bare(0); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	group := h.commitGroups()
	pipeline := run(intent)
	perCommit := group()
	fresh := run(bare)
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(per(pipeline), "pipeline-us/op")
	b.ReportMetric(per(fresh), "fresh-us/op")
	b.ReportMetric(float64(pipeline)/float64(fresh), "pipeline/fresh")
	b.ReportMetric(perCommit, "intents/commit")
}
