package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/host/identity"
)

func TestVerify(t *testing.T) {
	publisher, attacker := newKey(t), newKey(t)
	trustPublisher := func(did string) bool { return did == publisher.DID() }

	// resign builds a bundle whose manifest is edited by f and signed by key.
	resign := func(t *testing.T, b *Bundle, key *identity.Key, f func(m map[string]any)) *Bundle {
		var m map[string]any
		if err := json.Unmarshal(b.ManifestJSON, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		data := mustJSON(t, m)
		sig, err := key.Sign(identity.TypManifest, data)
		if err != nil {
			t.Fatal(err)
		}
		return &Bundle{ManifestJSON: data, Module: b.Module, Signature: sig}
	}

	cases := []struct {
		name    string
		bundle  func(t *testing.T) *Bundle
		noTrust bool // pass a nil trust function
		want    error
	}{
		{name: "genuine bundle from a trusted publisher", bundle: func(t *testing.T) *Bundle { return buildBundle(t, publisher) }},
		{name: "hash mismatch: module swapped after signing", bundle: func(t *testing.T) *Bundle {
			b := buildBundle(t, publisher)
			b.Module = []byte("\x00asm\x01\x00\x00\x00 evil module")
			return b
		}, want: ErrHash},
		{name: "unsigned bundle", bundle: func(t *testing.T) *Bundle {
			b := buildBundle(t, publisher)
			b.Signature = ""
			return b
		}, want: ErrSignature},
		{name: "garbage signature", bundle: func(t *testing.T) *Bundle {
			b := buildBundle(t, publisher)
			b.Signature = "not.a.jws"
			return b
		}, want: ErrSignature},
		{name: "signature over different bytes: re-serialised manifest", bundle: func(t *testing.T) *Bundle {
			b := buildBundle(t, publisher)
			var compact bytes.Buffer
			if err := json.Compact(&compact, b.ManifestJSON); err != nil {
				t.Fatal(err)
			}
			b.ManifestJSON = compact.Bytes()
			return b
		}, want: ErrSignature},
		{name: "description changed after signing (rug pull)", bundle: func(t *testing.T) *Bundle {
			b := buildBundle(t, publisher)
			edited := bytes.Replace(b.ManifestJSON, []byte("Fetch a URL"), []byte("Mail me a URL"), 1)
			if bytes.Equal(edited, b.ManifestJSON) {
				t.Fatal("test did not edit the manifest")
			}
			b.ManifestJSON = edited
			return b
		}, want: ErrSignature},
		{name: "signed by a key other than the publisher", bundle: func(t *testing.T) *Bundle {
			b := buildBundle(t, publisher)
			sig, err := attacker.Sign(identity.TypManifest, b.ManifestJSON)
			if err != nil {
				t.Fatal(err)
			}
			b.Signature = sig
			return b
		}, want: ErrSignature},
		{name: "publisher signature of another kind of token", bundle: func(t *testing.T) *Bundle {
			b := buildBundle(t, publisher)
			sig, err := publisher.Sign(identity.TypGrant, b.ManifestJSON)
			if err != nil {
				t.Fatal(err)
			}
			b.Signature = sig
			return b
		}, want: ErrSignature},
		{name: "signature of another manifest by the same publisher", bundle: func(t *testing.T) *Bundle {
			b := buildBundle(t, publisher)
			other := resign(t, b, publisher, func(m map[string]any) { m["version"] = "9.9.9" })
			b.Signature = other.Signature
			return b
		}, want: ErrSignature},
		{name: "attacker re-signs as publisher of its own manifest", bundle: func(t *testing.T) *Bundle {
			return resign(t, buildBundle(t, publisher), attacker, func(m map[string]any) { m["publisher"] = attacker.DID() })
		}, want: ErrUntrusted},
		{name: "attacker claims the trusted publisher but signs itself", bundle: func(t *testing.T) *Bundle {
			return resign(t, buildBundle(t, publisher), attacker, func(m map[string]any) { m["version"] = "1.2.1" })
		}, want: ErrSignature},
		{name: "untrusted publisher", bundle: func(t *testing.T) *Bundle { return buildBundle(t, attacker) }, want: ErrUntrusted},
		{name: "no trust function trusts no one", bundle: func(t *testing.T) *Bundle { return buildBundle(t, publisher) }, noTrust: true, want: ErrUntrusted},
		{name: "manifest field swapped for a forged parse", bundle: func(t *testing.T) *Bundle {
			b := buildBundle(t, publisher)
			b.Manifest = &Manifest{Name: "forged"}
			return b
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.bundle(t)
			trusted := trustPublisher
			if tc.noTrust {
				trusted = nil
			}
			err := b.Verify(trusted)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if b.Manifest == nil || b.Manifest.Name != "web" {
					t.Fatalf("Verify left Manifest = %+v, want the signed manifest", b.Manifest)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify error = %v, want %v", err, tc.want)
			}
			t.Logf("refused: %v", err)
		})
	}
}

func TestBuild(t *testing.T) {
	key := newKey(t)
	b := buildBundle(t, key)
	sum := sha256.Sum256(testModule)
	if b.Manifest.ModuleSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("module_sha256 = %s", b.Manifest.ModuleSHA256)
	}
	v, err := identity.Verify(b.Signature, identity.TypManifest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v.Payload, b.ManifestJSON) || v.Signer != key.DID() {
		t.Error("signature is not the publisher's over the manifest bytes")
	}

	cases := []struct {
		name     string
		template []byte
		module   []byte
		key      *identity.Key
		want     error
	}{
		{name: "empty module", template: mustJSON(t, templateMap()), key: key, want: ErrMalformed},
		{name: "no key", template: mustJSON(t, templateMap()), module: testModule, want: ErrSignature},
		{name: "template with unknown field", template: []byte(`{"name":"web","x":1}`), module: testModule, key: key, want: ErrMalformed},
		{name: "template publisher is overwritten by the signer", template: mustJSON(t, manifestMap(newKey(t).DID())), module: testModule, key: key},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Build(tc.template, tc.module, tc.key)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Build error = %v, want %v", err, tc.want)
			}
			if err == nil && b.Manifest.Publisher != tc.key.DID() {
				t.Fatalf("publisher = %s, want %s", b.Manifest.Publisher, tc.key.DID())
			}
		})
	}
}

func TestErrorsNameTheProblem(t *testing.T) {
	b := buildBundle(t, newKey(t))
	err := b.Verify(func(string) bool { return false })
	if err == nil || !strings.Contains(err.Error(), b.Manifest.Publisher) {
		t.Fatalf("untrusted error %v does not name the publisher", err)
	}
}
