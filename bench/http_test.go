package bench

import (
	"context"
	"errors"
	"fmt"
	"github.com/airlock-dev/airlock/internal/proccpu"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// runLoad sends n echo intents, each client a worker sending one request at
// a time, and records the latency of every successful one and the kind of
// every failure. It is an error when ctx ends before n requests were sent,
// or when more than maxFailedShare of them failed.
func runLoad(ctx context.Context, clients []agentClient, n int) (loadResult, error) {
	lat := make([]time.Duration, n)
	ok := make([]bool, n)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		res  = loadResult{failed: map[string]int{}}
	)
	start := time.Now()
	for _, c := range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				err := c.invokeEcho(ctx)
				lat[i], ok[i] = time.Since(t0), err == nil
				if err != nil {
					mu.Lock()
					res.failed[failureKind(err)]++
					if res.firstFail == nil {
						res.firstFail = fmt.Errorf("request %d of %d: %w", i+1, n, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("bench: load generator stopped before %d requests: %w", n, err)
	}
	res.latencies = make([]time.Duration, 0, n)
	for i, d := range lat {
		if ok[i] {
			res.latencies = append(res.latencies, d)
		}
	}
	slices.Sort(res.latencies)
	if f := res.failures(); float64(f) > maxFailedShare*float64(n) {
		return res, fmt.Errorf("bench: %d of %d requests failed %v; first: %w", f, n, res.failed, res.firstFail)
	}
	return res, nil
}

func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkHTTPIntents measures signed intents per second over HTTP on
// loopback: N agents, each a worker with its own key and grant, each request
// with a freshly signed proof (sdk/client) and a verified receipt. ns/op is
// wall time divided by requests (the inverse of throughput); req/s, p50, p99
// and p999 latency of the successful requests are reported as metrics, with
// the number of failed ones (a run where more than 10% fail is an error).
func BenchmarkHTTPIntents(b *testing.B) {
	h := sharedHost(b)
	for _, n := range []int{8, 32} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			clients := h.agentClients(b, n)
			ctx, cancel := context.WithTimeout(context.Background(), maxLoadDuration)
			defer cancel()
			// One request per agent first: opens the connections and
			// compiles echo for its memory limit, outside the timing.
			for _, c := range clients {
				if err := c.invokeEcho(ctx); err != nil {
					b.Fatalf("warm-up: %v", err)
				}
			}
			b.ResetTimer()
			cpu0 := proccpu.Used()
			res, err := runLoad(ctx, clients, b.N)
			cpu := proccpu.Used() - cpu0
			b.StopTimer()
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
		})
	}
}
