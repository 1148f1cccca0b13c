package main

import (
	"reflect"
	"testing"

	"github.com/spf13/pflag"
)

func TestSplitFlags(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("host", "", "")
	fs.Bool("help", false, "")
	for _, c := range []struct {
		raw, flags, args []string
	}{
		{[]string{"-XK9", "--host", "h"}, []string{"--host", "h"}, []string{"-XK9"}},
		{[]string{"--host", "-XK9", "id"}, []string{"--host", "-XK9"}, []string{"id"}},
		{[]string{"--host=h", "-XK9"}, []string{"--host=h"}, []string{"-XK9"}},
		{[]string{"--host", "h", "--", "--id", "--host"}, []string{"--host", "h"}, []string{"--id", "--host"}},
		{[]string{"--bogus", "-x"}, []string{"--bogus"}, []string{"-x"}},
		{[]string{"-h", "--help", "-XK9"}, []string{"-h", "--help"}, []string{"-XK9"}},
		{[]string{"--host"}, []string{"--host"}, nil},
	} {
		flags, args := splitFlags(fs, c.raw)
		if !reflect.DeepEqual(flags, c.flags) || !reflect.DeepEqual(args, c.args) {
			t.Errorf("splitFlags(%q) = %q, %q; want %q, %q", c.raw, flags, args, c.flags, c.args)
		}
	}
}
