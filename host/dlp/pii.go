package dlp

import (
	"bytes"
	"regexp"
)

// Rule names of the personal-data detectors.
const (
	ruleCard  = "luhn-card"
	ruleIBAN  = "iban"
	ruleSSN   = "us-ssn"
	ruleEmail = "email"
	rulePhone = "phone"
)

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool {
	return isDigit(c) || isUpper(c) || ('a' <= c && c <= 'z') || c == '_'
}

// before and after are the bytes around [start, end), or 0 at the edges.
func before(data []byte, start int) byte {
	if start > 0 {
		return data[start-1]
	}
	return 0
}

func after(data []byte, end int) byte {
	if end < len(data) {
		return data[end]
	}
	return 0
}

// insideNumber reports whether [start, end) continues a longer number or
// word: a letter or digit right next to it, or a separator between it and
// another digit ("2024-01-15", "10.0.0.1").
func insideNumber(data []byte, start, end int) bool {
	if b := before(data, start); isAlnum(b) {
		return true
	} else if (b == '-' || b == '.' || b == '/') && isDigit(before(data, start-1)) {
		return true
	}
	if a := after(data, end); isAlnum(a) {
		return true
	} else if (a == '-' || a == '.' || a == '/') && isDigit(after(data, end+1)) {
		return true
	}
	return false
}

// digitRun matches digit groups joined by single spaces or dashes.
var digitRun = regexp.MustCompile(`[0-9]+(?:[ -][0-9]+)*`)

// findCards finds payment card numbers: a run of 13 to 19 digits, made of
// whole groups of a longer grouped run, with a card-network prefix and a
// valid Luhn checksum. From each group it takes the longest valid number.
func findCards(data []byte) []Finding {
	var out []Finding
	for _, m := range digitRun.FindAllIndex(data, -1) {
		if isAlnum(before(data, m[0])) || isAlnum(after(data, m[1])) {
			continue
		}
		groups := splitGroups(data, m[0], m[1])
		for s := 0; s < len(groups); {
			best := -1
			n := 0
			for e := s; e < len(groups) && n <= 19; e++ {
				n += groups[e][1] - groups[e][0]
				if n >= 13 && n <= 19 && isCard(digitsOf(data[groups[s][0]:groups[e][1]])) {
					best = e
				}
			}
			if best < 0 {
				s++
				continue
			}
			out = append(out, Finding{Detector: Cards, Rule: ruleCard, Start: groups[s][0], End: groups[best][1]})
			s = best + 1
		}
	}
	return out
}

// splitGroups returns the [start, end) of each digit group in data[start:end].
func splitGroups(data []byte, start, end int) [][2]int {
	var groups [][2]int
	for i := start; i < end; {
		j := i
		for j < end && isDigit(data[j]) {
			j++
		}
		groups = append(groups, [2]int{i, j})
		i = j + 1 // skip the separator
	}
	return groups
}

func digitsOf(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if isDigit(c) {
			out = append(out, c)
		}
	}
	return out
}

// isCard reports whether digits is a payment card number: an issuer prefix
// of a card network (Visa 4; Mastercard 51–55, 2221–2720; American Express
// 34, 37; Diners 30, 36, 38, 39; JCB 35; Discover, UnionPay and Maestro 5x
// and 6x) and a valid Luhn checksum.
func isCard(digits []byte) bool {
	if len(digits) < 13 || len(digits) > 19 {
		return false
	}
	switch digits[0] {
	case '3', '4', '5', '6':
	case '2':
		p := int(digits[1]-'0')*100 + int(digits[2]-'0')*10 + int(digits[3]-'0')
		if p < 221 || p > 720 {
			return false
		}
	default:
		return false
	}
	return luhn(digits)
}

// luhn reports whether the decimal digits pass the Luhn (mod 10) check.
func luhn(digits []byte) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// ibanLengths is the IBAN length of each country in the SWIFT IBAN registry.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
	"BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
	"DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
	"GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
	"IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
	"LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27,
	"MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
	"PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
	"SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23,
	"TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

var ibanStart = regexp.MustCompile(`[A-Z]{2}[0-9]{2}`)

// findIBANs finds IBANs: a known country code, two check digits, then
// upper-case letters and digits, optionally grouped by single spaces or
// dashes, up to the country's length, passing the ISO 13616 mod-97 check.
func findIBANs(data []byte) []Finding {
	var out []Finding
	for _, m := range ibanStart.FindAllIndex(data, -1) {
		start := m[0]
		if isAlnum(before(data, start)) {
			continue
		}
		want, ok := ibanLengths[string(data[start:start+2])]
		if !ok {
			continue
		}
		compact := make([]byte, 0, want)
		compact = append(compact, data[start:start+4]...)
		i := start + 4
		for len(compact) < want && i < len(data) {
			c := data[i]
			if (c == ' ' || c == '-') && i+1 < len(data) && isIBANChar(data[i+1]) {
				i++
				continue
			}
			if !isIBANChar(c) {
				break
			}
			compact = append(compact, c)
			i++
		}
		if len(compact) != want || isAlnum(after(data, i)) || !mod97(compact) {
			continue
		}
		out = append(out, Finding{Detector: IBAN, Rule: ruleIBAN, Start: start, End: i})
	}
	return out
}

func isIBANChar(c byte) bool { return isDigit(c) || isUpper(c) }

// mod97 reports whether an IBAN (upper case, no separators) has valid check
// digits: moved to the end, letters as 10–35, the number mod 97 is 1.
func mod97(iban []byte) bool {
	r := 0
	add := func(c byte) {
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A'+10)) % 97
		}
	}
	for _, c := range iban[4:] {
		add(c)
	}
	for _, c := range iban[:4] {
		add(c)
	}
	return r == 1
}

var (
	ssnPattern = regexp.MustCompile(`[0-9]{3}[ -][0-9]{2}[ -][0-9]{4}`)
	ssnShape   = regexp.MustCompile(`^[0-9]{3}[ -][0-9]{2}[ -][0-9]{4}$`)
)

// findSSNs finds US social security numbers written ddd-dd-dddd (or with
// spaces), skipping numbers never issued: area 000, 666 or 900–999, group
// 00, serial 0000, and the two numbers made public in advertising
// (078-05-1120, 219-09-9999).
func findSSNs(data []byte) []Finding {
	var out []Finding
	for _, m := range ssnPattern.FindAllIndex(data, -1) {
		s := data[m[0]:m[1]]
		if s[3] != s[6] || insideNumber(data, m[0], m[1]) {
			continue
		}
		area, group, serial := string(s[0:3]), string(s[4:6]), string(s[7:11])
		if area == "000" || area == "666" || area[0] == '9' || group == "00" || serial == "0000" {
			continue
		}
		if d := area + group + serial; d == "078051120" || d == "219099999" {
			continue
		}
		out = append(out, Finding{Detector: NationalID, Rule: ruleSSN, Start: m[0], End: m[1]})
	}
	return out
}

var emailPattern = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}\b`)

// findEmails finds e-mail addresses.
func findEmails(data []byte) []Finding {
	var out []Finding
	for _, m := range emailPattern.FindAllIndex(data, -1) {
		out = append(out, Finding{Detector: Email, Rule: ruleEmail, Start: m[0], End: m[1]})
	}
	return out
}

// phonePattern matches, in order: international numbers (+CC then digit
// groups, an area code possibly in parentheses), a parenthesised area code
// then groups, the North American 3-3-4 form, and national numbers with a
// trunk 0 (020 7946 0958, 06 12 34 56 78).
var phonePattern = regexp.MustCompile(`\+[1-9][0-9]{0,3}(?:[ .\-]?\(?[0-9]{1,5}\)?){1,6}` +
	`|\([0-9]{2,5}\)[ .\-]?[0-9]{2,4}(?:[ .\-]?[0-9]{2,4}){1,3}` +
	`|[0-9]{3}[ .\-][0-9]{3}[ .\-][0-9]{4}` +
	`|0[0-9]{1,4}(?:[ .\-]?[0-9]{2,4}){2,4}`)

// findPhones finds phone numbers of 9 to 15 digits. A number must not
// continue a longer number or word, and a national number must be grouped:
// a bare digit run is more often an id than a phone number.
func findPhones(data []byte) []Finding {
	var out []Finding
	for _, m := range phonePattern.FindAllIndex(data, -1) {
		start, end := m[0], m[1]
		s := data[start:end]
		n := len(digitsOf(s))
		for n > 15 { // a greedy match that took the next number along: drop trailing groups
			cut := bytes.LastIndexAny(s, " .-(")
			if cut <= 0 {
				break
			}
			s = bytes.TrimRight(s[:cut], " .-()")
			end = start + len(s)
			n = len(digitsOf(s))
		}
		if n < 9 || n > 15 || insideNumber(data, start, end) {
			continue
		}
		if s[0] == '0' && !hasSeparator(s) {
			continue
		}
		if ssnShape.Match(s) {
			continue // the national_id detector's to judge
		}
		out = append(out, Finding{Detector: Phone, Rule: rulePhone, Start: start, End: end})
	}
	return out
}

func hasSeparator(s []byte) bool {
	for _, c := range s {
		if c == ' ' || c == '-' || c == '.' {
			return true
		}
	}
	return false
}
