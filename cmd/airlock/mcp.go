package main

import (
	"io"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/sdk/mcptools"
)

func mcpCmd() *cobra.Command {
	var af agentFlags
	var tools []string
	cmd := &cobra.Command{
		Use:   "mcp --host URL --key AGENT.key --grant FILE [--tool ID ...] [--chain FILE ...]",
		Short: "Serve the tools your grant allows to any MCP client, over stdio",
		Long: `Serve the tools your grant allows to any MCP client, over stdio (newline-
delimited JSON-RPC). Each tools/call is one intent signed with your key;
the host's receipt is verified before the output is passed on. The tools
the host lists for your grant are offered as "<bundle>.<tool>" with their
schemas; when the grant names tools by pattern, "airlock.invoke"
{"tool", "input"} reaches any of them, and --tool bundle/tool offers more
by name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, g, chain, err := af.session()
			if err != nil {
				return err
			}
			srv, err := mcptools.NewServer(cmd.Context(), mcptools.Config{Client: c, Grant: g, Chain: chain, Tools: tools, Version: version})
			if err != nil {
				return err
			}
			return srv.Run(cmd.Context(), &mcp.IOTransport{
				Reader: io.NopCloser(cmd.InOrStdin()),
				Writer: nopWriteCloser{cmd.OutOrStdout()},
			})
		},
	}
	af.add(cmd)
	cmd.Flags().StringSliceVar(&tools, "tool", nil, "also offer this tool id (bundle/tool) by name, for a grant that names tools by pattern")
	return cmd
}

// nopWriteCloser is stdout for the MCP transport, which closes its writer
// at the end of the session; the process's stdout stays open.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
