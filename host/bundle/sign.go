package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/airlock-dev/airlock/host/identity"
)

// Build turns a plugin's source manifest (see [ParseTemplate]) and its
// compiled module into a signed bundle: it fills publisher (key's DID) and
// module_sha256 into the template, marshals the manifest as indented JSON
// (stable: the same inputs give the same bytes), signs those exact bytes as a
// compact JWS with typ airlock-manifest+jwt and returns the bundle.
func Build(template []byte, module []byte, key *identity.Key) (*Bundle, error) {
	if key == nil {
		return nil, errorf(ErrSignature, "no signing key")
	}
	if len(module) == 0 {
		return nil, errorf(ErrMalformed, "empty module")
	}
	m, err := ParseTemplate(template)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(module)
	m.Publisher = key.DID()
	m.ModuleSHA256 = hex.EncodeToString(sum[:])
	manifestJSON, err := marshalManifest(m)
	if err != nil {
		return nil, err
	}
	// Parse what will be signed, so that Build never signs a manifest that
	// Read would refuse.
	signed, err := ParseManifest(manifestJSON)
	if err != nil {
		return nil, err
	}
	sig, err := key.Sign(identity.TypManifest, manifestJSON)
	if err != nil {
		return nil, errorf(ErrSignature, "sign manifest: %v", err)
	}
	return &Bundle{ManifestJSON: manifestJSON, Manifest: signed, Module: module, Signature: sig}, nil
}

// marshalManifest renders m as indented JSON with a trailing newline, without
// HTML escaping (descriptions stay readable).
func marshalManifest(m *Manifest) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, errorf(ErrMalformed, "marshal manifest: %v", err)
	}
	return buf.Bytes(), nil
}

// Verify checks, in order, that the module's SHA-256 is the manifest's
// module_sha256 ([ErrHash]); that Signature is a valid airlock-manifest+jwt
// JWS (key from its kid DID only) whose payload is byte for byte ManifestJSON
// and whose signer is the manifest's publisher ([ErrSignature]); and that
// trusted(publisher) holds ([ErrUntrusted]; a nil trusted trusts no one).
//
// Verify re-parses ManifestJSON and, on success, sets b.Manifest to the
// result, so that what callers read is exactly what was signed.
func (b *Bundle) Verify(trusted func(publisherDID string) bool) error {
	m, err := ParseManifest(b.ManifestJSON)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b.Module)
	if hex.EncodeToString(sum[:]) != m.ModuleSHA256 {
		return errorf(ErrHash, "module sha256 %x, manifest says %s", sum, m.ModuleSHA256)
	}
	if b.Signature == "" {
		return errorf(ErrSignature, "unsigned bundle")
	}
	v, err := identity.Verify(b.Signature, identity.TypManifest)
	if err != nil {
		return errorf(ErrSignature, "%v", err)
	}
	if !bytes.Equal(v.Payload, b.ManifestJSON) {
		return errorf(ErrSignature, "signature is not over these manifest bytes")
	}
	if v.Signer != m.Publisher {
		return errorf(ErrSignature, "signed by %s, publisher is %s", v.Signer, m.Publisher)
	}
	if trusted == nil || !trusted(m.Publisher) {
		return errorf(ErrUntrusted, "publisher %s", m.Publisher)
	}
	b.Manifest = m
	return nil
}
