package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/host/audit"
	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/internal/node"
)

func auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Verify and read the audit log"}
	cmd.AddCommand(auditVerifyCmd(), auditTailCmd())
	return cmd
}

func auditVerifyCmd() *cobra.Command {
	var data, hostDID, host, state string
	cmd := &cobra.Command{
		Use:   "verify (--data DIR | --host URL [--state FILE]) [--host-did DID]",
		Short: "Verify the whole audit log offline (--data), or that a running host's log only grew since the last run (--host)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case data != "" && host != "":
				return errors.New("give --data DIR or --host URL, not both")
			case host != "":
				v := &remoteVerify{host: host, hostDID: hostDID, state: state, out: cmd.OutOrStdout()}
				return v.run(cmd.Context())
			case data == "":
				return errors.New("give --data DIR (offline) or --host URL (a running host)")
			}
			if hostDID == "" {
				k, err := identity.LoadKeyFile(filepath.Join(data, "host.key"))
				if err != nil {
					return fmt.Errorf("read host key (or pass --host-did): %w", err)
				}
				hostDID = k.DID()
			}
			pub, err := identity.DecodeDID(hostDID)
			if err != nil {
				return err
			}
			edPub, ok := pub.(ed25519.PublicKey)
			if !ok {
				return errors.New("host DID must be an Ed25519 did:key")
			}
			db, err := store.Open(cmd.Context(), filepath.Join(data, "airlock.db"))
			if err != nil {
				return err
			}
			defer db.Close()
			rep, err := audit.Verify(cmd.Context(), db.SQLDB(), node.AuditOrigin(hostDID), edPub)
			if err != nil {
				if rep != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "TAMPERED: first bad entry %d: %s\n", rep.FirstBad, rep.Problem)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d entries, %d checkpoints verified for %s\n", rep.Entries, rep.Checkpoints, hostDID)
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "data directory of a (stopped or running) host")
	cmd.Flags().StringVar(&hostDID, "host-did", "", "expected host DID (default: from DATA/host.key, or the state file, or /v1/host on first use)")
	cmd.Flags().StringVar(&host, "host", "", "URL of a running host: prove its log extends the last checkpoint verified")
	cmd.Flags().StringVar(&state, "state", "", "with --host: file remembering the last verified checkpoint (default ~/.airlock/audit-<host DID suffix>.json)")
	return cmd
}

func auditTailCmd() *cobra.Command {
	var rf remoteFlags
	var from int64
	var limit int
	cmd := &cobra.Command{
		Use:   "tail --host URL --key OPERATOR.key [--realm R] [--from N]",
		Short: "Print audit entries of a realm",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := rf.client()
			if err != nil {
				return err
			}
			q := url.Values{"realm": {rf.realm}, "from": {strconv.FormatInt(from, 10)}, "limit": {strconv.Itoa(limit)}}
			resp, err := c.DoJSON(cmd.Context(), http.MethodGet, "/v1/audit?"+q.Encode(), nil, nil)
			if resp != nil {
				printJSON(cmd, resp.Body)
			}
			return err
		},
	}
	rf.add(cmd, true)
	cmd.Flags().Int64Var(&from, "from", 0, "first index")
	cmd.Flags().IntVar(&limit, "limit", 100, "entries")
	return cmd
}
