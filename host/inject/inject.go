package inject

import (
	"errors"
	"fmt"
	"sort"
)

// ErrUnknownMode is returned by [ParseMode] for anything but the four modes.
var ErrUnknownMode = errors.New("unknown injection mode")

// Mode is the policy's handling of injection markers (DESIGN §9 policy
// document, "injection").
type Mode string

// The modes.
const (
	// ModeOff skips the scan.
	ModeOff Mode = "off"
	// ModeFlag reports markers with the response and in the audit log.
	ModeFlag Mode = "flag"
	// ModeSpotlight flags and also datamarks the untrusted text ([Spotlight]).
	ModeSpotlight Mode = "spotlight"
	// ModeBlock withholds text that carries a marker.
	ModeBlock Mode = "block"
)

func (m Mode) String() string { return string(m) }

// ParseMode returns the mode named s ("off", "flag", "spotlight", "block").
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeOff, ModeFlag, ModeSpotlight, ModeBlock:
		return m, nil
	}
	return "", fmt.Errorf("inject: %w: %q", ErrUnknownMode, s)
}

// The kinds of [Flag].
const (
	KindOverride  = "override"
	KindInvisible = "invisible"
	KindRoleplay  = "roleplay"
	KindEncoded   = "encoded"
)

// Flag is one injection marker: its kind and the byte range [Start, End) of
// the scanned text.
type Flag struct {
	Kind  string
	Start int
	End   int
}

// Label is the flag as a response or audit flag: "inject:<kind>".
func (f Flag) Label() string { return "inject:" + f.Kind }

// Labels returns the labels of flags, unique and sorted.
func Labels(flags []Flag) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range flags {
		if l := f.Label(); !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// Scan returns the injection markers in text, sorted by Start; flags of one
// kind never overlap.
func Scan(text []byte) []Flag {
	if len(text) == 0 {
		return nil
	}
	flags := scanText(text, 0)
	if jsonFlags := scanJSONStrings(text, flags); len(jsonFlags) > 0 {
		flags = append(flags, jsonFlags...)
	}
	return tidy(flags)
}

// scanText runs every detector over text; depth counts base64 layers
// already peeled.
func scanText(text []byte, depth int) []Flag {
	var flags []Flag
	flags = append(flags, findInvisible(text)...)
	n := normalize(text)
	flags = append(flags, n.find(KindOverride, override)...)
	flags = append(flags, n.find(KindRoleplay, roleplay)...)
	flags = append(flags, findEncoded(text, depth)...)
	return flags
}

// tidy sorts flags and merges overlapping flags of one kind.
func tidy(flags []Flag) []Flag {
	sort.Slice(flags, func(i, j int) bool {
		a, b := flags[i], flags[j]
		if a.Start != b.Start {
			return a.Start < b.Start
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.End > b.End
	})
	out := flags[:0]
	last := map[string]int{} // kind → index in out of its last flag
	for _, f := range flags {
		if i, ok := last[f.Kind]; ok && f.Start < out[i].End {
			if f.End > out[i].End {
				out[i].End = f.End
			}
			continue
		}
		last[f.Kind] = len(out)
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
