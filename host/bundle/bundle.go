// Package bundle reads, writes, signs and checks Airlock plugin bundles
// (DESIGN §2 "Plugin bundle", §9 "Bundles").
//
// A bundle is one tar file, NAME-VERSION.airlock, holding exactly three
// regular files at the archive root: manifest.json, module.wasm and
// manifest.jws. The manifest declares the tools the module exports, their
// JSON Schemas, the capabilities each tool needs, the secrets it may have
// injected into outbound requests and its resource limits. manifest.jws is the
// publisher's compact JWS (typ airlock-manifest+jwt) whose payload is exactly
// the bytes of manifest.json.
//
// The package follows Parse → Compile → Allow:
//
//   - [Read] decodes a tar strictly and [ParseManifest] decodes a manifest
//     strictly; neither trusts anything yet.
//   - [Bundle.Verify] checks the module hash, the publisher's signature over
//     the exact manifest bytes, that the signer is the declared publisher, and
//     that the publisher is trusted.
//   - [CheckImports] and [CheckExports] hold the module to its manifest.
//   - [Compile] compiles every tool's schemas once; [CompiledTool.ValidateInput]
//     and [CompiledTool.ValidateOutput] are asked at call time.
//
// # Security
//
// Every byte of a bundle is attacker-controlled until Verify returns nil, and
// the manifest is publisher-controlled after that. Parsing is therefore
// strict and bounded: unknown or duplicate JSON keys, keys differing only in
// case, trailing data, deep nesting, tar entries other than the three regular
// files (directories, links, devices, sparse files, duplicates, names with
// path components), non-zero bytes after the end of the archive and anything
// over the caller's size cap are refused. A manifest is never trusted for what
// it claims: the signature covers its exact bytes, a re-serialised manifest
// does not verify, and the signer's key is taken from the signature's own kid
// and must be the manifest's publisher.
//
// A module may import only WASI, the Extism kernel without Extism's own HTTP
// functions (Airlock's egress client is the only way out), and the Airlock host
// functions whose capability one of its tools declares; everything else is
// refused at install ([ErrImport]).
//
// JSON Schemas never cause I/O: remote and file references are refused when a
// schema is compiled, only the standard meta-schemas embedded in the
// jsonschema library resolve. Output validation errors name the failing
// location and keyword but never echo the value, so tool output (which may
// hold secrets) does not leak through an error message.
package bundle

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps one of these
// (prefixed "bundle: "), so callers map them with errors.Is.
var (
	// ErrMalformed: the bundle or manifest is not well formed (bad tar, bad
	// JSON, unknown field, invalid name, missing export, …).
	ErrMalformed = errors.New("malformed")
	// ErrHash: the module's SHA-256 differs from the manifest's module_sha256.
	ErrHash = errors.New("module hash mismatch")
	// ErrSignature: the publisher signature is missing, invalid, not over the
	// exact manifest bytes, or not by the manifest's publisher.
	ErrSignature = errors.New("bad signature")
	// ErrUntrusted: the publisher is not trusted.
	ErrUntrusted = errors.New("untrusted publisher")
	// ErrImport: the module imports a function it may not use.
	ErrImport = errors.New("import refused")
	// ErrSchema: a schema does not compile, or a value does not validate. A
	// schema that does not compile in a manifest also matches ErrMalformed.
	ErrSchema = errors.New("schema violation")
	// ErrTooLarge: the bundle, or one of its parts, is over its size cap.
	ErrTooLarge = errors.New("too large")
)

// errorf wraps sentinel with the package prefix and a message.
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("bundle: %w: %s", sentinel, fmt.Sprintf(format, args...))
}
