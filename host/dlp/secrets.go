package dlp

import (
	"math"
	"regexp"
)

// secretRule is one credential format. The patterns, entropy floors,
// keywords and allowlists below are copied verbatim from gitleaks' default
// rule set (github.com/gitleaks/gitleaks, config/gitleaks.toml, generated
// from cmd/generate/config/rules/*.go); id is the gitleaks rule id. When a
// pattern has a capture group, the first non-empty group is the secret (the
// rest of the match is context, such as the delimiter after it).
type secretRule struct {
	id       string
	re       *regexp.Regexp
	keywords []string         // lower case; the rule runs only if one occurs
	entropy  float64          // Shannon bits per byte the secret must exceed; 0 for none
	allow    []*regexp.Regexp // a secret matching any of these is not one
}

// tokenEnd is the delimiter gitleaks' GenerateUniqueTokenRegex requires
// after a token: a quote, backtick, whitespace, ';', an escaped \n or \r, or
// the end of the text.
const tokenEnd = `(?:[\x60'"\s;]|\\[nr]|$)`

var secretRules = []secretRule{
	{
		// gitleaks "aws-access-token" (rules/aws.go)
		id:       "aws-access-token",
		re:       regexp.MustCompile(`\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b`),
		keywords: []string{"a3t", "akia", "asia", "abia", "acca"},
		entropy:  3,
		allow:    []*regexp.Regexp{regexp.MustCompile(`.+EXAMPLE$`)},
	},
	// gitleaks rules/github.go
	{id: "github-app-token", re: regexp.MustCompile(`(?:ghu|ghs)_[0-9a-zA-Z]{36}`), keywords: []string{"ghu_", "ghs_"}, entropy: 3},
	{id: "github-fine-grained-pat", re: regexp.MustCompile(`github_pat_\w{82}`), keywords: []string{"github_pat_"}, entropy: 3},
	{id: "github-oauth", re: regexp.MustCompile(`gho_[0-9a-zA-Z]{36}`), keywords: []string{"gho_"}, entropy: 3},
	{id: "github-pat", re: regexp.MustCompile(`ghp_[0-9a-zA-Z]{36}`), keywords: []string{"ghp_"}, entropy: 3},
	{id: "github-refresh-token", re: regexp.MustCompile(`ghr_[0-9a-zA-Z]{36}`), keywords: []string{"ghr_"}, entropy: 3},
	// gitleaks rules/slack.go
	{id: "slack-app-token", re: regexp.MustCompile(`(?i)xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+`), keywords: []string{"xapp"}, entropy: 2},
	{id: "slack-bot-token", re: regexp.MustCompile(`xoxb-[0-9]{10,13}-[0-9]{10,13}[a-zA-Z0-9-]*`), keywords: []string{"xoxb"}, entropy: 3},
	{id: "slack-config-access-token", re: regexp.MustCompile(`(?i)xoxe.xox[bp]-\d-[A-Z0-9]{163,166}`), keywords: []string{"xoxe.xoxb-", "xoxe.xoxp-"}, entropy: 2},
	{id: "slack-config-refresh-token", re: regexp.MustCompile(`(?i)xoxe-\d-[A-Z0-9]{146}`), keywords: []string{"xoxe-"}, entropy: 2},
	{id: "slack-legacy-bot-token", re: regexp.MustCompile(`xoxb-[0-9]{8,14}-[a-zA-Z0-9]{18,26}`), keywords: []string{"xoxb"}, entropy: 2},
	{id: "slack-legacy-token", re: regexp.MustCompile(`xox[os]-\d+-\d+-\d+-[a-fA-F\d]+`), keywords: []string{"xoxo", "xoxs"}, entropy: 2},
	{id: "slack-legacy-workspace-token", re: regexp.MustCompile(`xox[ar]-(?:\d-)?[0-9a-zA-Z]{8,48}`), keywords: []string{"xoxa", "xoxr"}, entropy: 2},
	{id: "slack-user-token", re: regexp.MustCompile(`xox[pe](?:-[0-9]{10,13}){3}-[a-zA-Z0-9-]{28,34}`), keywords: []string{"xoxp-", "xoxe-"}, entropy: 2},
	{id: "slack-webhook-url", re: regexp.MustCompile(`(?:https?://)?hooks.slack.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56}`), keywords: []string{"hooks.slack.com"}},
	{
		// gitleaks "stripe-access-token" (rules/stripe.go)
		id:       "stripe-access-token",
		re:       regexp.MustCompile(`\b((?:sk|rk)_(?:test|live|prod)_[a-zA-Z0-9]{10,99})` + tokenEnd),
		keywords: []string{"sk_test", "sk_live", "sk_prod", "rk_test", "rk_live", "rk_prod"},
		entropy:  2,
	},
	{
		// gitleaks "openai-api-key" (rules/openai.go): every OpenAI key
		// carries "T3BlbkFJ", base64 of "OpenAI".
		id:       "openai-api-key",
		re:       regexp.MustCompile(`\b(sk-(?:proj|svcacct|admin)-(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})T3BlbkFJ(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})\b|sk-[a-zA-Z0-9]{20}T3BlbkFJ[a-zA-Z0-9]{20})` + tokenEnd),
		keywords: []string{"t3blbkfj"},
		entropy:  3,
	},
	// gitleaks rules/anthropic.go
	{id: "anthropic-admin-api-key", re: regexp.MustCompile(`\b(sk-ant-admin01-[a-zA-Z0-9_\-]{93}AA)` + tokenEnd), keywords: []string{"sk-ant-admin01"}},
	{id: "anthropic-api-key", re: regexp.MustCompile(`\b(sk-ant-api03-[a-zA-Z0-9_\-]{93}AA)` + tokenEnd), keywords: []string{"sk-ant-api03"}},
	{id: "anthropic-oauth-token", re: regexp.MustCompile(`\b(sk-ant-oat01-[a-zA-Z0-9_\-]{40,})` + tokenEnd), keywords: []string{"sk-ant-oat01"}},
	{id: "anthropic-oauth-refresh-token", re: regexp.MustCompile(`\b(sk-ant-ort01-[a-zA-Z0-9_\-]{40,})` + tokenEnd), keywords: []string{"sk-ant-ort01"}},
	{
		// gitleaks "gcp-api-key" (rules/gcp.go), with its allowlist of the
		// example keys published in firebase-android-sdk.
		id:       "gcp-api-key",
		re:       regexp.MustCompile(`\b(AIza[\w-]{35})` + tokenEnd),
		keywords: []string{"aiza"},
		entropy:  4,
		allow: []*regexp.Regexp{
			regexp.MustCompile(`AIzaSyabcdefghijklmnopqrstuvwxyz1234567`),
			regexp.MustCompile(`AIzaSyAnLA7NfeLquW1tJFpx_eQCxoX-oo6YyIs`),
			regexp.MustCompile(`AIzaSyCkEhVjf3pduRDt6d1yKOMitrUEke8agEM`),
			regexp.MustCompile(`AIzaSyDMAScliyLx7F0NPDEJi1QmyCgHIAODrlU`),
			regexp.MustCompile(`AIzaSyD3asb-2pEZVqMkmL6M9N6nHZRR_znhrh0`),
			regexp.MustCompile(`AIzayDNSXIbFmlXbIE6mCzDLQAqITYefhixbX4A`),
			regexp.MustCompile(`AIzaSyAdOS2zB6NCsk1pCdZ4-P6GBdi_UUPwX7c`),
			regexp.MustCompile(`AIzaSyASWm6HmTMdYWpgMnjRBjxcQ9CKctWmLd4`),
			regexp.MustCompile(`AIzaSyANUvH9H9BsUccjsu2pCmEkOPjjaXeDQgY`),
			regexp.MustCompile(`AIzaSyA5_iVawFQ8ABuTZNUdcwERLJv_a_p4wtM`),
			regexp.MustCompile(`AIzaSyA4UrcGxgwQFTfaI3no3t7Lt1sjmdnP5sQ`),
			regexp.MustCompile(`AIzaSyDSb51JiIcB6OJpwwMicseKRhhrOq1cS7g`),
			regexp.MustCompile(`AIzaSyBF2RrAIm4a0mO64EShQfqfd2AFnzAvvuU`),
			regexp.MustCompile(`AIzaSyBcE-OOIbhjyR83gm4r2MFCu4MJmprNXsw`),
			regexp.MustCompile(`AIzaSyB8qGxt4ec15vitgn44duC5ucxaOi4FmqE`),
			regexp.MustCompile(`AIzaSyA8vmApnrHNFE0bApF4hoZ11srVL_n0nvY`),
		},
	},
	{
		// gitleaks "private-key"
		id:       "private-key",
		re:       regexp.MustCompile(`(?i)-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\S-]{64,}?KEY(?: BLOCK)?-----`),
		keywords: []string{"-----begin"},
	},
	{
		// gitleaks "jwt"
		id:       "jwt",
		re:       regexp.MustCompile(`\b(ey[a-zA-Z0-9]{17,}\.ey[a-zA-Z0-9\/\\_-]{17,}\.(?:[a-zA-Z0-9\/\\_-]{10,}={0,2})?)` + tokenEnd),
		keywords: []string{"ey"},
		entropy:  3,
	},
}

// findSecrets returns every credential-format match in data; matches may
// overlap (resolve sorts that out).
func findSecrets(data []byte) []Finding {
	present := keywords.rulesIn(data)
	var out []Finding
	for i := range secretRules {
		r := &secretRules[i]
		if len(r.keywords) > 0 && present&(1<<i) == 0 {
			continue
		}
		for _, m := range r.re.FindAllSubmatchIndex(data, -1) {
			start, end := m[0], m[1]
			for g := 2; g+1 < len(m); g += 2 {
				if m[g] >= 0 && m[g+1] > m[g] {
					start, end = m[g], m[g+1]
					break
				}
			}
			if end <= start || !r.accepts(data[start:end]) {
				continue
			}
			end = tokenTail(data, end)
			out = append(out, Finding{Detector: Secrets, Rule: r.id, Start: start, End: end})
		}
	}
	return out
}

// tokenTail extends a match that stops inside a token (gitleaks patterns
// such as ghp_[0-9a-zA-Z]{36} have no right boundary) to the token's end,
// so that a redaction never leaves part of a credential behind.
func tokenTail(data []byte, end int) int {
	if end == 0 || !isTokenByte(data[end-1]) {
		return end
	}
	for end < len(data) && isTokenByte(data[end]) {
		end++
	}
	return end
}

func isTokenByte(c byte) bool { return isAlnum(c) || c == '-' }

// hasSecret reports whether data holds a credential format.
func hasSecret(data []byte) bool { return len(findSecrets(data)) > 0 }

// accepts applies the rule's entropy floor and allowlist to a match, as
// gitleaks does: a secret whose entropy is at or below the floor is a
// placeholder ("AKIAXXXXXXXXXXXXXXXX").
func (r *secretRule) accepts(secret []byte) bool {
	if r.entropy > 0 && shannon(secret) <= r.entropy {
		return false
	}
	for _, a := range r.allow {
		if a.Match(secret) {
			return false
		}
	}
	return true
}

// shannon is the Shannon entropy of b in bits per byte.
func shannon(b []byte) float64 {
	if len(b) == 0 {
		return 0
	}
	var counts [256]int
	for _, c := range b {
		counts[c]++
	}
	n := float64(len(b))
	var h float64
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
