package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/sdk/client"
)

func grantCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "grant", Short: "Issue and revoke capability grants"}
	cmd.AddCommand(grantIssueCmd(), grantRevokeCmd(), grantDelegateCmd())
	return cmd
}

func grantIssueCmd() *cobra.Command {
	var (
		keyPath, agent, realm, hostDID, hostURL, out string
		tools, httpHosts, approval, secrets, call    []string
		fsRead, fsWrite, mailTo                      []string
		memoryDocs                                   int
		ttl                                          time.Duration
		budget                                       grant.Budget
	)
	cmd := &cobra.Command{
		Use:   "issue --key OPERATOR.key --agent DID --tool T [--http-host H] [--ttl 1h] ...",
		Short: "Sign a capability grant for an agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			op, err := identity.LoadKeyFile(keyPath)
			if err != nil {
				return err
			}
			if _, err := identity.DecodeDID(agent); err != nil {
				return fmt.Errorf("--agent: %w", err)
			}
			aud := hostDID
			if aud == "" {
				if hostURL == "" {
					return errors.New("give --host-did DID or --host URL (the grant names the host it is for)")
				}
				c, err := client.New(hostURL, op, client.Options{})
				if err != nil {
					return err
				}
				info, err := c.Host(cmd.Context())
				if err != nil {
					return err
				}
				aud = info.DID
			}
			if ttl <= 0 || ttl > 366*24*time.Hour {
				return errors.New("--ttl must be positive and at most a year")
			}
			now := time.Now()
			c := grant.Claims{
				Sub: agent, Aud: aud, Realm: realm, Exp: now.Add(ttl).Unix(),
				Tools: tools, Approval: approval, Budget: budget,
			}
			if len(httpHosts) > 0 {
				c.Caps.HTTP = &grant.HTTPCap{Hosts: httpHosts}
			}
			if len(fsRead) > 0 || len(fsWrite) > 0 {
				c.Caps.FS = &grant.FSCap{Read: fsRead, Write: fsWrite}
			}
			if memoryDocs > 0 {
				c.Caps.Memory = &grant.MemoryCap{MaxDocs: memoryDocs}
			}
			if len(mailTo) > 0 {
				c.Caps.Mail = &grant.MailCap{To: mailTo}
			}
			c.Caps.Secrets, c.Caps.Call = secrets, call
			tok, err := grant.Issue(op, c, now)
			if err != nil {
				return err
			}
			if out != "" {
				if err := os.WriteFile(out, []byte(tok+"\n"), 0o600); err != nil {
					return err
				}
				fmt.Fprintln(cmd.ErrOrStderr(), "grant written to", out)
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyPath, "key", "", "operator key file")
	f.StringVar(&agent, "agent", "", "agent DID (sub)")
	f.StringVar(&realm, "realm", "default", "realm")
	f.StringVar(&hostDID, "host-did", "", "host DID (aud)")
	f.StringVar(&hostURL, "host", "", "host URL to read the host DID from (instead of --host-did)")
	f.StringVar(&out, "out", "", "write the grant to FILE instead of stdout")
	f.StringSliceVar(&tools, "tool", nil, "tool or glob (bundle/tool, bundle/*), repeatable")
	f.StringSliceVar(&httpHosts, "http-host", nil, "egress host pattern, repeatable ([scheme://]host[:port], *.domain)")
	f.StringSliceVar(&approval, "approval", nil, "tool glob that needs human approval, repeatable")
	f.StringSliceVar(&secrets, "secret", nil, "secret name the agent's tools may use, repeatable")
	f.StringSliceVar(&call, "call", nil, "tool glob a tool may call (nested calls), repeatable")
	f.StringSliceVar(&fsRead, "fs-read", nil, "readable file root, repeatable")
	f.StringSliceVar(&fsWrite, "fs-write", nil, "writable file root, repeatable")
	f.StringSliceVar(&mailTo, "mail-to", nil, "recipient pattern, repeatable")
	f.IntVar(&memoryDocs, "memory-docs", 0, "grant agent memory with this document quota")
	f.DurationVar(&ttl, "ttl", time.Hour, "lifetime")
	f.IntVar(&budget.CallsPerMinute, "calls-per-minute", 0, "budget: calls per minute")
	f.IntVar(&budget.TimeoutMS, "timeout-ms", 0, "budget: per-call timeout in ms")
	f.IntVar(&budget.MemoryMB, "memory-mb", 0, "budget: per-call memory in MiB")
	f.Int64Var(&budget.EgressBytesPerDay, "egress-bytes-per-day", 0, "budget: egress bytes per day")
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.MarkFlagRequired("agent")
	_ = cmd.MarkFlagRequired("tool")
	return cmd
}

func grantRevokeCmd() *cobra.Command {
	var rf remoteFlags
	var grantJTI, grantFile, agent, publisher string
	cmd := &cobra.Command{
		Use:   "revoke --host URL --key OPERATOR.key [--realm R] (--grant JTI | --grant-file FILE | --agent DID | --publisher DID)",
		Short: "Revoke a grant, an agent or a publisher",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grantFile != "" {
				jti, err := grantJTIFromFile(grantFile)
				if err != nil {
					return err
				}
				grantJTI = jti
			}
			kind, subject := "", ""
			n := 0
			for _, t := range []struct{ k, v string }{{"grant", grantJTI}, {"agent", agent}, {"publisher", publisher}} {
				if t.v != "" {
					kind, subject = t.k, t.v
					n++
				}
			}
			if n != 1 {
				return errors.New("give exactly one of --grant, --grant-file, --agent, --publisher")
			}
			c, err := rf.client()
			if err != nil {
				return err
			}
			resp, err := c.Revoke(cmd.Context(), rf.realm, kind, subject)
			if resp != nil {
				printJSON(cmd, resp.Body)
			}
			return err
		},
	}
	rf.add(cmd, true)
	cmd.Flags().StringVar(&grantJTI, "grant", "", "grant jti")
	cmd.Flags().StringVar(&grantFile, "grant-file", "", "grant file (its jti is revoked)")
	cmd.Flags().StringVar(&agent, "agent", "", "agent DID")
	cmd.Flags().StringVar(&publisher, "publisher", "", "publisher DID")
	return cmd
}

func grantJTIFromFile(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	_, payload, err := identity.ParseUnverified(strings.TrimSpace(string(raw)))
	if err != nil {
		return "", err
	}
	var c struct {
		Jti string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Jti == "" {
		return "", errors.New("grant file has no jti")
	}
	return c.Jti, nil
}

// readGrantChain reads a grant file and, for a delegated grant, its
// chain's files (nearest parent first, ending with the operator-signed root).
// agentFlags are the flags of a command that acts as an agent under a
// grant: the remote flags, --grant and --chain (invoke, mcp).
type agentFlags struct {
	remoteFlags
	grant  string
	chains []string
}

func (a *agentFlags) add(cmd *cobra.Command) {
	a.remoteFlags.add(cmd, false)
	cmd.Flags().StringVar(&a.grant, "grant", "", "grant file")
	cmd.Flags().StringSliceVar(&a.chains, "chain", nil, "for a delegated grant: parent grant files, nearest first, ending with the operator-signed root")
	_ = cmd.MarkFlagRequired("grant")
}

// session reads the grant and its chain and returns a client for the key.
func (a *agentFlags) session() (c *client.Client, grant string, chain []string, err error) {
	if grant, chain, err = readGrantChain(a.grant, a.chains); err != nil {
		return nil, "", nil, err
	}
	if c, err = a.client(); err != nil {
		return nil, "", nil, err
	}
	return c, grant, chain, nil
}

func readGrantChain(grantPath string, chainFiles []string) (string, []string, error) {
	g, err := readGrant(grantPath)
	if err != nil {
		return "", nil, err
	}
	var chain []string
	for _, f := range chainFiles {
		tok, err := readGrant(f)
		if err != nil {
			return "", nil, err
		}
		chain = append(chain, tok)
	}
	return g, chain, nil
}

func readGrant(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(raw)), nil
}
