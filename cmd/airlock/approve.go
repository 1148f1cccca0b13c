package main

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

func approveCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "approve", Short: "List and decide intents waiting for human approval"}
	list := realmGetCmd("list --host URL --key OPERATOR.key [--realm R]", "List pending intents",
		func(realm string) string { return "/v1/approvals?realm=" + url.QueryEscape(realm) })
	cmd.AddCommand(list, decideCmd("allow"), decideCmd("deny"))
	return cmd
}

func decideCmd(decision string) *cobra.Command {
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   decision + " --host URL --key OPERATOR.key [--realm R] ID",
		Short: fmt.Sprintf("%s a pending intent", map[string]string{"allow": "Approve (and run)", "deny": "Refuse"}[decision]),
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
	acceptDashArgs(cmd, 1)
	return cmd
}
