package bench

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/sdk/client"
)

// TestBenchHostEnforces checks that the host the benchmarks time is a real,
// verifying host: an agent's own grant gets the echo, while the attacks the
// pipeline exists to stop are refused with their problem codes.
func TestBenchHostEnforces(t *testing.T) {
	h := sharedHost(t)
	clients := h.agentClients(t, 2)
	alice, mallory := clients[0], clients[1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	tests := []struct {
		name     string
		from     agentClient
		tool     string
		grant    string
		wantCode string // "" = the echo answer
	}{
		{"agent with its own grant", alice, echoTool, alice.grant, ""},
		{"agent presenting another agent's grant", mallory, echoTool, alice.grant, "grant_invalid"},
		{"tool outside the grant", alice, "web/fetch", alice.grant, "forbidden"},
		{"forged grant", alice, echoTool, alice.grant[:len(alice.grant)-4] + "AAAA", "grant_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, resp, err := tt.from.c.Invoke(ctx, tt.tool, echoInput, tt.grant)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				checkEcho(t, res.Output)
				if resp.Receipt.Seq < 0 {
					t.Errorf("receipt names no audit entry (seq %d)", resp.Receipt.Seq)
				}
				return
			}
			var p *client.Problem
			if !errors.As(err, &p) {
				t.Fatalf("got %v, want problem %s", err, tt.wantCode)
			}
			if p.Code != tt.wantCode {
				t.Errorf("problem %s, want %s", p.Code, tt.wantCode)
			}
		})
	}
}

// TestLoadGeneratorDialsOnlyLoopback checks the load generator's dialer:
// the benchmarks must never reach past the machine, nor look up a name.
func TestLoadGeneratorDialsOnlyLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dial := loopbackTransport(1).DialContext
	tests := []struct {
		name   string
		addr   string
		refuse bool
	}{
		{"loopback listener", ln.Addr().String(), false},
		{"cloud metadata IP", "169.254.169.254:80", true},
		{"public IP", "192.0.2.1:443", true},
		{"private IP", "10.0.0.1:8080", true},
		{"host name that would need DNS", "example.org:80", true},
		{"localhost by name (no lookup, even of local names)", "localhost:80", true},
		{"unspecified address", "0.0.0.0:80", true},
		{"no port", "127.0.0.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := dial(context.Background(), "tcp", tt.addr)
			if c != nil {
				c.Close()
			}
			if tt.refuse != errors.Is(err, errNotLoopback) {
				t.Errorf("dial %s: %v, want refused=%v", tt.addr, err, tt.refuse)
			}
			if !tt.refuse && err != nil {
				t.Errorf("dial %s: %v", tt.addr, err)
			}
		})
	}
}

// TestQuantile checks the nearest-rank percentiles the HTTP benchmark
// reports, so a p99 never hides the tail it is meant to show.
func TestQuantile(t *testing.T) {
	ms := func(vals ...int) []time.Duration {
		out := make([]time.Duration, len(vals))
		for i, v := range vals {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name string
		lat  []time.Duration
		q    float64
		want time.Duration
	}{
		{"no samples", nil, 0.5, 0},
		{"one sample is every quantile", ms(7), 0.999, 7 * time.Millisecond},
		{"median of an odd count", ms(1, 2, 3), 0.5, 2 * time.Millisecond},
		{"median of an even count is the lower middle", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of 100 samples is the 99th", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p999 of 100 samples is the slowest (a single outlier is not hidden)", ms(hundred...), 0.999, 100 * time.Millisecond},
		{"p50 of 100 samples is the 50th", ms(hundred...), 0.50, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (loadResult{latencies: tt.lat}).quantile(tt.q); got != tt.want {
				t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

// TestRunLoadReportsFailure checks that refused requests are counted, never
// timed as successes, and that a run where many are refused is an error: a
// host that refuses fast must not look fast.
func TestRunLoadReportsFailure(t *testing.T) {
	h := sharedHost(t)
	clients := h.agentClients(t, 2)
	clients[1].grant = clients[0].grant // the second agent presents a grant that is not its own
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := agentLoad(ctx, clients, 10)
	var p *client.Problem
	if !errors.As(err, &p) || p.Code != "grant_invalid" {
		t.Fatalf("runLoad = %v, want the grant_invalid problem", err)
	}
	if res.failed["grant_invalid"] == 0 || len(res.latencies)+res.failures() != 10 {
		t.Errorf("failed %v with %d successes, want grant_invalid counted and 10 requests in all", res.failed, len(res.latencies))
	}

	res, err = agentLoad(ctx, clients[:1], 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.latencies) != 5 || res.latencies[0] <= 0 {
		t.Errorf("latencies %v, want 5 positive samples", res.latencies)
	}
}

// agentLoad is runLoad of n requests through the clients' sdk/client.
func agentLoad(ctx context.Context, clients []agentClient, n int) (loadResult, error) {
	run, err := runLoad(ctx, len(clients), n, func(ctx context.Context, w, _ int) error { return clients[w].invokeEcho(ctx) })
	if err != nil {
		return loadResult{}, err
	}
	return run.collect()
}

// TestPresignedAnswersAreChecked checks that the pre-signed load
// generator's after-the-run check refuses what sdk/client refuses: a
// refusal, a receipt that does not verify, a receipt for another request.
func TestPresignedAnswersAreChecked(t *testing.T) {
	h := sharedHost(t)
	clients := h.agentClients(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hc := &http.Client{Transport: loopbackTransport(1), Timeout: time.Minute}
	url := h.baseURL + "/v1/intents"

	good := presign(t, h, clients[0].agent, 3)
	var first, second answer
	if err := good.send(ctx, hc, url, &first); err != nil {
		t.Fatal(err)
	}
	if err := first.check(h.key.DID()); err != nil {
		t.Fatalf("a good answer fails the check: %v", err)
	}
	if err := good.send(ctx, hc, url, &second); err != nil {
		t.Fatal(err)
	}
	swapped := first
	swapped.receipt = second.receipt
	if err := swapped.check(h.key.DID()); !errors.Is(err, client.ErrReceipt) {
		t.Errorf("another request's receipt: check = %v, want ErrReceipt", err)
	}
	tampered := first
	tampered.body = []byte(strings.Replace(string(first.body), "hello", "HELLO", 1))
	if err := tampered.check(h.key.DID()); !errors.Is(err, client.ErrReceipt) {
		t.Errorf("a changed body: check = %v, want ErrReceipt", err)
	}
	if err := good.send(ctx, hc, url, &second); err != nil {
		t.Fatal(err)
	}
	if err := good.send(ctx, hc, url, &second); !errors.Is(err, errOutOfRequests) {
		t.Errorf("a fourth request of three: %v, want errOutOfRequests", err)
	}

	foreign := clients[1].agent
	foreign.grant = clients[0].grant // not its own grant: refused
	bad := presign(t, h, foreign, 1)
	var refused answer
	if err := bad.send(ctx, hc, url, &refused); err != nil {
		t.Fatal(err)
	}
	if err := refused.check(h.key.DID()); err == nil || refused.status != http.StatusForbidden && refused.status != http.StatusUnauthorized {
		t.Errorf("a refused intent (status %d): check = %v, want an error", refused.status, err)
	}
}
