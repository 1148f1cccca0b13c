package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/host/backup"
	"github.com/airlock-dev/airlock/host/identity"
)

func backupCmd() *cobra.Command {
	var data, out string
	cmd := &cobra.Command{
		Use:   "backup --data DIR --out FILE",
		Short: "Write a consistent, host-signed snapshot of a data dir (safe while the host runs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if data == "" || out == "" {
				return errors.New("give --data DIR and --out FILE")
			}
			key, err := identity.LoadKeyFile(filepath.Join(data, backup.HostKeyName))
			if err != nil {
				return fmt.Errorf("read host key: %w", err)
			}
			// The backup holds the host's private keys: 0600, and never a
			// half-written file under the final name.
			tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
			if err != nil {
				return err
			}
			defer func() {
				if err != nil {
					tmp.Close()
					os.Remove(tmp.Name())
				}
			}()
			if err = tmp.Chmod(0o600); err != nil {
				return err
			}
			if err = backup.Snapshot(cmd.Context(), data, tmp, key); err != nil {
				return err
			}
			if err = tmp.Sync(); err != nil {
				return err
			}
			if err = tmp.Close(); err != nil {
				return err
			}
			if err = os.Rename(tmp.Name(), out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup of %s signed by %s written to %s\n", data, key.DID(), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "data directory of a (running or stopped) host")
	cmd.Flags().StringVar(&out, "out", "", "backup file to write (mode 0600)")
	return cmd
}

func restoreCmd() *cobra.Command {
	var in, data, hostDID string
	cmd := &cobra.Command{
		Use:   "restore --in FILE --data DIR [--host-did DID]",
		Short: "Verify a backup and install it as a new data dir (DIR must be absent or empty)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" || data == "" {
				return errors.New("give --in FILE and --data DIR")
			}
			f, err := os.Open(in)
			if err != nil {
				return err
			}
			defer f.Close()
			var trust func(string) bool
			if hostDID != "" {
				if _, err := identity.DecodeDID(hostDID); err != nil {
					return err
				}
				trust = func(did string) bool { return did == hostDID }
			} else {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: no --host-did: the backup is checked for integrity, not for which host made it")
			}
			if err := backup.Restore(cmd.Context(), f, data, trust); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s into %s\n", in, data)
			return nil
		},
	}
	cmd.Flags().StringVar(&in, "in", "", "backup file")
	cmd.Flags().StringVar(&data, "data", "", "data directory to create (absent or empty)")
	cmd.Flags().StringVar(&hostDID, "host-did", "", "pinned host DID the backup must be signed by")
	return cmd
}
