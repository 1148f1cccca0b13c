package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

func invokeCmd() *cobra.Command {
	var af agentFlags
	var verbose bool
	cmd := &cobra.Command{
		Use:   "invoke --host URL --key AGENT.key --grant FILE TOOL JSON",
		Short: "Sign and send an intent, verify the host's receipt, print the output",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !json.Valid([]byte(args[1])) {
				return errors.New("JSON argument is not valid JSON")
			}
			c, g, chain, err := af.session()
			if err != nil {
				return err
			}
			res, resp, err := c.InvokeChain(cmd.Context(), args[0], json.RawMessage(args[1]), g, chain)
			if resp != nil && verbose {
				r := resp.Receipt
				fmt.Fprintf(cmd.ErrOrStderr(), "receipt verified: host %s signed status %d for request %s, body sha256 %s, audit index %d\n",
					r.Iss, r.Status, r.Req, r.Bh, r.Seq)
			}
			if err != nil {
				if resp != nil {
					printJSON(cmd, resp.Body)
				}
				return err
			}
			if resp.Status == http.StatusAccepted {
				// held for human approval: show the id to fetch it by later
				printJSON(cmd, resp.Body)
				fmt.Fprintln(cmd.ErrOrStderr(), "intent held for approval; an operator decides with `airlock approve allow|deny ID`")
				return nil
			}
			printJSON(cmd, res.Output)
			return nil
		},
	}
	af.add(cmd)
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print the verified receipt on stderr")
	return cmd
}
