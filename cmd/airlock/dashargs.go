package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// acceptDashArgs lets cmd take exactly n arguments that may begin with '-'.
// Intent ids are base64url, and ids made before NewJTI stopped drawing a
// leading '-' can still wait for approval: `airlock approve allow -XK9…`
// must decide that intent, not fail on an unknown flag "-X". Only words
// that begin with "--" are flags ("--host URL" or "--host=URL"; an unknown
// one is an error, as elsewhere), plus "-h"; every other word is an
// argument. "--" ends the flags as usual, which an id beginning with "--"
// needs.
func acceptDashArgs(cmd *cobra.Command, n int) {
	cmd.DisableFlagParsing = true
	cmd.Args = cobra.ArbitraryArgs
	run := cmd.RunE
	var args []string
	cmd.PreRunE = func(c *cobra.Command, raw []string) error {
		flags, rest := splitFlags(c.Flags(), raw)
		// cobra skips its own parsing and required-flag check while
		// DisableFlagParsing is set, so both happen here.
		c.DisableFlagParsing = false
		defer func() { c.DisableFlagParsing = true }()
		if err := c.ParseFlags(flags); err != nil {
			return c.FlagErrorFunc()(c, err)
		}
		if help, _ := c.Flags().GetBool("help"); help {
			return pflag.ErrHelp
		}
		if err := c.ValidateRequiredFlags(); err != nil {
			return err
		}
		if err := cobra.ExactArgs(n)(c, rest); err != nil {
			return err
		}
		args = rest
		return nil
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return run(c, args) }
}

// splitFlags separates raw into the words that name flags of fs (with their
// values) and the arguments.
func splitFlags(fs *pflag.FlagSet, raw []string) (flags, args []string) {
	for i := 0; i < len(raw); i++ {
		w := raw[i]
		if w == "--" {
			return flags, append(args, raw[i+1:]...)
		}
		if w != "-h" && !strings.HasPrefix(w, "--") {
			args = append(args, w)
			continue
		}
		flags = append(flags, w)
		name, _, hasValue := strings.Cut(strings.TrimPrefix(w, "--"), "=")
		f := fs.Lookup(name)
		if w == "-h" {
			f = fs.Lookup("help")
		}
		if f != nil && !hasValue && f.NoOptDefVal == "" && i+1 < len(raw) {
			i++
			flags = append(flags, raw[i])
		}
	}
	return flags, args
}
