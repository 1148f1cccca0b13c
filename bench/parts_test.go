package bench

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/identity"
)

// The parts of a request that are not the tool run, timed alone so that
// BENCHMARKS.md can account for the pipeline's and the HTTP path's cost.

// BenchmarkAuditAppend appends one decision to the audit log: one SQLite
// transaction on the host's database file (WAL, synchronous=FULL), so one
// durable commit. Every intent appends two (the decision and the result).
func BenchmarkAuditAppend(b *testing.B) {
	h := sharedHost(b)
	ctx := context.Background()
	e := audit.Entry{Realm: realm, Actor: h.operator.DID(), Action: "invoke", Tool: echoTool,
		Decision: "allow", Reason: "started", InputSHA256: identity.BodyHash(echoInput)}
	for b.Loop() {
		if _, err := h.audit.Append(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProofVerify checks one request proof as the server does before an
// intent: signature, claims, body hash and the replay store insert (one
// durable SQLite commit).
func BenchmarkProofVerify(b *testing.B) {
	h := sharedHost(b)
	a := h.newAgent(b)
	body := intentBody(b, a)
	v := &identity.RequestVerifier{HostDID: h.key.DID(), Replay: h.db}
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		proof, err := identity.SignRequest(a.key, h.key.DID(), http.MethodPost, "/v1/intents", body, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := v.Verify(ctx, identity.AuthScheme+" "+proof, http.MethodPost, "/v1/intents", body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGrantVerify verifies and compiles one grant (no I/O): the first
// step of every intent.
func BenchmarkGrantVerify(b *testing.B) {
	h := sharedHost(b)
	a := h.newAgent(b)
	for b.Loop() {
		if _, err := h.intents.Grants.Verify(a.grant, a.key.DID()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignRequest signs one request proof, the agent's cost per request
// (paid on the same two cores in BenchmarkHTTPIntents).
func BenchmarkSignRequest(b *testing.B) {
	h := sharedHost(b)
	a := h.newAgent(b)
	body := intentBody(b, a)
	for b.Loop() {
		if _, err := identity.SignRequest(a.key, h.key.DID(), http.MethodPost, "/v1/intents", body, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
