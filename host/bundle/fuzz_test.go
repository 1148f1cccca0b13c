package bundle

import (
	"bytes"
	"testing"

	"github.com/airlock-dev/airlock/abi"
)

func FuzzParseManifest(f *testing.F) {
	pub := newKey(f).DID()
	f.Add(mustJSON(f, manifestMap(pub)))
	f.Add(mustJSON(f, templateMap()))
	f.Add([]byte(`{"name":"web","name":"x"}`))
	f.Add([]byte(`{"tools":[{"input_schema":{"$ref":"https://x/"}}]}`))
	f.Add([]byte(`[[[[[[[[[[]]]]]]]]]]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, parse := range []func([]byte) (*Manifest, error){ParseManifest, ParseTemplate} {
			m, err := parse(data)
			if err != nil {
				if m != nil {
					t.Fatal("manifest returned with an error")
				}
				continue
			}
			if !bundleNameRE.MatchString(m.Name) || m.ABI != abi.Version || len(m.Tools) == 0 {
				t.Fatalf("accepted an invalid manifest: %+v", m)
			}
			ids := map[string]bool{}
			for _, tl := range m.Tools {
				if ids[tl.Name] || !toolNameRE.MatchString(tl.Name) {
					t.Fatalf("accepted tool name %q", tl.Name)
				}
				ids[tl.Name] = true
				for _, c := range tl.Capabilities {
					if !c.Valid() {
						t.Fatalf("accepted capability %q", c)
					}
				}
			}
		}
	})
}

func FuzzRead(f *testing.F) {
	b := buildBundle(f, newKey(f))
	f.Add(bundleTar(f, b))
	f.Add(makeTar(f, reg(EntryManifest, b.ManifestJSON), reg(EntryModule, b.Module)))
	f.Add(makeTar(f, reg("../manifest.json", b.ManifestJSON), reg(EntryModule, b.Module), reg(EntrySignature, nil)))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 1 << 20
		got, err := Read(bytes.NewReader(data), max)
		if err != nil {
			if got != nil {
				t.Fatal("bundle returned with an error")
			}
			return
		}
		if got.Manifest == nil || len(got.Module) == 0 ||
			len(got.ManifestJSON)+len(got.Module)+len(got.Signature) > max {
			t.Fatalf("accepted an invalid bundle: %+v", got)
		}
		// What Read accepts, Write reproduces and Read accepts again.
		var buf bytes.Buffer
		if err := got.Write(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := Read(&buf, max)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !bytes.Equal(again.ManifestJSON, got.ManifestJSON) || !bytes.Equal(again.Module, got.Module) || again.Signature != got.Signature {
			t.Fatal("round trip changed the bundle")
		}
	})
}
