package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/sdk/client"
)

// failingAppender passes appends through until failFrom (1-based count of
// appends, 0 = never), then fails every one like a full disk.
type failingAppender struct {
	next     audit.Appender
	n        atomic.Int64
	failFrom atomic.Int64
}

func (f *failingAppender) Append(ctx context.Context, e audit.Entry) (int64, error) {
	n := f.n.Add(1)
	if from := f.failFrom.Load(); from > 0 && n >= from {
		return -1, fmt.Errorf("audit: %w: test: disk full", audit.ErrUnavailable)
	}
	return f.next.Append(ctx, e)
}

// AppendAll counts each entry of the group; when one of them would fail,
// the whole group fails and nothing is written, as in one commit.
func (f *failingAppender) AppendAll(ctx context.Context, pre audit.Pre, es ...audit.Entry) ([]int64, error) {
	for range es {
		n := f.n.Add(1)
		if from := f.failFrom.Load(); from > 0 && n >= from {
			return nil, fmt.Errorf("audit: %w: test: disk full", audit.ErrUnavailable)
		}
	}
	return f.next.AppendAll(ctx, pre, es...)
}

// failAfter makes the append k appends from now the first to fail.
func (f *failingAppender) failAfter(k int64) { f.failFrom.Store(f.n.Load() + k) }

// testAuditFailsClosed: when the audit log cannot be written, nothing
// happens: the tool does not run, a denial is not answered as a denial,
// and output the host could not record is withheld.
func testAuditFailsClosed(t *testing.T, h *privateHost) {
	fa := h.audit
	tg := newTarget(t, "127.0.0.1:0", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("exfiltrated")) })
	g := fetchGrant(t, h.Host, "127.0.0.1")
	input := `{"url":"` + tg.URL + `/"}`

	// The path works while the log does.
	wantOutput(t, invoke(t, h.Agent(), "web/fetch", input, g))
	if tg.hits.Load() != 1 {
		t.Fatalf("target saw %d requests, want 1", tg.hits.Load())
	}

	tests := []struct {
		name      string
		failAfter int64 // the k-th append from now is the first to fail
		grant     string
		wantHits  int64 // requests the target sees
	}{
		{"audit down before the run: the tool never runs", 1, g, 0},
		{"audit down on a denial: no answer without a record", 1, h.Grant(t, func(c *grant.Claims) { c.Tools = []string{"echo/echo"} }), 0},
		{"audit down at the egress decision: the request never leaves", 2, g, 0},
		{"audit down after the run: output withheld", 3, g, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer fa.failFrom.Store(0)
			before := tg.hits.Load()
			fa.failAfter(tt.failAfter)
			resp := invoke(t, h.Agent(), "web/fetch", input, tt.grant)
			wantResponseProblem(t, resp, abi.CodeUnavailable, "")
			if strings.Contains(string(resp.Body), "exfiltrated") {
				t.Fatalf("unrecorded output returned: %s", resp.Body)
			}
			if n := tg.hits.Load() - before; n != tt.wantHits {
				t.Fatalf("target saw %d requests, want %d", n, tt.wantHits)
			}
		})
	}
	// and it works again once the log does
	wantOutput(t, invoke(t, h.Agent(), "web/fetch", input, g))
}

// testAuditEndpoint: operators read entries with the DESIGN §9 field names;
// agents and operators of other realms do not.
func testAuditEndpoint(t *testing.T, h *apiHost) {
	otherOperator := h.otherOperator
	g := h.Grant(t, nil)
	ok := invoke(t, h.Agent(), "echo/echo", `{"message":"audited"}`, g)
	wantOutput(t, ok)
	ctx := context.Background()

	var got struct {
		Entries []map[string]json.RawMessage `json:"entries"`
	}
	if _, err := h.Operator().DoJSON(ctx, http.MethodGet, "/v1/audit?realm=default&from=0&limit=1000", nil, &got); err != nil {
		t.Fatal(err)
	}
	design := []string{"index", "time", "realm", "actor", "action", "tool", "decision", "reason", "request", "grant", "input_sha256", "output_sha256"}
	allowed := map[string]bool{"parent": true} // nested-call link, omitted when zero
	for _, f := range design {
		allowed[f] = true
	}
	var sawResult bool
	for _, e := range got.Entries {
		var names []string
		for k := range e {
			names = append(names, k)
			if !allowed[k] {
				t.Errorf("entry has field %q outside DESIGN §9", k)
			}
		}
		for _, f := range design {
			if _, ok := e[f]; !ok {
				sort.Strings(names)
				t.Errorf("entry lacks field %q (has %v)", f, names)
			}
		}
		var realm, action, request string
		_ = json.Unmarshal(e["realm"], &realm)
		_ = json.Unmarshal(e["action"], &action)
		_ = json.Unmarshal(e["request"], &request)
		if realm != hosttest.DefaultRealm {
			t.Errorf("realm default lists an entry of realm %q", realm)
		}
		if action == "result" && request == ok.Receipt.Req {
			sawResult = true
		}
	}
	if !sawResult {
		t.Fatalf("the intent's result entry is not listed: %d entries", len(got.Entries))
	}

	refusals := []struct {
		name   string
		as     func() *client.Client
		target string
		code   abi.Code
	}{
		{"agent reading the audit log", func() *client.Client { return h.Agent() }, "/v1/audit?realm=default", abi.CodeForbidden},
		{"operator of another realm reading this one", func() *client.Client { return h.Client(otherOperator) }, "/v1/audit?realm=default", abi.CodeForbidden},
		{"operator reading a realm that does not exist", func() *client.Client { return h.Operator() }, "/v1/audit?realm=nowhere", abi.CodeForbidden},
		{"negative from", func() *client.Client { return h.Operator() }, "/v1/audit?realm=default&from=-1", abi.CodeBadRequest},
		{"limit over 1000", func() *client.Client { return h.Operator() }, "/v1/audit?realm=default&limit=1001", abi.CodeBadRequest},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := tt.as().DoJSON(ctx, http.MethodGet, tt.target, nil, nil)
			wantResponseProblem(t, resp, tt.code, "")
			if strings.Contains(string(resp.Body), "audited") || strings.Contains(string(resp.Body), "entries") {
				t.Fatalf("refusal leaks entries: %s", resp.Body)
			}
		})
	}
	t.Run("other realm sees none of this realm's entries", func(t *testing.T) {
		var other struct {
			Entries []audit.Entry `json:"entries"`
		}
		if _, err := h.Client(otherOperator).DoJSON(ctx, http.MethodGet, "/v1/audit?realm=other", nil, &other); err != nil {
			t.Fatal(err)
		}
		if len(other.Entries) != 0 {
			t.Fatalf("realm other lists %+v", other.Entries)
		}
	})
}
