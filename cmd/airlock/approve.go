package main

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

func approveCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "approve", Short: "List and decide intents waiting for human approval"}
	var rf remoteFlags
	list := &cobra.Command{
		Use:   "list --host URL --key OPERATOR.key [--realm R]",
		Short: "List pending intents",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := rf.client()
			if err != nil {
				return err
			}
			resp, err := c.DoJSON(cmd.Context(), http.MethodGet, "/v1/approvals?realm="+url.QueryEscape(rf.realm), nil, nil)
			if resp != nil {
				printJSON(cmd, resp.Body)
			}
			return err
		},
	}
	rf.add(list, true)
	cmd.AddCommand(list, decideCmd("allow"), decideCmd("deny"))
	return cmd
}

func decideCmd(decision string) *cobra.Command {
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   decision + " --host URL --key OPERATOR.key [--realm R] ID",
		Short: fmt.Sprintf("%s a pending intent", map[string]string{"allow": "Approve (and run)", "deny": "Refuse"}[decision]),
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rf.client()
			if err != nil {
				return err
			}
			resp, err := c.DoJSON(cmd.Context(), http.MethodPost,
				"/v1/approvals/"+url.PathEscape(args[0])+"?realm="+url.QueryEscape(rf.realm),
				map[string]string{"decision": decision}, nil)
			if resp != nil {
				printJSON(cmd, resp.Body)
			}
			return err
		},
	}
	rf.add(cmd, true)
	return cmd
}
