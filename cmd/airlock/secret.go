package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/host/sqldb"
	"github.com/airlock-dev/airlock/host/store"
	"github.com/airlock-dev/airlock/host/vault"
)

func secretCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Manage write-only secrets in a realm's vault"}
	cmd.AddCommand(secretSetCmd(), secretRmCmd(), secretLsCmd())
	return cmd
}

func secretPath(realm, name string) string {
	p := "/v1/secrets/" + url.PathEscape(realm)
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

func secretSetCmd() *cobra.Command {
	var rf remoteFlags
	var valueFile string
	cmd := &cobra.Command{
		Use:   "set --host URL --key OPERATOR.key [--realm R] NAME [--value-file FILE]",
		Short: "Store a secret; the value is read from --value-file or stdin, never from the command line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw []byte
			var err error
			if valueFile != "" {
				raw, err = os.ReadFile(valueFile)
			} else {
				raw, err = io.ReadAll(io.LimitReader(bufio.NewReader(cmd.InOrStdin()), vault.MaxSecretBytes+2))
			}
			if err != nil {
				return err
			}
			value := strings.TrimRight(string(raw), "\r\n")
			if value == "" {
				return errors.New("secret set: empty value")
			}
			c, err := rf.client()
			if err != nil {
				return err
			}
			_, err = c.DoJSON(cmd.Context(), http.MethodPut, secretPath(rf.realm, args[0]), map[string]string{"value": value}, nil)
			if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "secret %s set in realm %s\n", args[0], rf.realm)
			}
			return err
		},
	}
	rf.add(cmd, true)
	cmd.Flags().StringVar(&valueFile, "value-file", "", "read the value from FILE (default: stdin)")
	return cmd
}

func secretRmCmd() *cobra.Command {
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   "rm --host URL --key OPERATOR.key [--realm R] NAME",
		Short: "Delete a secret",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rf.client()
			if err != nil {
				return err
			}
			_, err = c.DoJSON(cmd.Context(), http.MethodDelete, secretPath(rf.realm, args[0]), nil, nil)
			return err
		},
	}
	rf.add(cmd, true)
	return cmd
}

func secretLsCmd() *cobra.Command {
	return realmGetCmd("ls --host URL --key OPERATOR.key [--realm R]", "List secret names (values are never returned)",
		func(realm string) string { return secretPath(realm, "") })
}

func vaultCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "vault", Short: "Vault maintenance"}
	var data, storeURL string
	rotate := &cobra.Command{
		Use:   "rotate --data DIR [--store postgres://…]",
		Short: "Re-encrypt every secret under a new master key (no secret is lost; a crash mid-way recovers)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data == "" {
				return errors.New("give --data DIR")
			}
			sdb, err := sqldb.Open(cmd.Context(), storeURL, data)
			if err != nil {
				return err
			}
			db, err := store.OpenDB(cmd.Context(), sdb)
			if err != nil {
				sdb.Close()
				return err
			}
			defer db.Close()
			if err := vault.RotateDataDir(cmd.Context(), db.SQLDB(), data); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "vault master key rotated")
			return nil
		},
	}
	rotate.Flags().StringVar(&data, "data", "", "data directory")
	rotate.Flags().StringVar(&storeURL, "store", "sqlite", "the host's store: sqlite (DATA/airlock.db) or the postgres:// URL of its config; with several nodes, copy the new DATA/master.key to the others afterwards")
	cmd.AddCommand(rotate)
	return cmd
}
