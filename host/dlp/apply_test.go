package dlp

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestApplyJSONKeepsStructure(t *testing.T) {
	in := `{
  "card": "4111 1111 1111 1111",
  "note": "pay to GB82 WEST 1234 5698 7654 32 <soon> & \"quoted\"",
  "amount": 4111111111111111,
  "nested": {"list": ["ok", "5555555555554444", 12.5e3, true, null], "email": "bob@example.com"},
  "4111 1111 1111 1112": "invalid cards are not cards"
}`
	res := Apply([]byte(in), nil)
	if res.Blocked {
		t.Fatalf("blocked by %s", res.BlockedBy)
	}
	want := `{
  "card": "[REDACTED:cards]",
  "note": "pay to [REDACTED:iban] <soon> & \"quoted\"",
  "amount": 4111111111111111,
  "nested": {"list": ["ok", "[REDACTED:cards]", 12.5e3, true, null], "email": "bob@example.com"},
  "4111 1111 1111 1112": "invalid cards are not cards"
}`
	if string(res.Output) != want {
		t.Fatalf("output:\n%s\nwant:\n%s", res.Output, want)
	}
	if !json.Valid(res.Output) {
		t.Fatal("output is not valid JSON")
	}
	wantFlags := []string{"dlp:cards:luhn-card", "dlp:email:email", "dlp:iban:iban"}
	if !reflect.DeepEqual(res.Flags, wantFlags) {
		t.Errorf("flags = %v, want %v", res.Flags, wantFlags)
	}
}

func TestApply(t *testing.T) {
	const pat = "ghp_R2d9Xk4PqLmZ7vN1bT6wYc3HsJ8eUa5fGo0i"
	escapedPat := `\u0067hp_R2d9Xk4PqLmZ7vN1bT6wYc3HsJ8eUa5fGo0i`
	tests := []struct {
		name        string
		in          string
		modes       map[Detector]Mode
		wantOut     string // ignored when blocked
		wantBlocked string // BlockedBy
		wantFlags   []string
	}{
		{"secret in tool output blocked by default", `{"body":"` + pat + `"}`, nil, "", "dlp:secrets:github-pat", []string{"dlp:secrets:github-pat"}},
		{"secret hidden behind a JSON escape blocked", `{"body":"` + escapedPat + `"}`, nil, "", "dlp:secrets:github-pat", []string{"dlp:secrets:github-pat"}},
		{"secret hidden behind a JSON escape redacted", `{"body":"x ` + escapedPat + `"}`, map[Detector]Mode{Secrets: Redact}, `{"body":"x [REDACTED:secrets]"}`, "", []string{"dlp:secrets:github-pat"}},
		{"secret in an object key blocks even under redact", `{"` + pat + `":1}`, map[Detector]Mode{Secrets: Redact}, "", "dlp:secrets:github-pat", []string{"dlp:secrets:github-pat"}},
		{"secret in an object key flagged under flag", `{"` + pat + `":1}`, map[Detector]Mode{Secrets: Flag}, `{"` + pat + `":1}`, "", []string{"dlp:secrets:github-pat"}},
		{"secret passes when its detector is off", "x " + pat, map[Detector]Mode{Secrets: Off}, "x " + pat, "", nil},
		{"unknown mode fails closed", "bob@example.com", map[Detector]Mode{Email: "bogus"}, "", "dlp:email:email", []string{"dlp:email:email"}},
		{"missing detector keeps its default", "card 4111111111111111", map[Detector]Mode{Email: Off}, "card [REDACTED:cards]", "", []string{"dlp:cards:luhn-card"}},
		{"unknown detector ignored", "card 4111111111111111", map[Detector]Mode{"ssn": Off}, "card [REDACTED:cards]", "", []string{"dlp:cards:luhn-card"}},
		{"card blocked when policy says block", `["4111111111111111"]`, map[Detector]Mode{Cards: Block}, "", "dlp:cards:luhn-card", []string{"dlp:cards:luhn-card"}},
		{"e-mail redacted when policy says redact", "to bob@example.com.", map[Detector]Mode{Email: Redact}, "to [REDACTED:email].", "", []string{"dlp:email:email"}},
		{"first blocking finding named", "bob@example.com then " + pat, map[Detector]Mode{Email: Block}, "", "dlp:email:email", []string{"dlp:email:email", "dlp:secrets:github-pat"}},
		{"JSON numbers left alone", `{"n":4111111111111111}`, map[Detector]Mode{Cards: Block}, `{"n":4111111111111111}`, "", nil},
		{"not JSON treated as raw bytes", `{"card": "4111111111111111"`, nil, `{"card": "[REDACTED:cards]"`, "", []string{"dlp:cards:luhn-card"}},
		{"ordinary prose untouched", "The build passed in 42 s.", nil, "The build passed in 42 s.", "", nil},
		{"empty output", "", nil, "", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Apply([]byte(tc.in), tc.modes)
			if tc.wantBlocked != "" {
				if !res.Blocked || res.BlockedBy != tc.wantBlocked || res.Output != nil {
					t.Fatalf("Apply = %+v, want blocked by %s", res, tc.wantBlocked)
				}
			} else {
				if res.Blocked {
					t.Fatalf("blocked by %s", res.BlockedBy)
				}
				if string(res.Output) != tc.wantOut {
					t.Errorf("output = %q, want %q", res.Output, tc.wantOut)
				}
			}
			if !reflect.DeepEqual(res.Flags, tc.wantFlags) {
				t.Errorf("flags = %v, want %v", res.Flags, tc.wantFlags)
			}
		})
	}
}

func TestApplyRedactedJSONStillParses(t *testing.T) {
	in := map[string]any{
		"a": []any{"card 4111 1111 1111 1111", map[string]any{"iban": "DE89 3704 0044 0532 0130 00\n\t\u2028"}},
		"b": "line\nbreak 5555-5555-5555-4444 \"q\" \\ </script>",
	}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	res := Apply(raw, nil)
	var got map[string]any
	if err := json.Unmarshal(res.Output, &got); err != nil {
		t.Fatalf("redacted output does not parse: %v\n%s", err, res.Output)
	}
	want := map[string]any{
		"a": []any{"card [REDACTED:cards]", map[string]any{"iban": "[REDACTED:iban]\n\t\u2028"}},
		"b": "line\nbreak [REDACTED:cards] \"q\" \\ </script>",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

func TestModesParse(t *testing.T) {
	for _, s := range []string{"off", "flag", "redact", "block"} {
		m, err := ParseMode(s)
		if err != nil || m.String() != s {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "Block", "allow", "redact "} {
		if _, err := ParseMode(s); err == nil || !strings.HasPrefix(err.Error(), "dlp: ") {
			t.Errorf("ParseMode(%q) error = %v, want a dlp: error", s, err)
		}
	}
	for _, d := range Detectors() {
		got, err := ParseDetector(d.String())
		if err != nil || got != d {
			t.Errorf("ParseDetector(%q) = %q, %v", d, got, err)
		}
		if _, ok := DefaultModes()[d]; !ok {
			t.Errorf("no default mode for %s", d)
		}
	}
	if _, err := ParseDetector("ssn"); err == nil {
		t.Error("ParseDetector(ssn) accepted")
	}
	want := map[Detector]Mode{Secrets: Block, Cards: Redact, IBAN: Redact, NationalID: Flag, Email: Flag, Phone: Flag}
	if !reflect.DeepEqual(DefaultModes(), want) {
		t.Errorf("DefaultModes() = %v, want DESIGN §9's %v", DefaultModes(), want)
	}
}
