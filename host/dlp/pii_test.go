package dlp

import (
	"bytes"
	"testing"
)

func TestPersonalData(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		want  Detector // "" for nothing
		match string   // the text found
	}{
		// payment cards
		{"Visa card number with spaces", "card 4111 1111 1111 1111 exp 12/29", Cards, "4111 1111 1111 1111"},
		{"Visa card number with dashes", "4111-1111-1111-1111", Cards, "4111-1111-1111-1111"},
		{"card number without separators", "pan=5555555555554444;", Cards, "5555555555554444"},
		{"American Express number", "amex 3782 822463 10005.", Cards, "3782 822463 10005"},
		{"card after an unrelated number", "order 12 4111 1111 1111 1111", Cards, "4111 1111 1111 1111"},
		{"card number failing Luhn kept", "card 4111 1111 1111 1112 exp", "", ""},
		{"Luhn-valid number without a card prefix kept", "ts 1000000000009 ms", "", ""},
		{"card-like run inside a longer number kept", "id 41111111111111110000000", "", ""},
		{"card digits glued to letters kept", "x4111111111111111", "", ""},
		// IBANs
		{"British IBAN grouped", "pay GB82 WEST 1234 5698 7654 32 today", IBAN, "GB82 WEST 1234 5698 7654 32"},
		{"German IBAN grouped", "IBAN: DE89 3704 0044 0532 0130 00", IBAN, "DE89 3704 0044 0532 0130 00"},
		{"German IBAN compact", "DE89370400440532013000", IBAN, "DE89370400440532013000"},
		{"IBAN followed by a currency", "DE89 3704 0044 0532 0130 00 EUR", IBAN, "DE89 3704 0044 0532 0130 00"},
		{"IBAN with wrong check digits kept", "GB83 WEST 1234 5698 7654 32", "", ""},
		{"IBAN with a changed digit kept", "DE89 3704 0044 0532 0130 01", "", ""},
		{"IBAN too long kept", "DE89370400440532013000123", "", ""},
		{"unknown country kept", "ZZ82 WEST 1234 5698 7654 32", "", ""},
		// national ids
		{"US social security number", "SSN 123-45-6789.", NationalID, "123-45-6789"},
		{"SSN with area 000 kept", "000-12-3456", "", ""},
		{"SSN with area 666 kept", "666-12-3456", "", ""},
		{"SSN with area 9xx kept", "912-12-3456", "", ""},
		{"SSN with group 00 kept", "123-00-4567", "", ""},
		{"SSN with serial 0000 kept", "123-45-0000", "", ""},
		{"advertised Woolworth SSN kept", "078-05-1120", "", ""},
		{"SSN with mixed separators kept", "123-45 6789", "", ""},
		// e-mail
		{"e-mail address", "write to alice.smith+tag@mail.example.org now", Email, "alice.smith+tag@mail.example.org"},
		{"at sign without a domain kept", "meet @ noon, user@localhost", "", ""},
		// phone numbers
		{"E.164 number", "call +14155552671 now", Phone, "+14155552671"},
		{"international number with spaces", "tel: +44 20 7946 0958", Phone, "+44 20 7946 0958"},
		{"US number with area code in parentheses", "(555) 123-4567", Phone, "(555) 123-4567"},
		{"US number with dashes", "555-123-4567", Phone, "555-123-4567"},
		{"French national number", "06 12 34 56 78", Phone, "06 12 34 56 78"},
		{"UK national number", "020 7946 0958", Phone, "020 7946 0958"},
		{"international number run into a year", "+44 20 7946 0958 2024 2025", Phone, "+44 20 7946 0958"},
		{"date and time kept", "2024-01-15 10:30:00", "", ""},
		{"IPv4 address kept", "10.100.200.123", "", ""},
		{"bare digit run kept", "order 0123456789", "", ""},
		{"short number kept", "ext 555-1234", "", ""},
		// nothing at all
		{"ordinary prose", "The quick brown fox jumps over the lazy dog in 2024.", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := Scan([]byte(tc.text))
			if tc.want == "" {
				if len(fs) != 0 {
					t.Fatalf("Scan(%q) = %+v, want nothing", tc.text, fs)
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("Scan(%q) = %+v, want one %s", tc.text, fs, tc.want)
			}
			if f := fs[0]; f.Detector != tc.want || tc.text[f.Start:f.End] != tc.match {
				t.Errorf("Scan(%q) = %s %q, want %s %q", tc.text, f.Detector, tc.text[f.Start:f.End], tc.want, tc.match)
			}
		})
	}
}

func TestDefaultModesRedactCardsAndIBANsFlagContacts(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      string
		wantFlags []string
	}{
		{"valid card masked", "card 4111 1111 1111 1111.", "card [REDACTED:cards].", []string{"dlp:cards:luhn-card"}},
		{"invalid card kept", "card 4111 1111 1111 1112.", "card 4111 1111 1111 1112.", nil},
		{"valid British IBAN masked", "to GB82 WEST 1234 5698 7654 32", "to [REDACTED:iban]", []string{"dlp:iban:iban"}},
		{"valid German IBAN masked", "to DE89 3704 0044 0532 0130 00", "to [REDACTED:iban]", []string{"dlp:iban:iban"}},
		{"IBAN with bad check digits kept", "to DE88 3704 0044 0532 0130 00", "to DE88 3704 0044 0532 0130 00", nil},
		{"e-mail flagged, not changed", "mail bob@example.com", "mail bob@example.com", []string{"dlp:email:email"}},
		{"phone flagged, not changed", "call +1 (555) 123-4567", "call +1 (555) 123-4567", []string{"dlp:phone:phone"}},
		{"SSN flagged, not changed", "ssn 123-45-6789", "ssn 123-45-6789", []string{"dlp:national_id:us-ssn"}},
		{"everything at once", "bob@example.com 4111111111111111 bob@example.com", "bob@example.com [REDACTED:cards] bob@example.com", []string{"dlp:cards:luhn-card", "dlp:email:email"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Apply([]byte(tc.in), DefaultModes())
			if res.Blocked {
				t.Fatalf("blocked by %s", res.BlockedBy)
			}
			if string(res.Output) != tc.want {
				t.Errorf("output = %q, want %q", res.Output, tc.want)
			}
			if !equalStrings(res.Flags, tc.wantFlags) {
				t.Errorf("flags = %v, want %v", res.Flags, tc.wantFlags)
			}
		})
	}
}

func TestLuhnAndMod97(t *testing.T) {
	for _, tc := range []struct {
		digits string
		want   bool
	}{
		{"4111111111111111", true},
		{"4111111111111112", false},
		{"79927398713", true},
		{"79927398710", false},
	} {
		if got := luhn([]byte(tc.digits)); got != tc.want {
			t.Errorf("luhn(%s) = %v, want %v", tc.digits, got, tc.want)
		}
	}
	for _, tc := range []struct {
		iban string
		want bool
	}{
		{"GB82WEST12345698765432", true},
		{"DE89370400440532013000", true},
		{"GB82WEST12345698765433", false},
		{"NO9386011117947", true},
	} {
		if got := mod97([]byte(tc.iban)); got != tc.want {
			t.Errorf("mod97(%s) = %v, want %v", tc.iban, got, tc.want)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFindingsNeverOverlap(t *testing.T) {
	// a card number that is also digit-grouped like a phone number, an
	// e-mail inside a secret-bearing URL: the stronger detector wins.
	in := []byte("4111 1111 1111 1111 https://hooks.slack.com/services/T024TTTTT/BBB72BBL/AZAAA9u0pA4ad666eMgbi555?a=x@example.com")
	fs := Scan(in)
	for i := 1; i < len(fs); i++ {
		if fs[i].Start < fs[i-1].End {
			t.Fatalf("findings overlap: %+v", fs)
		}
	}
	if len(fs) == 0 || fs[0].Detector != Cards || !bytes.HasPrefix(in[fs[0].Start:], []byte("4111")) {
		t.Fatalf("findings = %+v, want the card first", fs)
	}
}
