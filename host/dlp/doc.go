// Package dlp finds credentials and personal data in bytes that leave a tool
// (DESIGN §9 "Default policy" and "Policy document", issue 6 item 3) and acts
// on them per detector: flag, redact in place, or block.
//
// [Scan] reports [Finding]s of six detectors:
//
//   - "secrets": well-known credential formats, with the patterns of
//     gitleaks' default rule set (config/gitleaks.toml, gitleaks v8) copied
//     verbatim into this package, each named by its gitleaks rule id, with
//     the rule's entropy floor, keywords and allowlist (a match that stops
//     inside a token is extended to the token's end): AWS access keys,
//     GitHub tokens, Slack tokens and webhooks, Stripe, OpenAI and Anthropic
//     keys, Google API keys, private-key PEM blocks and JWTs. Markdown
//     images and links whose URL carries data ([FindExfiltration]) count as
//     secrets too (rule "markdown-exfil"); [URLCarriesSecret] judges the
//     URL of an outgoing request, decoding each of its parts. Vault values in
//     any encoding are the vault package's job (vault.Scanner), not this one's.
//   - "cards": 13–19 digits, optionally grouped by single spaces or dashes,
//     with a card-network prefix and a valid Luhn checksum.
//   - "iban": a country code, two check digits and the country's IBAN length
//     in upper-case letters and digits (optionally grouped), mod-97 valid.
//   - "national_id": US social security numbers (ddd-dd-dddd or with
//     spaces), excluding the ranges never issued (000, 666, 9xx areas, 00
//     groups, 0000 serials).
//   - "email": e-mail addresses.
//   - "phone": international (+CC …) and common national formats
//     ((555) 123-4567, 555-123-4567, 020 7946 0958) with 9 to 15 digits.
//     Bare digit runs are not phone numbers here: they are too often ids.
//
// Findings never overlap: where two would, the detector listed first above
// wins, then the one that starts first, then the longer one.
//
// [Apply] acts on a tool output per [Mode]. Valid JSON is rewritten in
// place: only the string values that carry a redacted finding change (each
// re-encoded as a JSON string), so keys, nesting, numbers, key order and
// whitespace survive byte for byte, and the result is valid JSON. Anything
// else is treated as raw bytes. A redacted match becomes
// "[REDACTED:<detector>]".
//
// # Security
//
// Detectors are pattern matchers: they catch the formats listed above, not
// every secret. They never log, store or return a matched value: a
// [Finding] holds offsets and a rule name only, and flags name the detector
// and rule.
//
// [Apply] fails closed: a detector missing from the modes gets its default
// mode ([DefaultModes]), an unknown mode blocks, and a finding that would be
// redacted inside a JSON object key blocks the output instead, since keys
// are never rewritten. JSON numbers are left as they are and not scanned.
// The scan is linear in the input (Go's regexp is RE2): attacker-chosen
// output cannot make it backtrack.
package dlp
