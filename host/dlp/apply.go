package dlp

import (
	"bytes"
	"encoding/json"
	"sort"

	"github.com/airlock-dev/airlock/internal/jsonscan"
)

// Result is what [Apply] made of an output.
type Result struct {
	// Output is the output to return: the input itself when nothing was
	// redacted, nil when Blocked.
	Output []byte
	// Flags holds "dlp:<detector>:<rule>" for every finding acted on (flagged,
	// redacted or blocking), unique and sorted.
	Flags []string
	// Blocked is true when the output must not be returned.
	Blocked bool
	// BlockedBy is the flag of the finding that blocked the output (the first
	// in the output), empty when not Blocked.
	BlockedBy string
}

// redaction is what a redacted finding of d becomes.
func redaction(d Detector) []byte { return []byte("[REDACTED:" + string(d) + "]") }

// Apply scans output and acts on each finding per the mode of its
// detector: flag it, redact it, or block the whole output. A detector
// missing from modes (or a nil map) gets its [DefaultModes] mode; a mode
// that is not one of the four blocks.
//
// Valid JSON stays valid JSON with the same structure: each string value is
// scanned on its own, decoded, and only the strings that carry a redacted
// finding are re-encoded. Object keys are scanned but never rewritten: a
// finding in a key whose mode is redact blocks the output. Numbers are left
// alone. Any other output is scanned and redacted as raw bytes.
func Apply(output []byte, modes map[Detector]Mode) Result {
	eff := effectiveModes(modes)
	on := func(d Detector) bool { return eff[d] != Off }
	a := applier{modes: eff, flags: map[string]bool{}}
	var out []byte
	if json.Valid(output) {
		out = a.applyJSON(output, on)
	} else {
		out, _ = a.applyText(output, scan(output, on))
	}
	res := Result{Flags: a.sortedFlags()}
	if a.blockedBy != "" {
		res.Blocked, res.BlockedBy = true, a.blockedBy
		return res
	}
	res.Output = out
	return res
}

// effectiveModes fills in defaults and turns unknown modes into Block.
func effectiveModes(modes map[Detector]Mode) map[Detector]Mode {
	eff := DefaultModes()
	for d, m := range modes {
		if _, known := eff[d]; !known {
			continue
		}
		if _, err := ParseMode(string(m)); err != nil {
			m = Block
		}
		eff[d] = m
	}
	return eff
}

type applier struct {
	modes     map[Detector]Mode
	flags     map[string]bool
	blockedBy string
}

// note records a finding and reports whether it is to be redacted.
func (a *applier) note(f Finding, redactable bool) bool {
	m := a.modes[f.Detector]
	if m == Off {
		return false
	}
	a.flags[f.Label()] = true
	if m == Block || (m == Redact && !redactable) {
		if a.blockedBy == "" {
			a.blockedBy = f.Label()
		}
		return false
	}
	return m == Redact
}

func (a *applier) sortedFlags() []string {
	if len(a.flags) == 0 {
		return nil
	}
	out := make([]string, 0, len(a.flags))
	for f := range a.flags {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// applyText redacts findings in data; it returns data itself, and false,
// when nothing is redacted.
func (a *applier) applyText(data []byte, findings []Finding) ([]byte, bool) {
	var out []byte
	last := 0
	for _, f := range findings {
		if !a.note(f, true) {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(data))
		}
		out = append(out, data[last:f.Start]...)
		out = append(out, redaction(f.Detector)...)
		last = f.End
	}
	if out == nil {
		return data, false
	}
	return append(out, data[last:]...), true
}

// applyJSON scans each string literal of valid JSON and rewrites those that
// carry a redaction, leaving every other byte where it was.
func (a *applier) applyJSON(data []byte, on func(Detector) bool) []byte {
	var out []byte
	last := 0
	for _, lit := range jsonscan.StringLiterals(data) {
		raw := data[lit.Start:lit.End]
		var s []byte
		if bytes.IndexByte(raw, '\\') < 0 {
			s = raw[1 : len(raw)-1]
		} else {
			var str string
			if err := json.Unmarshal(raw, &str); err != nil {
				continue // cannot happen for a literal of valid JSON
			}
			s = []byte(str)
		}
		findings := scan(s, on)
		if len(findings) == 0 {
			continue
		}
		if lit.Key {
			for _, f := range findings {
				a.note(f, false)
			}
			continue
		}
		red, changed := a.applyText(s, findings)
		if !changed {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(data))
		}
		out = append(out, data[last:lit.Start]...)
		out = append(out, encodeString(red)...)
		last = lit.End
	}
	if out == nil {
		return data
	}
	return append(out, data[last:]...)
}

// encodeString encodes s as a JSON string literal, without HTML escaping.
func encodeString(s []byte) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(string(s)) // encoding a string cannot fail
	return bytes.TrimRight(buf.Bytes(), "\n")
}
