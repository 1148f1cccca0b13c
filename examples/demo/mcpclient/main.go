// Command mcpclient is the demo's MCP client, built on the official Go SDK
// (modelcontextprotocol/go-sdk) as any MCP client would be: it starts the
// command after "--" (airlock mcp …) as an MCP server on stdio, lists its
// tools and calls one.
//
//	mcpclient -call echo.echo -args '{"message":"hi"}' -- airlock mcp --host … --key … --grant …
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	call := flag.String("call", "", "MCP tool to call")
	args := flag.String("args", "{}", "its arguments, a JSON object")
	flag.Parse()
	if flag.NArg() == 0 || *call == "" {
		fmt.Fprintln(os.Stderr, "usage: mcpclient -call TOOL [-args JSON] -- COMMAND [ARG...]")
		os.Exit(2)
	}
	if err := run(*call, *args, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "mcpclient:", err)
		os.Exit(1)
	}
}

func run(call, rawArgs string, command []string) error {
	var arguments map[string]any
	if err := json.Unmarshal([]byte(rawArgs), &arguments); err != nil {
		return fmt.Errorf("-args: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "airlock-demo", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: exec.Command(command[0], command[1:]...)}, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		return err
	}
	for _, t := range tools.Tools {
		fmt.Printf("tools/list: %s — %s\n", t.Name, t.Description)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: call, Arguments: arguments})
	if err != nil {
		return err
	}
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			fmt.Printf("tools/call %s (error: %v): %s\n", call, res.IsError, tc.Text)
		}
	}
	return nil
}
