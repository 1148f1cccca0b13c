package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/host/identity"
)

func keyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage Ed25519 / P-256 keys"}
	var out, kind string
	newCmd := &cobra.Command{
		Use:   "new",
		Short: "Create a key; prints its DID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kt, err := identity.ParseKeyType(kind)
			if err != nil {
				return err
			}
			k, err := identity.GenerateKey(kt)
			if err != nil {
				return err
			}
			if out == "" {
				// never print private material: name a file after the DID
				did := k.DID()
				out = "airlock-" + did[len(did)-12:] + ".key"
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("key new: %s exists; refusing to overwrite a key", out)
			}
			if err := identity.SaveKeyFile(out, k); err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "private key written to", out)
			fmt.Fprintln(cmd.OutOrStdout(), k.DID())
			return nil
		},
	}
	newCmd.Flags().StringVar(&out, "out", "", "write the private key to FILE (mode 0600)")
	newCmd.Flags().StringVar(&kind, "type", "ed25519", "key type: ed25519 or p256")
	didCmd := &cobra.Command{
		Use:   "did FILE",
		Short: "Print the DID of a key file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := identity.LoadKeyFile(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.DID())
			return nil
		},
	}
	cmd.AddCommand(newCmd, didCmd)
	return cmd
}
