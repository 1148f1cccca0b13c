package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/internal/hosttest"
	"github.com/airlock-dev/airlock/sdk/client"
)

type listedTool struct {
	ID          string          `json:"id"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
	Approval    bool            `json:"approval"`
}

func listTools(c *client.Client, body any) ([]listedTool, error) {
	var out struct {
		Tools []listedTool `json:"tools"`
	}
	_, err := c.DoJSON(context.Background(), http.MethodPost, "/v1/tools", body, &out)
	return out.Tools, err
}

func ids(tools []listedTool) string {
	var s []string
	for _, t := range tools {
		s = append(s, t.ID)
	}
	return strings.Join(s, ",")
}

func wantListProblem(t *testing.T, err error, code string) {
	t.Helper()
	var p *client.Problem
	if !errors.As(err, &p) || p.Code != code {
		t.Fatalf("got %v, want problem %s", err, code)
	}
}

// POST /v1/tools names exactly the tools of the grant's realm that the
// grant allows, with their schemas, and refuses what an intent would.
func testToolListing(t *testing.T, h *apiHost) {
	agent := hosttest.NewKey(t)
	grantFor := func(claims func(*grant.Claims)) string {
		return h.Grant(t, func(c *grant.Claims) {
			c.Sub = agent.DID()
			if claims != nil {
				claims(c)
			}
		})
	}
	c := h.Client(agent)

	tools, err := listTools(c, map[string]any{"grant": grantFor(func(c *grant.Claims) { c.Tools = []string{"echo/*", "web/fetch"} })})
	if err != nil {
		t.Fatal(err)
	}
	if ids(tools) != "echo/echo,web/fetch" {
		t.Fatalf("listed %q, want echo/echo,web/fetch (spin and memhog are outside the grant)", ids(tools))
	}
	if !strings.Contains(string(tools[0].InputSchema), `"message"`) || tools[0].Description == "" || tools[0].Approval {
		t.Fatalf("echo/echo listed as %+v", tools[0])
	}

	tools, err = listTools(c, map[string]any{"grant": grantFor(func(c *grant.Claims) {
		c.Tools, c.Approval = []string{"echo/echo"}, []string{"echo/*"}
	})})
	if err != nil || ids(tools) != "echo/echo" || !tools[0].Approval {
		t.Fatalf("grant with an approval gate: %+v, %v", tools, err)
	}

	t.Run("OtherRealmNamesNothingHere", func(t *testing.T) {
		g := h.GrantSignedBy(t, h.otherOperator, func(c *grant.Claims) { c.Sub, c.Realm = agent.DID(), "other" })
		tools, err := listTools(c, map[string]any{"grant": g})
		if err != nil || len(tools) != 0 {
			t.Fatalf("realm other: %+v, %v; want no tools (all of them are in default)", tools, err)
		}
	})
	t.Run("SomeoneElsesGrant", func(t *testing.T) {
		_, err := listTools(h.Client(hosttest.NewKey(t)), map[string]any{"grant": grantFor(nil)})
		wantListProblem(t, err, "grant_invalid")
	})
	t.Run("RevokedGrant", func(t *testing.T) {
		jti, err := identity.NewJTI()
		if err != nil {
			t.Fatal(err)
		}
		g := grantFor(func(c *grant.Claims) { c.Jti = jti })
		if _, err := h.Operator().Revoke(context.Background(), hosttest.DefaultRealm, "grant", jti); err != nil {
			t.Fatal(err)
		}
		_, err = listTools(c, map[string]any{"grant": g})
		wantListProblem(t, err, "grant_revoked")
	})
	t.Run("BadBodies", func(t *testing.T) {
		for _, body := range []any{
			map[string]any{},
			map[string]any{"grant": grantFor(nil), "tool": "echo/echo"},
			map[string]any{"grant": 7},
		} {
			_, err := listTools(c, body)
			wantListProblem(t, err, "bad_request")
		}
	})
	t.Run("Unsigned", func(t *testing.T) {
		resp := send(t, h.Host, http.MethodPost, "/v1/tools", "", []byte(`{"grant":"x"}`), "")
		if resp.Status != http.StatusUnauthorized {
			t.Fatalf("unsigned listing: %d", resp.Status)
		}
	})
	t.Run("Audited", func(t *testing.T) {
		allowed, denied := 0, 0
		for from := 0; ; {
			var got struct {
				Entries []struct {
					Index                   int
					Action, Actor, Decision string
				} `json:"entries"`
			}
			if _, err := h.Operator().DoJSON(context.Background(), http.MethodGet,
				fmt.Sprintf("/v1/audit?realm=default&from=%d&limit=1000", from), nil, &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Entries) == 0 {
				break
			}
			for _, e := range got.Entries {
				if e.Action == "list_tools" && e.Actor == agent.DID() {
					switch e.Decision {
					case "allow":
						allowed++
					case "deny":
						denied++
					}
				}
				from = e.Index + 1
			}
		}
		// the two listings above, and the revoked grant (the other
		// realm's listing is in that realm's log; a body without a
		// usable grant names no realm)
		if allowed != 2 || denied != 1 {
			t.Fatalf("list_tools entries of the agent in default: %d allowed, %d denied; want 2 and 1", allowed, denied)
		}
	})
}
