package mail

import (
	"errors"
	"testing"
)

func TestCompileRecipientsRefuses(t *testing.T) {
	tests := []struct{ name, pattern string }{
		{"bare wildcard allows everyone", "*"},
		{"wildcard domain", "*@*"},
		{"wildcard subdomain", "*@*.example.org"},
		{"wildcard inside the local part", "a*@example.org"},
		{"wildcard inside the domain", "a@ex*ample.org"},
		{"display name", "Ops <ops@example.org>"},
		{"angle brackets", "<ops@example.org>"},
		{"two addresses", "ops@example.org, evil@evil.test"},
		{"CRLF", "ops@example.org\r\n"},
		{"NUL", "ops@example.org\x00"},
		{"space", "ops @example.org"},
		{"percent hack", "a%evil.test@example.org"},
		{"bang path", "evil.test!a@example.org"},
		{"quoted local part", `"a b"@example.org`},
		{"comment", "ops(comment)@example.org"},
		{"address literal", "ops@[127.0.0.1]"},
		{"trailing dot in domain", "*@example.org."},
		{"empty domain", "*@"},
		{"empty local part", "@example.org"},
		{"no @", "example.org"},
		{"double @", "a@b@example.org"},
		{"hyphen at label start", "*@-example.org"},
		{"empty label", "*@example..org"},
		{"non-ASCII domain", "*@exämple.org"},
		{"underscore in domain", "*@ex_ample.org"},
		{"empty pattern", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := CompileRecipients([]string{"ok@example.org", tt.pattern}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("CompileRecipients(%q) = %v, want ErrInvalid", tt.pattern, err)
			}
		})
	}
}

func TestRecipientsAllow(t *testing.T) {
	r := mustCompile(t, "*@Example.org", "Boss@corp.test")
	tests := []struct {
		name  string
		addr  string
		allow bool
	}{
		{"domain pattern", "anyone@example.org", true},
		{"domain pattern, case differs", "Anyone@EXAMPLE.ORG", true},
		{"exact address", "boss@corp.test", true},
		{"exact address, case differs", "BOSS@CORP.TEST", true},
		{"other address at an exact-only domain", "intern@corp.test", false},
		{"subdomain of an allowed domain", "a@mail.example.org", false},
		{"allowed domain as a subdomain of another", "a@example.org.evil.test", false},
		{"lookalike suffix", "a@badexample.org", false},
		{"trailing dot", "a@example.org.", false},
		{"display name", "Anyone <anyone@example.org>", false},
		{"two addresses", "a@example.org,b@evil.test", false},
		{"percent hack", "victim%evil.test@example.org", false},
		{"quoted local part hiding an @", `"x@evil.test"@example.org`, false},
		{"CRLF", "a@example.org\r\nRCPT TO:<b@evil.test>", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Allow(tt.addr); got != tt.allow {
				t.Fatalf("Allow(%q) = %v, want %v", tt.addr, got, tt.allow)
			}
		})
	}
}

func TestNilRecipientsAllowNothing(t *testing.T) {
	var r *Recipients
	if r.Allow("a@example.org") {
		t.Fatal("nil Recipients allowed an address")
	}
	empty := mustCompile(t)
	if empty.Allow("a@example.org") {
		t.Fatal("empty Recipients allowed an address")
	}
}
