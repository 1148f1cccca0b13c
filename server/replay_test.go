package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/internal/hosttest"
)

// An intent's jti is recorded in the same commit as its first audit
// entries. A replay is still refused with nothing done: no host call, no
// audit entry, and of concurrent copies of one signed request exactly one
// runs.
func TestReplayedIntentDoesNothing(t *testing.T) {
	h := newHost(t, hosttest.WithAllowPrivate("127.0.0.1/32"))
	for _, p := range []string{echoPlugin, webPlugin} {
		h.Install(t, hosttest.DefaultRealm, p, nil)
	}
	upstream := newTarget(t, "127.0.0.1:0", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	signed := func(t *testing.T, tool, input, grant string) (body []byte, auth, jti string) {
		body = mustJSON(t, map[string]any{"tool": tool, "input": json.RawMessage(input), "grant": grant})
		c := proofClaims(h.AgentKey(), h.DID(), http.MethodPost, "/v1/intents", body)
		tok, err := h.AgentKey().SignJSON(identity.TypRequest, c)
		if err != nil {
			t.Fatal(err)
		}
		return body, "Airlock " + tok, c["jti"].(string)
	}

	t.Run("replay of a tool that calls the host makes no call", func(t *testing.T) {
		body, auth, jti := signed(t, "web/fetch", `{"url":"`+upstream.URL+`/"}`, fetchGrant(t, h, "127.0.0.1"))
		first := send(t, h, http.MethodPost, "/v1/intents", auth, body, jti)
		if first.Status != http.StatusOK {
			t.Fatalf("first use: %d %s", first.Status, first.Body)
		}
		hits, entries := upstream.hits.Load(), len(entriesFor(t, h, hosttest.DefaultRealm, jti))
		again := send(t, h, http.MethodPost, "/v1/intents", auth, body, "")
		wantProblem(t, again.Status, again.Body, abi.CodeReplay, "")
		if n := upstream.hits.Load(); n != hits {
			t.Fatalf("the replay reached the upstream %d more times", n-hits)
		}
		if n := len(entriesFor(t, h, hosttest.DefaultRealm, jti)); n != entries {
			t.Fatalf("the replay added %d audit entries", n-entries)
		}
	})

	for _, tc := range []struct{ name, tool, input string }{
		{"concurrent copies of a pure tool's intent", "echo/echo", `{"message":"once"}`},
		{"concurrent copies of a fetching tool's intent", "web/fetch", `{"url":"` + upstream.URL + `/"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := h.Grant(t, nil)
			if tc.tool == "web/fetch" {
				g = fetchGrant(t, h, "127.0.0.1")
			}
			body, auth, jti := signed(t, tc.tool, tc.input, g)
			hits := upstream.hits.Load()
			const copies = 12
			statuses := make([]int, copies)
			var wg sync.WaitGroup
			for i := range copies {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, err := http.NewRequest(http.MethodPost, h.URL()+"/v1/intents", bytes.NewReader(body))
					if err != nil {
						return
					}
					req.Header.Set("Authorization", auth)
					req.Header.Set("Content-Type", "application/json")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						return
					}
					resp.Body.Close()
					statuses[i] = resp.StatusCode
				}()
			}
			wg.Wait()
			ok, replays := 0, 0
			for _, s := range statuses {
				switch s {
				case http.StatusOK:
					ok++
				case http.StatusConflict:
					replays++
				}
			}
			if ok != 1 || replays != copies-1 {
				t.Fatalf("statuses %v: want one 200 and %d 409", statuses, copies-1)
			}
			if tc.tool == "web/fetch" {
				if n := upstream.hits.Load() - hits; n != 1 {
					t.Fatalf("the upstream saw %d requests, want 1", n)
				}
			}
			want := 2 // invoke + result
			if tc.tool == "web/fetch" {
				want = 3 // invoke, egress, result
			}
			if n := len(entriesFor(t, h, hosttest.DefaultRealm, jti)); n != want {
				t.Fatalf("%d audit entries for the request, want %d", n, want)
			}
		})
	}
}
