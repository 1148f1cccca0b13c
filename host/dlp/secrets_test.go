package dlp

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Sample secrets. Those marked "gitleaks" are the true-positive samples of
// gitleaks' rule files (cmd/generate/config/rules); gitleaks generates the
// GitHub and Stripe samples at random, so fixed ones of the same shape
// stand in for them. None is a live credential.
var secretSamples = []struct {
	name, rule, secret string
}{
	{"AWS access key id leaked", "aws-access-token", "AKIALALEMEL33243OLIB"}, // gitleaks
	{"AWS STS temporary key leaked", "aws-access-token", "ASIAY34FZKBOKMUTVV7A"},
	{"GitHub personal access token leaked", "github-pat", "ghp_R2d9Xk4PqLmZ7vN1bT6wYc3HsJ8eUa5fGo0i"},
	{"GitHub OAuth token leaked", "github-oauth", "gho_16C7e42F292c6912E7710c838347Ae178B4a"},
	{"GitHub app user token leaked", "github-app-token", "ghu_7kQmV2xN9pL4rT8wZ3bY6cH1jF5dS0aGeUiO"},
	{"GitHub app server token leaked", "github-app-token", "ghs_Zy8Wx7Vu6Ts5Rq4Po3Nm2Lk1Jh0Gf9Ed8Cb7A"},
	{"GitHub refresh token leaked", "github-refresh-token", "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169"},
	{"GitHub fine-grained token leaked", "github-fine-grained-pat", "github_pat_11ABCDEFG0aB1cD2eF3gH4_iJ5kL6mN7oP8qR9sT0uV1wX2yZ3aB4cD5eF6gH7iJ8kL9mN0oP1qR2sT3uV4wX5yZ6aB7cD8eF9"},
	{"Slack bot token leaked", "slack-bot-token", "xoxb-781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD"},                                          // gitleaks
	{"Slack user token leaked", "slack-user-token", "xoxp-41684372915-1320496754-45609968301-e708ba56e1517a99f6b5fb07349476ef"},                        // gitleaks
	{"Slack app token leaked", "slack-app-token", "xapp-1-A052FGTS2DL-5171572773297-610b6a11f4b7eb819e87b767d80e6575a3634791acb9a9ead051da879eb5b55e"}, // gitleaks
	{"Slack legacy bot token leaked", "slack-legacy-bot-token", "xoxb-263594206564-FGqddMF8t08v8N7Oq4i57vs1"},                                          // gitleaks
	{"Slack legacy token leaked", "slack-legacy-token", "xoxs-416843729158-132049654-5609968301-e708ba56e1"},                                           // gitleaks
	{"Slack workspace token leaked", "slack-legacy-workspace-token", "xoxa-2-511111111-31111111111-3111111111111-e039d02840a0b9379c"},                  // gitleaks
	{"Slack webhook leaked", "slack-webhook-url", "https://hooks.slack.com/services/T024TTTTT/BBB72BBL/AZAAA9u0pA4ad666eMgbi555"},                      // gitleaks
	{"Stripe secret key leaked", "stripe-access-token", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"},
	{"Stripe restricted key leaked", "stripe-access-token", "rk_live_51HqLyjWDarjtT1zdp7dcAbCdEf"},
	{"OpenAI project key leaked", "openai-api-key", "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"}, // gitleaks
	{"OpenAI admin key leaked", "openai-api-key", "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"},                                  // gitleaks
	{"OpenAI legacy key leaked", "openai-api-key", "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"},
	{"Anthropic API key leaked", "anthropic-api-key", "sk-ant-api03-abc123xyz-456def789ghij-klmnopqrstuvwx-3456yza789bcde-1234fghijklmnopby56aaaogaopaaaabc123xyzAA"},           // gitleaks
	{"Anthropic admin key leaked", "anthropic-admin-api-key", "sk-ant-admin01-abc12fake-456def789ghij-klmnopqrstuvwx-3456yza789bcde-12fakehijklmnopby56aaaogaopaaaabc123xyzAA"}, // gitleaks
	{"Anthropic OAuth token leaked", "anthropic-oauth-token", "sk-ant-oat01-Qw3rTy7uI9oP1aS5dF2gH8jK4lZ6xC0vB3nM7qW9eR1tY5uI2oP8aS4dF6gH0jK"},
	{"Google API key leaked", "gcp-api-key", "AIzaSyNHxIf32IQ1a1yjl3ZJIqKZqzLAK1XhDk-"},                                                                                                                                                       // gitleaks
	{"private key block leaked", "private-key", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCy1yG25m+cplha\n8h1Jmd9m15gGabp2Uk5B/lgHglYiE+TRH7GvLTg30x9FIoarZR5SLKWaSQ50JPNL\n-----END PRIVATE KEY-----"}, // gitleaks (gcp.go)
	{"RSA private key block leaked", "private-key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAwJ4Xk8sB2Ttz9Qp7d1R0aL9fYgB3n4cVx2mZ8hK1pW6sU0eJ\nqT5rN7yC3vF9bD2gH4jL6kM8oP0sR2uW4xZ6aB8dE0gI2kM4oQ6sU8wY0aC2eG4i\n-----END RSA PRIVATE KEY-----"},
	{"JWT leaked", "jwt", "eyJhbGciOieeeiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwic3ViZSI6IjEyMzQ1Njc4OTAiLCJuYW1lZWEiOiJKb2huIERvZSIsInN1ZmV3YWZiIjoiMTIzNDU2Nzg5MCIsIm5hbWVmZWF3ZnciOiJKb2huIERvZSIsIm5hbWVhZmV3ZmEiOiJKb2huIERvZSIsInN1ZndhZndlYWIiOiIxMjM0NTY3ODkwIiwibmFtZWZ3YWYiOiJKb2huIERvZSIsInN1YmZ3YWYiOiIxMjM0NTY3ODkwIiwibmFtZndhZSI6IkpvaG4gRG9lIiwiaWZ3YWZhYXQiOjE1MTYyMzkwMjJ9.a_5icKBDo-8EjUlrfvz2k2k-FYaindQ0DEYNrlsnRG0"}, // gitleaks
}

// Near misses: text that resembles a credential but is not one, mostly
// gitleaks' own false-positive samples. They must pass untouched.
var secretNearMisses = []struct{ name, text string }{
	{"AWS placeholder with low entropy", "key = AKIAXXXXXXXXXXXXXXXX"},                                         // gitleaks
	{"AWS documentation example key", "aws_access_key: AKIAIOSFODNN7EXAMPLE"},                                  // gitleaks
	{"AWS prefix inside a longer word", "TODAYINASIAASACKOFRICEFELLOVER"},                                      // gitleaks
	{"GitHub token one character short", "ghp_R2d9Xk4PqLmZ7vN1bT6wYc3HsJ8eUa5fGo0"},                            // 35 characters
	{"GitHub prefix in prose", "tokens start with ghp_ and gho_ on GitHub"},                                    //
	{"Slack bot placeholder", "xoxb-xxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx"},                                        // gitleaks
	{"Slack bot token too short", "xoxb-12345-abcd234"},                                                        // gitleaks
	{"Slack bot token example name", "xoxb-xoxb-my-bot-token"},                                                 // gitleaks
	{"Slack user token too short", `"token1": "xoxp-1234567890"`},                                              // gitleaks
	{"Slack legacy image URL", "https://indieweb.org/images/3/35/2018-250-xoxo-indieweb-1.jpg"},                // gitleaks
	{"Slack workspace repository URL", "https://github.com/xoxa-nyc/xoxa-nyc.github.io/blob/master/README.md"}, // gitleaks
	{"Stripe key too short", "sk_live_abc12"},
	{"sk- in prose", "OpenAI keys start with sk- and Anthropic keys with sk-ant-; never paste them."},
	{"OpenAI-shaped string without the OpenAI marker", "sk-proj-SevzWEV_NmNnMndQ5gn6PjFcX_9ay5SEKse8AL0EuYAB0cIgFW7Equ3vCbUbYShvii6L3rBw3WTXXXXXXXXdD9FqO9Z3BoBu9F-KFR6YJtvW6fUfqg2o2Lfel3diT3OCRmBB24hjcd_uLEjgr9tCqnnerVw8A"},
	{"Anthropic key too short", "sk-ant-api03-abc123xyz-456de-klMnopqrstuvwx-3456yza789bcde-1234fghijklmnopAA"},                                         // gitleaks
	{"Anthropic key with wrong suffix", "sk-ant-api03-abc123xyz-456def789ghij-klmnopqrstuvwx-3456yza789bcde-1234fghijklmnopby56aaaogaopaaaabc123xyzBB"}, // gitleaks
	{"Anthropic OAuth token too short", `anthropic_token = "sk-ant-oat01-tooShort"`},                                                                    // gitleaks
	{"Google key in wrong case", "AIZASYCO2CXRMC9ELSKLHLHRMBSWDEVEDZTLO2O"},                                                                             // gitleaks
	{"Google key placeholder with low entropy", `apiKey: "AIzaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"`},                                                    // gitleaks
	{"Google key published as a Firebase example", "AIzaSyabcdefghijklmnopqrstuvwxyz1234567"},                                                           // gitleaks
	{"Google key run on into more text", "AIzaTesb6Tscfcni8vIpWZqNCXFDFslJtVSvFDqabcd123"},                                                              // gitleaks
	{"public key block", "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwJ4Xk8sB2Ttz9Qp7d1R0aL9fYgB3n4cVx2mZ8hK1\n-----END PUBLIC KEY-----"},
	{"private key header without a body", "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----"},
	{"JWT-shaped string too short", "eyJhbGciOi.eyJzdWIi.abc"},
}

func secretFindings(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Detector == Secrets {
			out = append(out, f)
		}
	}
	return out
}

func TestScanFindsEveryGitleaksSample(t *testing.T) {
	for _, tc := range secretSamples {
		t.Run(tc.name, func(t *testing.T) {
			for _, text := range []string{
				tc.secret,
				"here it is: " + tc.secret + " and more",
				"export TOKEN='" + tc.secret + "'\n",
			} {
				fs := secretFindings(Scan([]byte(text)))
				if len(fs) != 1 {
					t.Fatalf("Scan(%q) = %+v, want one %s finding", text, fs, tc.rule)
				}
				f := fs[0]
				if f.Rule != tc.rule || text[f.Start:f.End] != tc.secret {
					t.Errorf("Scan(%q) = %s %q, want %s %q", text, f.Rule, text[f.Start:f.End], tc.rule, tc.secret)
				}
			}
		})
	}
}

func TestApplyBlocksOrRedactsEveryGitleaksSample(t *testing.T) {
	redactSecrets := DefaultModes()
	redactSecrets[Secrets] = Redact
	for _, tc := range secretSamples {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte("result: " + tc.secret + "\n")
			js, _ := json.Marshal(map[string]any{"result": map[string]any{"body": "token " + tc.secret + " here", "n": 42}})
			for _, in := range [][]byte{raw, js} {
				def := Apply(in, nil)
				if !def.Blocked || def.Output != nil || def.BlockedBy != "dlp:secrets:"+tc.rule {
					t.Errorf("default Apply(%q) = %+v, want blocked by %s", in, def, tc.rule)
				}
				red := Apply(in, redactSecrets)
				if red.Blocked {
					t.Fatalf("redact Apply(%q) blocked", in)
				}
				if bytes.Contains(red.Output, []byte(tc.secret)) || !bytes.Contains(red.Output, []byte("[REDACTED:secrets]")) {
					t.Errorf("redact Apply(%q) = %q, want the secret redacted", in, red.Output)
				}
				if len(red.Flags) != 1 || red.Flags[0] != "dlp:secrets:"+tc.rule {
					t.Errorf("flags = %v, want [dlp:secrets:%s]", red.Flags, tc.rule)
				}
			}
		})
	}
}

func TestScanKeepsNearMisses(t *testing.T) {
	for _, tc := range secretNearMisses {
		t.Run(tc.name, func(t *testing.T) {
			if fs := secretFindings(Scan([]byte(tc.text))); len(fs) != 0 {
				t.Errorf("Scan(%q) = %+v, want no secret", tc.text, fs)
			}
			res := Apply([]byte(tc.text), nil)
			if res.Blocked || !bytes.Equal(res.Output, []byte(tc.text)) {
				t.Errorf("Apply(%q) = %+v, want it untouched", tc.text, res)
			}
		})
	}
}

func TestShannon(t *testing.T) {
	tests := []struct {
		in   string
		want float64
	}{
		{"", 0},
		{"aaaa", 0},
		{"ab", 1},
		{"abcd", 2},
	}
	for _, tc := range tests {
		if got := shannon([]byte(tc.in)); got != tc.want {
			t.Errorf("shannon(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
