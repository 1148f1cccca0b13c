package dlp

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
)

// Errors returned by this package, wrapped with a "dlp: " prefix.
var (
	// ErrUnknownMode is returned by [ParseMode] for anything but the four modes.
	ErrUnknownMode = errors.New("unknown dlp mode")
	// ErrUnknownDetector is returned by [ParseDetector] for an unknown name.
	ErrUnknownDetector = errors.New("unknown dlp detector")
)

// Detector names one family of findings; the names are the keys of a
// policy document's "dlp" object.
type Detector string

// The detectors, in the order in which they win over each other where
// their findings would overlap.
const (
	Secrets    Detector = "secrets"
	Cards      Detector = "cards"
	IBAN       Detector = "iban"
	NationalID Detector = "national_id"
	Email      Detector = "email"
	Phone      Detector = "phone"
)

// Detectors returns every detector, strongest first.
func Detectors() []Detector {
	return []Detector{Secrets, Cards, IBAN, NationalID, Email, Phone}
}

func (d Detector) String() string { return string(d) }

// priority orders detectors where findings overlap: lower wins.
func (d Detector) priority() int {
	for i, x := range Detectors() {
		if x == d {
			return i
		}
	}
	return len(Detectors())
}

// ParseDetector returns the detector named s.
func ParseDetector(s string) (Detector, error) {
	for _, d := range Detectors() {
		if string(d) == s {
			return d, nil
		}
	}
	return "", fmt.Errorf("dlp: %w: %q", ErrUnknownDetector, s)
}

// Mode is what [Apply] does with a detector's findings.
type Mode string

// The modes, weakest first.
const (
	// Off ignores the detector.
	Off Mode = "off"
	// Flag reports findings and leaves the output as it is.
	Flag Mode = "flag"
	// Redact replaces each finding with "[REDACTED:<detector>]" and reports it.
	Redact Mode = "redact"
	// Block withholds the whole output.
	Block Mode = "block"
)

func (m Mode) String() string { return string(m) }

// ParseMode returns the mode named s ("off", "flag", "redact", "block").
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Off, Flag, Redact, Block:
		return m, nil
	}
	return "", fmt.Errorf("dlp: %w: %q", ErrUnknownMode, s)
}

// DefaultModes returns the modes in force without a policy document
// (DESIGN §9): credentials block, cards and IBANs are redacted, e-mail
// addresses, phone numbers and national ids are flagged. The map is the
// caller's to change.
func DefaultModes() map[Detector]Mode {
	return map[Detector]Mode{
		Secrets:    Block,
		Cards:      Redact,
		IBAN:       Redact,
		NationalID: Flag,
		Email:      Flag,
		Phone:      Flag,
	}
}

// Finding is one match: the byte range [Start, End) of the scanned data, the
// detector and the rule that matched ("github-pat", "luhn-card", …). It
// never holds the matched bytes.
type Finding struct {
	Detector Detector
	Rule     string
	Start    int
	End      int
}

// Label is the finding's flag: "dlp:<detector>:<rule>".
func (f Finding) Label() string { return "dlp:" + string(f.Detector) + ":" + f.Rule }

// Scan returns the findings of every detector in data, in order of Start,
// never overlapping.
func Scan(data []byte) []Finding {
	return scan(data, func(Detector) bool { return true })
}

// scan runs the detectors that on reports as enabled.
func scan(data []byte, on func(Detector) bool) []Finding {
	if len(data) == 0 {
		return nil
	}
	// cheap tests first: most strings of a JSON output hold no digit run or '@'
	digits := 0
	for _, c := range data {
		if isDigit(c) {
			digits++
		}
	}
	var all []Finding
	if on(Secrets) {
		all = append(all, findSecrets(data)...)
		all = append(all, FindExfiltration(data)...)
	}
	if on(Cards) && digits >= 13 {
		all = append(all, findCards(data)...)
	}
	if on(IBAN) && digits >= 2 && len(data) >= 15 {
		all = append(all, findIBANs(data)...)
	}
	if on(NationalID) && digits >= 9 {
		all = append(all, findSSNs(data)...)
	}
	if on(Email) && bytes.IndexByte(data, '@') >= 0 {
		all = append(all, findEmails(data)...)
	}
	if on(Phone) && digits >= 9 {
		all = append(all, findPhones(data)...)
	}
	return resolve(all)
}

// resolve drops every finding that overlaps a stronger one: a stronger
// detector first, then an earlier start, then a longer match. The result is
// sorted by Start.
func resolve(all []Finding) []Finding {
	if len(all) < 2 {
		return all
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if pa, pb := a.Detector.priority(), b.Detector.priority(); pa != pb {
			return pa < pb
		}
		if a.Start != b.Start {
			return a.Start < b.Start
		}
		return a.End-a.Start > b.End-b.Start
	})
	kept := make([]Finding, 0, len(all)) // sorted by Start, disjoint
	for _, f := range all {
		// the first kept finding that ends after f starts is the only one
		// that can overlap f from the left; the one at i may also overlap
		// from the right.
		i := sort.Search(len(kept), func(k int) bool { return kept[k].End > f.Start })
		if i < len(kept) && kept[i].Start < f.End {
			continue
		}
		kept = append(kept, Finding{})
		copy(kept[i+1:], kept[i:])
		kept[i] = f
	}
	return kept
}
