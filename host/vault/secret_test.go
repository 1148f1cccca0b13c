package vault

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const leakValue = "ghp_LEAKME0123456789abcdef"

func TestSecretNeverPrinted(t *testing.T) {
	s := NewSecret([]byte(leakValue))
	k := mustKey(t)
	type wrapped struct {
		Token  Secret
		hidden Secret // unexported: fmt walks it by reflection, without methods
		Key    MasterKey
		key    MasterKey
	}
	w := wrapped{Token: s, hidden: s, Key: k, key: k}
	keyB64 := strings.TrimSpace(string(encodeKey(k)))

	render := map[string]func() string{
		"fmt %v":                  func() string { return fmt.Sprintf("%v", s) },
		"fmt %+v":                 func() string { return fmt.Sprintf("%+v", s) },
		"fmt %#v":                 func() string { return fmt.Sprintf("%#v", s) },
		"fmt %s":                  func() string { return fmt.Sprintf("%s", s) },
		"fmt %q":                  func() string { return fmt.Sprintf("%q", s) },
		"fmt %x":                  func() string { return fmt.Sprintf("%x", s) },
		"fmt %X":                  func() string { return fmt.Sprintf("%X", s) },
		"fmt %d":                  func() string { return fmt.Sprintf("%d", s) },
		"fmt Println":             func() string { return fmt.Sprintln(s) },
		"fmt pointer %v":          func() string { return fmt.Sprintf("%v", &s) },
		"fmt struct %+v":          func() string { return fmt.Sprintf("%+v", w) },
		"fmt struct %#v":          func() string { return fmt.Sprintf("%#v", w) },
		"fmt slice %v":            func() string { return fmt.Sprintf("%v", []Secret{s}) },
		"fmt map %v":              func() string { return fmt.Sprintf("%v", map[string]Secret{"a": s}) },
		"error wrapping %v":       func() string { return fmt.Errorf("failed with %v", s).Error() },
		"master key %v %#v %x %q": func() string { return fmt.Sprintf("%v %#v %x %q %s", k, k, k, k, k) },
		"slog text": func() string {
			var b bytes.Buffer
			slog.New(slog.NewTextHandler(&b, nil)).Info("m", "secret", s, "key", k, "w", w, "any", any(s))
			return b.String()
		},
		"slog JSON": func() string {
			var b bytes.Buffer
			slog.New(slog.NewJSONHandler(&b, nil)).Info("m", "secret", s, "key", k, "w", w, "group",
				slog.GroupValue(slog.Any("s", s)))
			return b.String()
		},
		"json.Marshal": func() string {
			b, err := json.Marshal(map[string]any{"s": s, "k": k, "w": w, "list": []Secret{s}})
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		},
		"MarshalText": func() string {
			b, _ := s.MarshalText()
			c, _ := k.MarshalText()
			return string(b) + string(c)
		},
	}
	forbidden := []string{
		leakValue,
		fmt.Sprintf("%x", []byte(leakValue)),
		fmt.Sprint([]byte(leakValue)[:4]), // byte-slice rendering "[103 104 112 95]"
		keyB64,
		fmt.Sprint(k.k[:4]),
	}
	for name, f := range render {
		t.Run(name, func(t *testing.T) {
			out := f()
			if !strings.Contains(out, redacted) {
				t.Errorf("output %q does not say %s", out, redacted)
			}
			for _, bad := range forbidden {
				if strings.Contains(out, strings.Trim(bad, "[]")) {
					t.Errorf("output %q leaks %q", out, bad)
				}
			}
		})
	}
}

func TestSecretExposeReturnsACopy(t *testing.T) {
	s := NewSecret([]byte(leakValue))
	b := s.Expose()
	b[0] = 'X'
	if got := string(s.Expose()); got != leakValue {
		t.Fatalf("caller changed the stored value: %q", got)
	}
	src := []byte(leakValue)
	s2 := NewSecret(src)
	src[0] = 'X'
	if got := string(s2.Expose()); got != leakValue {
		t.Fatalf("NewSecret kept the caller's slice: %q", got)
	}
	if (Secret{}).Expose() != nil || (Secret{}).Len() != 0 {
		t.Fatal("zero Secret holds a value")
	}
}

func TestMasterKeyID(t *testing.T) {
	a, b := mustKey(t), mustKey(t)
	if len(a.ID()) != 16 || a.ID() == b.ID() {
		t.Fatalf("ids %q %q", a.ID(), b.ID())
	}
	if (MasterKey{}).ID() != "" {
		t.Fatal("zero key has an id")
	}
}
