package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/internal/proccpu"
	"github.com/airlock-dev/airlock/sdk/client"
)

// maxLoadDuration bounds one round of the load generator; a round that needs
// longer fails instead of reporting numbers for fewer requests than b.N.
const maxLoadDuration = 2 * time.Minute

// errNotLoopback is returned by the load generator's dialer for any address
// that is not a loopback IP literal (host names included: no DNS lookups).
var errNotLoopback = errors.New("bench: refusing to dial a non-loopback address")

// loopbackTransport is an HTTP transport that keeps up to conns idle
// connections to the host and dials nothing but loopback IP literals.
func loopbackTransport(conns int) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Transport{
		Proxy: nil, // never a proxy, whatever the environment says
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, fmt.Errorf("%w: %q", errNotLoopback, addr)
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("%w: %q", errNotLoopback, addr)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
	}
}

// agentClient is one agent talking to the host through sdk/client, which
// signs a fresh request proof per request and verifies every receipt.
type agentClient struct {
	agent
	c *client.Client
}

// agentClients creates n agents, each with its own key, grant and client,
// sharing one loopback transport.
func (h *host) agentClients(tb testing.TB, n int) []agentClient {
	tb.Helper()
	hc := &http.Client{Transport: loopbackTransport(n), Timeout: time.Minute}
	out := make([]agentClient, n)
	for i := range out {
		a := h.newAgent(tb)
		c, err := client.New(h.baseURL, a.key, client.Options{HostDID: h.key.DID(), HTTP: hc})
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = agentClient{agent: a, c: c}
	}
	return out
}

// invokeEcho sends one signed echo intent and checks the verified answer.
func (a agentClient) invokeEcho(ctx context.Context) error {
	res, resp, err := a.c.Invoke(ctx, echoTool, echoInput, a.grant)
	if err != nil {
		return err
	}
	if resp.Status != http.StatusOK || string(res.Output) != string(echoInput) {
		return fmt.Errorf("bench: echo answered %d %s", resp.Status, res.Output)
	}
	return nil
}

// maxFailedShare is the share of failed requests above which a run is an
// error rather than a measurement: a host that refuses most requests
// answers fast and would look good.
const maxFailedShare = 0.10

// loadResult is one run of the load generator.
type loadResult struct {
	latencies []time.Duration // of the successful requests, sorted ascending
	failed    map[string]int  // failed requests by kind (problem code, "receipt", "other")
	firstFail error
	elapsed   time.Duration
}

// quantile returns the q-quantile of the latencies by the nearest-rank
// method (the smallest latency with at least q of the samples at or below
// it). With fewer than 1/(1-q) samples it is the maximum.
func (r loadResult) quantile(q float64) time.Duration {
	n := len(r.latencies)
	if n == 0 {
		return 0
	}
	rank := int(q * float64(n))
	if float64(rank) < q*float64(n) {
		rank++ // ceil
	}
	rank = min(max(rank, 1), n)
	return r.latencies[rank-1]
}

// failures returns the number of failed requests.
func (r loadResult) failures() int {
	n := 0
	for _, c := range r.failed {
		n += c
	}
	return n
}

// failureKind names what went wrong with one request.
func failureKind(err error) string {
	var p *client.Problem
	switch {
	case errors.As(err, &p):
		if p.Reason != "" {
			return p.Code + "/" + p.Reason
		}
		return p.Code
	case errors.Is(err, client.ErrReceipt):
		return "receipt"
	default:
		return "other"
	}
}

// runLoad sends n requests from workers closed-loop workers, each sending
// one request at a time: do(ctx, w, i) is worker w sending request i (the
// indexes are shared: a fast worker sends more). It records every request's
// latency and error; collect makes the loadResult. It is an error when ctx
// ends before n requests were sent.
func runLoad(ctx context.Context, workers, n int, do func(ctx context.Context, w, i int) error) (loadRun, error) {
	run := loadRun{lat: make([]time.Duration, n), errs: make([]error, n)}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				err := do(ctx, w, i)
				run.lat[i], run.errs[i] = time.Since(t0), err
				if errors.Is(err, errOutOfRequests) {
					return
				}
			}
		})
	}
	wg.Wait()
	run.elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return run, fmt.Errorf("bench: load generator stopped before %d requests: %w", n, err)
	}
	if sent := min(int(next.Load()), n); sent < n {
		return run, fmt.Errorf("bench: load generator sent %d of %d requests: %w", sent, n, errOutOfRequests)
	}
	return run, nil
}

// errOutOfRequests stops a worker that has sent all its pre-signed requests.
var errOutOfRequests = errors.New("bench: worker ran out of pre-signed requests")

// loadRun is what runLoad saw of each request, before the results are
// checked.
type loadRun struct {
	lat     []time.Duration
	errs    []error
	elapsed time.Duration
}

// collect makes the loadResult of run: latencies of the successful requests
// and failures by kind. It is an error when more than maxFailedShare of
// them failed.
func (run loadRun) collect() (loadResult, error) {
	res := loadResult{failed: map[string]int{}, elapsed: run.elapsed, latencies: make([]time.Duration, 0, len(run.lat))}
	for i, err := range run.errs {
		if err == nil {
			res.latencies = append(res.latencies, run.lat[i])
			continue
		}
		res.failed[failureKind(err)]++
		if res.firstFail == nil {
			res.firstFail = fmt.Errorf("request %d of %d: %w", i+1, len(run.errs), err)
		}
	}
	slices.Sort(res.latencies)
	n := len(run.errs)
	if f := res.failures(); float64(f) > maxFailedShare*float64(n) {
		return res, fmt.Errorf("bench: %d of %d requests failed %v; first: %w", f, n, res.failed, res.firstFail)
	}
	return res, nil
}

// presigned is one agent's requests, signed before the load starts, and
// what the host answered to each.
type presigned struct {
	a      agent
	body   []byte
	proofs []string
	jtis   []string
	next   int
}

// answer is one answer of the host, kept for the check after the run.
type answer struct {
	status  int
	body    []byte
	receipt string
	jti     string
}

// presign signs per requests for a, each with its own jti.
func presign(tb testing.TB, h *host, a agent, per int) *presigned {
	tb.Helper()
	p := &presigned{a: a, body: intentBody(tb, a)}
	now := time.Now()
	for range per {
		proof, jti, err := identity.SignRequestJTI(a.key, h.key.DID(), http.MethodPost, "/v1/intents", p.body, now)
		if err != nil {
			tb.Fatal(err)
		}
		p.proofs, p.jtis = append(p.proofs, proof), append(p.jtis, jti)
	}
	return p
}

// send posts p's next pre-signed request and keeps the answer in *ans.
func (p *presigned) send(ctx context.Context, hc *http.Client, url string, ans *answer) error {
	if p.next >= len(p.proofs) {
		return errOutOfRequests
	}
	proof, jti := p.proofs[p.next], p.jtis[p.next]
	p.next++
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(p.body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Airlock "+proof)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, client.MaxResponse))
	if err != nil {
		return err
	}
	*ans = answer{status: resp.StatusCode, body: rb, receipt: resp.Header.Get("Airlock-Receipt"), jti: jti}
	return nil
}

// check verifies, after the run, what sdk/client checks during it: the
// receipt (signed by the host, bound to the request's jti, the status and
// the body) and the echoed output.
func (ans answer) check(hostDID string) error {
	if _, err := identity.VerifyReceipt(ans.receipt, hostDID, ans.jti, ans.status, ans.body); err != nil {
		return fmt.Errorf("%w: %v", client.ErrReceipt, err)
	}
	var res client.IntentResult
	if ans.status != http.StatusOK || json.Unmarshal(ans.body, &res) != nil || !bytes.Equal(res.Output, echoInput) {
		return fmt.Errorf("bench: echo answered %d %s", ans.status, ans.body)
	}
	return nil
}

func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkHTTPIntents measures signed intents per second over HTTP on
// loopback: N agents, each a worker with its own key and grant sending one
// request at a time, each request with its own signed proof and a receipt
// that is verified. ns/op is wall time divided by requests (the inverse of
// throughput); req/s, p50, p99 and p999 latency of the successful requests
// are reported as metrics, with the number of failed ones (a run where more
// than 10% fail is an error) and the CPU of the whole process per request.
//
// mode=agent runs every agent through sdk/client, which signs each proof
// and verifies each receipt inline: the load generator's Ed25519 work
// (about 0.15 ms a request) shares the host's two cores. mode=presigned is
// the host's capacity: each agent's proofs are signed before the timing,
// and the receipts and outputs are verified after it, all of them.
func BenchmarkHTTPIntents(b *testing.B) {
	h := sharedHost(b)
	for _, mode := range []string{"agent", "presigned"} {
		for _, n := range []int{8, 32} {
			b.Run(fmt.Sprintf("mode=%s/agents=%d", mode, n), func(b *testing.B) {
				benchmarkHTTP(b, h, mode, n)
			})
		}
	}
}

func benchmarkHTTP(b *testing.B, h *host, mode string, agents int) {
	clients := h.agentClients(b, agents)
	ctx, cancel := context.WithTimeout(context.Background(), maxLoadDuration)
	defer cancel()
	// One request per agent first: opens the connections and compiles echo
	// for its memory limit, outside the timing.
	for _, c := range clients {
		if err := c.invokeEcho(ctx); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}
	do := func(ctx context.Context, w, _ int) error { return clients[w].invokeEcho(ctx) }
	var (
		answers []answer
		pre     []*presigned
	)
	if mode == "presigned" {
		// A fast worker may send more than its share: twice it, plus some.
		per := 2*(b.N+agents-1)/agents + 16
		pre = make([]*presigned, agents)
		for w := range pre {
			pre[w] = presign(b, h, clients[w].agent, per)
		}
		answers = make([]answer, b.N)
		hc := &http.Client{Transport: loopbackTransport(agents), Timeout: time.Minute}
		url := h.baseURL + "/v1/intents"
		do = func(ctx context.Context, w, i int) error { return pre[w].send(ctx, hc, url, &answers[i]) }
	}
	b.ResetTimer()
	cpu0 := proccpu.Used()
	group := h.commitGroups()
	run, err := runLoad(ctx, agents, b.N, do)
	cpu := proccpu.Used() - cpu0
	perCommit := group()
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	for i := range answers {
		if run.errs[i] == nil {
			run.errs[i] = answers[i].check(h.key.DID())
		}
	}
	res, err := run.collect()
	if err != nil {
		b.Fatal(err)
	}
	if f := res.failures(); f > 0 {
		b.Logf("%d of %d requests failed %v; first: %v", f, b.N, res.failed, res.firstFail)
	}
	b.ReportMetric(float64(len(res.latencies))/res.elapsed.Seconds(), "req/s")
	// CPU of the host and the load generator together, per request.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/req")
	b.ReportMetric(float64(res.failures()), "failed")
	b.ReportMetric(milliseconds(res.quantile(0.50)), "p50-ms")
	b.ReportMetric(milliseconds(res.quantile(0.99)), "p99-ms")
	b.ReportMetric(milliseconds(res.quantile(0.999)), "p999-ms")
	b.ReportMetric(perCommit, "intents/commit")
}
