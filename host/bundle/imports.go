package bundle

import (
	"github.com/airlock-dev/airlock/abi"
)

// Import is a function import of a module: (module name, field name).
type Import struct {
	Module, Name string
}

// String returns "module.name".
func (i Import) String() string { return i.Module + "." + i.Name }

// WASIModule is the WASI preview 1 import module.
const WASIModule = "wasi_snapshot_preview1"

// refusedKernelImports are Extism kernel functions a module may not import:
// Extism's own HTTP client bypasses Airlock's egress guard, so it is never
// linked.
var refusedKernelImports = map[string]bool{
	"http_request":     true,
	"http_status_code": true,
	"http_headers":     true,
}

// CheckImports enforces the import policy of DESIGN §2 and §3:
//   - wasi_snapshot_preview1.* is allowed (the runtime grants no directories,
//     arguments or environment);
//   - extism:host/env.* is allowed except http_request, http_status_code and
//     http_headers;
//   - extism:host/user.NAME must be a known [abi.Function] and, unless it is
//     always available (log), its capability must be declared by at least
//     one tool of m;
//   - any other module is refused.
//
// The first import that breaks the policy is reported, wrapped in [ErrImport].
func CheckImports(m *Manifest, imports []Import) error {
	declared := map[abi.Capability]bool{}
	for _, t := range m.Tools {
		for _, c := range t.Capabilities {
			declared[c] = true
		}
	}
	for _, imp := range imports {
		switch imp.Module {
		case WASIModule:
		case abi.ExtismKernelModule:
			if refusedKernelImports[imp.Name] {
				return errorf(ErrImport, "%s: Extism's own HTTP is never linked", imp)
			}
		case abi.HostModule:
			f := abi.Function(imp.Name)
			if !f.Known() {
				return errorf(ErrImport, "%s: unknown host function", imp)
			}
			if c := f.Capability(); c != abi.CapNone && !declared[c] {
				return errorf(ErrImport, "%s: capability %q is not declared by any tool", imp, c)
			}
		default:
			return errorf(ErrImport, "%s: unknown import module", imp)
		}
	}
	return nil
}

// CheckExports checks that every tool of m is an exported function of the
// module ([ErrMalformed] otherwise).
func CheckExports(m *Manifest, exports []string) error {
	have := make(map[string]bool, len(exports))
	for _, e := range exports {
		have[e] = true
	}
	for _, t := range m.Tools {
		if !have[t.Name] {
			return errorf(ErrMalformed, "tool %q is not exported by the module", t.Name)
		}
	}
	return nil
}
