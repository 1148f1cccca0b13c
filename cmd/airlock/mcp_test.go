package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/internal/hosttest"
)

// TestMCPCommand runs `airlock mcp` as an MCP client starts it — on its
// stdin and stdout — and drives it with the go-sdk client: list the tools,
// call one, end the session by closing stdin.
func TestMCPCommand(t *testing.T) {
	h := hosttest.New(t)
	h.Install(t, hosttest.DefaultRealm, "plugins/echo", nil)
	dir := t.TempDir()
	agentKey := keyFile(t, dir, "agent", h.AgentKey())
	grantFile := writeText(t, dir, "agent.grant", h.Grant(t, func(c *grant.Claims) { c.Tools = []string{"echo/echo"} }))

	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var stderr strings.Builder
	root := newRoot(outW, &stderr)
	root.SetIn(inR)
	root.SetArgs([]string{"mcp", "--host", h.URL(), "--host-did", h.DID(), "--key", agentKey, "--grant", grantFile})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := root.ExecuteContext(ctx)
		outW.Close()
		done <- err
	}()

	cs, err := mcp.NewClient(&mcp.Implementation{Name: "cli-test", Version: "1"}, nil).
		Connect(ctx, &mcp.IOTransport{Reader: outR, Writer: inW}, nil)
	if err != nil {
		t.Fatalf("connect: %v (stderr %q)", err, stderr.String())
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != 1 || tools.Tools[0].Name != "echo.echo" {
		t.Fatalf("tools/list = %+v, %v", tools, err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo.echo", Arguments: map[string]any{"message": "from an mcp client"}})
	if err != nil || res.IsError || len(res.Content) != 1 {
		t.Fatalf("tools/call = %+v, %v", res, err)
	}
	if tc, ok := res.Content[0].(*mcp.TextContent); !ok || tc.Text != `{"message":"from an mcp client"}` {
		t.Fatalf("tools/call content %#v", res.Content[0])
	}
	cs.Close()
	if err := <-done; err != nil {
		t.Fatalf("airlock mcp ended with %v", err)
	}
}

func TestMCPCommandNeedsAGrant(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := cli(t, "mcp", "--key", filepath.Join(dir, "k"), "--grant", filepath.Join(dir, "missing.grant")); code == 0 || !strings.Contains(errOut, "missing.grant") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
