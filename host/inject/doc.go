// Package inject finds prompt-injection markers in untrusted text — tool
// outputs, fetched pages, memory results — and datamarks such text so an
// agent can keep it apart from instructions (issue 6 item 4).
//
// [Scan] reports four kinds of [Flag]:
//
//   - "override": instruction-override phrases ("ignore all previous
//     instructions", "disregard the system prompt", "you are now …", "new
//     instructions:", …), in any letter case, across runs of white space,
//     HTML tags and entities, markdown emphasis and escaped newlines, and
//     after invisible characters are removed and compatibility characters
//     (full-width letters, ligatures) folded (NFKC);
//   - "invisible": runs of invisible Unicode: tag characters U+E0000–U+E007F
//     (ASCII smuggling), zero-width U+200B–U+200D, word joiner U+2060,
//     invisible operators U+2061–U+2064, U+FEFF (except a byte-order mark at
//     the very start), bidi embeddings and overrides U+202A–U+202E and
//     isolates U+2066–U+2069;
//   - "roleplay": chat-template and role headers: "### system", "System:" at
//     a line start, "<system>", "<|im_start|>", "<|system|>", "[INST]",
//     "<<SYS>>", "<start_of_turn>", "Human:"/"Assistant:" turn markers …;
//   - "encoded": a base64 run of at least 40 characters whose decoding
//     (once or twice) carries an override phrase or role header.
//
// When the text is valid JSON, string values written with escapes (\u200b,
// \n, \u0069gnore …) are also decoded and scanned; a marker found only there
// is flagged over the whole string literal.
//
// [Spotlight] wraps untrusted text in markers that carry a per-call random
// token and replaces its white space with '^' (Microsoft's "datamarking"
// spotlighting), so that the text cannot pass itself off as instructions
// or close its own data block. [SpotlightNotice] tells an agent how to read
// it.
//
// # Security
//
// Detectors are signals, not enforcement: a flag goes into the response and
// the audit log, and the policy ("injection": off, flag, spotlight, block)
// decides what happens; grants and policy still bound what any tool call
// can do. Phrase lists catch the common attacks, not every paraphrase;
// look-alike letters from other scripts are not folded. Matching is linear
// in the input (Go's regexp is RE2). Flags hold offsets and a kind only,
// never the matched text.
package inject
