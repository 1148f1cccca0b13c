package bundle

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/abi"
)

func TestCheckImports(t *testing.T) {
	pub := newKey(t).DID()
	m, err := ParseManifest(mustJSON(t, manifestMap(pub))) // tools declare http and secrets
	if err != nil {
		t.Fatal(err)
	}
	noCaps := *m
	noCaps.Tools = []Tool{{Name: "ping"}}

	wasi := Import{WASIModule, "fd_write"}
	alloc := Import{abi.ExtismKernelModule, "alloc"}
	cases := []struct {
		name    string
		m       *Manifest
		imports []Import
		want    error
	}{
		{name: "WASI and Extism kernel", m: &noCaps, imports: []Import{wasi, {WASIModule, "random_get"}, alloc, {abi.ExtismKernelModule, "input_load_u8"}}},
		{name: "log is always available", m: &noCaps, imports: []Import{{abi.HostModule, "log"}}},
		{name: "declared http_request", m: m, imports: []Import{{abi.HostModule, "http_request"}, {abi.HostModule, "secret_present"}}},
		{name: "no imports at all", m: &noCaps},
		{name: "undeclared import: http_request without an http capability", m: &noCaps, imports: []Import{wasi, {abi.HostModule, "http_request"}}, want: ErrImport},
		{name: "undeclared import: fs_read with only http declared", m: m, imports: []Import{{abi.HostModule, "fs_read"}}, want: ErrImport},
		{name: "undeclared import: mail_send exfiltration", m: m, imports: []Import{{abi.HostModule, "mail_send"}}, want: ErrImport},
		{name: "Extism's own http_request bypasses the egress guard", m: m, imports: []Import{{abi.ExtismKernelModule, "http_request"}}, want: ErrImport},
		{name: "Extism's own http_status_code", m: m, imports: []Import{{abi.ExtismKernelModule, "http_status_code"}}, want: ErrImport},
		{name: "Extism's own http_headers", m: m, imports: []Import{{abi.ExtismKernelModule, "http_headers"}}, want: ErrImport},
		{name: "unknown host function", m: m, imports: []Import{{abi.HostModule, "exec"}}, want: ErrImport},
		{name: "unknown import module", m: m, imports: []Import{{"env", "abort"}}, want: ErrImport},
		{name: "WASI preview 2 module", m: m, imports: []Import{{"wasi:filesystem/types", "open-at"}}, want: ErrImport},
		{name: "module name differing in case", m: m, imports: []Import{{"EXTISM:HOST/USER", "http_request"}}, want: ErrImport},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckImports(tc.m, tc.imports)
			if !errors.Is(err, tc.want) {
				t.Fatalf("CheckImports error = %v, want %v", err, tc.want)
			}
			if err != nil {
				t.Logf("refused: %v", err)
				last := tc.imports[len(tc.imports)-1]
				if !strings.Contains(err.Error(), last.Module+"."+last.Name) {
					t.Fatalf("error %q does not name the import %s", err, last)
				}
			}
		})
	}
}

func TestCheckExports(t *testing.T) {
	m, err := ParseManifest(mustJSON(t, manifestMap(newKey(t).DID())))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		exports []string
		want    error
	}{
		{name: "every tool exported", exports: []string{"_start", "fetch", "ping", "helper"}},
		{name: "manifest advertises a tool the module lacks", exports: []string{"fetch"}, want: ErrMalformed},
		{name: "no exports", want: ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckExports(m, tc.exports); !errors.Is(err, tc.want) {
				t.Fatalf("CheckExports error = %v, want %v", err, tc.want)
			}
		})
	}
}

func ExampleCheckImports() {
	m := &Manifest{Name: "notes", Tools: []Tool{{Name: "save", Capabilities: []abi.Capability{abi.CapFS}}}}
	fmt.Println(CheckImports(m, []Import{{abi.HostModule, "fs_write"}}))
	fmt.Println(CheckImports(m, []Import{{abi.HostModule, "http_request"}}))
	fmt.Println(CheckImports(m, []Import{{abi.ExtismKernelModule, "http_request"}}))
	// Output:
	// <nil>
	// bundle: import refused: extism:host/user.http_request: capability "http" is not declared by any tool
	// bundle: import refused: extism:host/env.http_request: Extism's own HTTP is never linked
}
