package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/policy"
)

func policyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Sign, apply and show realm policies"}
	var keyPath, out string
	sign := &cobra.Command{
		Use:   "sign --key OPERATOR.key POLICY.json [--out FILE]",
		Short: "Sign a policy document (JSON with realm and an increasing integer version)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			doc, err := policy.Parse(raw)
			if err != nil {
				return err
			}
			op, err := identity.LoadKeyFile(keyPath)
			if err != nil {
				return err
			}
			tok, err := policy.Sign(op, *doc)
			if err != nil {
				return err
			}
			if out != "" {
				return os.WriteFile(out, []byte(tok+"\n"), 0o600)
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	sign.Flags().StringVar(&keyPath, "key", "", "operator key file")
	sign.Flags().StringVar(&out, "out", "", "write the signed policy to FILE")
	_ = sign.MarkFlagRequired("key")

	var rfApply remoteFlags
	apply := &cobra.Command{
		Use:   "apply --host URL --key OPERATOR.key SIGNED_POLICY",
		Short: "Apply a signed policy to its realm (PUT /v1/policies/{realm})",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			tok := strings.TrimSpace(string(raw))
			_, payload, err := identity.ParseUnverified(tok)
			if err != nil {
				return err
			}
			var d struct {
				Realm string `json:"realm"`
			}
			if err := json.Unmarshal(payload, &d); err != nil || d.Realm == "" {
				return errors.New("policy has no realm")
			}
			c, err := rfApply.client()
			if err != nil {
				return err
			}
			resp, err := c.Do(cmd.Context(), http.MethodPut, "/v1/policies/"+url.PathEscape(d.Realm), "application/jose", []byte(tok))
			if err != nil {
				return err
			}
			printJSON(cmd, resp.Body)
			if p, ok := resp.Problem(); ok {
				return p
			}
			return nil
		},
	}
	rfApply.add(apply, false)

	show := realmGetCmd("show --host URL --key OPERATOR.key [--realm R]", "Show a realm's current policy",
		func(realm string) string { return "/v1/policies/" + url.PathEscape(realm) })
	cmd.AddCommand(sign, apply, show)
	return cmd
}

func grantDelegateCmd() *cobra.Command {
	var keyPath, parentPath, agent, out string
	var tools, httpHosts []string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "delegate --key HOLDER.key --parent PARENT.grant --agent DID --tool T [--http-host H] [--ttl 30m]",
		Short: "Delegate an attenuated grant to another agent (narrower tools, caps, budget and expiry only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			holder, err := identity.LoadKeyFile(keyPath)
			if err != nil {
				return err
			}
			parentTok, err := readGrant(parentPath)
			if err != nil {
				return err
			}
			_, payload, err := identity.ParseUnverified(parentTok)
			if err != nil {
				return err
			}
			parent, err := grant.Parse(payload)
			if err != nil {
				return err
			}
			now := time.Now()
			child := grant.Claims{Sub: agent, Tools: tools, Exp: now.Add(ttl).Unix()}
			if child.Exp > parent.Exp {
				child.Exp = parent.Exp
			}
			if len(httpHosts) > 0 {
				child.Caps.HTTP = &grant.HTTPCap{Hosts: httpHosts}
			}
			tok, err := grant.Delegate(holder, parent, child, now)
			if err != nil {
				return err
			}
			if out != "" {
				return os.WriteFile(out, []byte(tok+"\n"), 0o600)
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyPath, "key", "", "key of the agent holding the parent grant")
	f.StringVar(&parentPath, "parent", "", "parent grant file")
	f.StringVar(&agent, "agent", "", "DID of the agent receiving the delegated grant")
	f.StringSliceVar(&tools, "tool", nil, "tool glob (must be within the parent's), repeatable")
	f.StringSliceVar(&httpHosts, "http-host", nil, "egress host pattern (must be within the parent's), repeatable")
	f.DurationVar(&ttl, "ttl", 30*time.Minute, "lifetime (capped at the parent's expiry)")
	f.StringVar(&out, "out", "", "write the delegated grant to FILE")
	for _, r := range []string{"key", "parent", "agent", "tool"} {
		_ = cmd.MarkFlagRequired(r)
	}
	return cmd
}

func agentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "agent", Short: "Operator actions on agents"}
	var rf remoteFlags
	release := &cobra.Command{
		Use:   "release --host URL --key OPERATOR.key [--realm R] DID",
		Short: "Release a quarantined agent",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rf.client()
			if err != nil {
				return err
			}
			resp, err := c.DoJSON(cmd.Context(), http.MethodPost,
				"/v1/agents/"+url.PathEscape(args[0])+"/release?realm="+url.QueryEscape(rf.realm), nil, nil)
			if resp != nil {
				printJSON(cmd, resp.Body)
			}
			return err
		},
	}
	rf.add(release, true)
	cmd.AddCommand(release)
	return cmd
}
