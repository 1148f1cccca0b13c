package wasmbuild

import (
	"bytes"
	"testing"
)

func TestBuildOncePerProcess(t *testing.T) {
	first := Build(t, "plugins/echo")
	if !bytes.HasPrefix(first, []byte("\x00asm\x01\x00\x00\x00")) {
		t.Fatalf("not a Wasm module: % x", first[:min(8, len(first))])
	}
	second := Build(t, "./plugins/echo/")
	if &first[0] != &second[0] {
		t.Fatal("the same package was built twice")
	}
}

func TestBuildRefusesPathsOutsideTheRepository(t *testing.T) {
	for _, p := range []string{"..", "../other/plugin", "/etc", "plugins/../../x"} {
		t.Run(p, func(t *testing.T) {
			if _, err := build(cleanPath(p)); err == nil {
				t.Fatalf("built %q", p)
			}
		})
	}
}
