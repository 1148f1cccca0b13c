package intent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/dlp"
	"github.com/airlock-dev/airlock/host/inject"
)

func (s *Service) filters(ctx context.Context, realm string) (map[dlp.Detector]dlp.Mode, inject.Mode, error) {
	modes, err := s.DLPModes(ctx, realm)
	if err != nil {
		return nil, "", err
	}
	im, err := s.Injection(ctx, realm)
	if err != nil {
		return nil, "", err
	}
	return modes, im, nil
}

// filterOutput applies the realm's DLP and injection handling to a tool
// output that already passed its schema and the vault leak scan. It returns
// the (possibly redacted or spotlighted) output and its flags.
func (s *Service) filterOutput(ctx context.Context, realm string, output []byte) ([]byte, []string, error) {
	modes, im, err := s.filters(ctx, realm)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: policy unavailable", ErrUnavailable)
	}
	res := dlp.Apply(output, modes)
	if res.Blocked {
		return nil, res.Flags, fmt.Errorf("%w: the output carried %s", ErrOutputBlocked, res.BlockedBy)
	}
	output = res.Output
	flags := append([]string{}, res.Flags...)
	if im != inject.ModeOff {
		found := inject.Scan(output)
		if len(found) > 0 {
			flags = append(flags, inject.Labels(found)...)
			switch im {
			case inject.ModeBlock:
				return nil, flags, fmt.Errorf("%w: the output carried injected instructions", ErrOutputBlocked)
			case inject.ModeSpotlight:
				if output, err = spotlightJSON(output, inject.NewToken()); err != nil {
					return nil, flags, &ToolError{Reason: abi.ReasonOutputSchema, Message: "tool output is not JSON"}
				}
				flags = append(flags, "inject:spotlighted")
			}
		}
	}
	sort.Strings(flags)
	return output, compact(flags), nil
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// spotlightJSON datamarks every string value of a JSON document, keeping
// its structure and numbers as written.
func spotlightJSON(doc []byte, token string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var walk func(any) any
	walk = func(x any) any {
		switch t := x.(type) {
		case string:
			return inject.Spotlight(t, token)
		case []any:
			for i := range t {
				t[i] = walk(t[i])
			}
		case map[string]any:
			for k := range t {
				t[k] = walk(t[k])
			}
		}
		return x
	}
	return json.Marshal(walk(v))
}

// egressSecrets reports whether an outgoing request carries a detected
// credential, in its URL also encoded (unless the realm's policy turned
// secret detection off).
func (s *Service) egressSecrets(ctx context.Context, realm, rawURL string, body []byte) (string, bool, error) {
	modes, _, err := s.filters(ctx, realm)
	if err != nil {
		return "", false, err
	}
	if m, ok := modes[dlp.Secrets]; ok && m == dlp.Off {
		return "", false, nil
	}
	if dlp.URLCarriesSecret(rawURL) {
		return "dlp:secrets:encoded-in-url", true, nil
	}
	for _, f := range dlp.Scan(append([]byte(rawURL+"\n"), body...)) {
		if f.Detector == dlp.Secrets {
			return f.Label(), true, nil
		}
	}
	return "", false, nil
}

// flagMemory labels memory results that carry injection markers, so a
// caller can keep them apart from instructions (they are data from memory).
func flagMemory(results []abi.MemoryResult) {
	for i := range results {
		if found := inject.Scan([]byte(results[i].Content)); len(found) > 0 {
			if results[i].Provenance == nil {
				results[i].Provenance = map[string]string{}
			}
			labels := inject.Labels(found)
			b, _ := json.Marshal(labels)
			results[i].Provenance["flags"] = string(b)
		}
	}
}
