// Command airlock is the composition root: the host server (airlock serve)
// and the operator, publisher and agent tools (keys, bundles, grants,
// invoke, audit). See DESIGN §5.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: testable, returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "airlock:", err)
		return 1
	}
	return 0
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "airlock",
		Short:         "Zero-trust host for AI-agent tools",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serveCmd(), keyCmd(), pluginCmd(), grantCmd(), invokeCmd(), auditCmd(), secretCmd(), vaultCmd(), approveCmd(), policyCmd(), agentCmd(), backupCmd(), restoreCmd(), mcpCmd())
	return root
}
