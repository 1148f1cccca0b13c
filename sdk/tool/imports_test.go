package tool

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/abi"
)

// directive matches a //go:wasmimport line, attached to a function or not.
var directive = regexp.MustCompile(`(?m)^\s*//go:wasmimport\b`)

// wasmImport is one //go:wasmimport directive found in this package's source.
type wasmImport struct {
	module, name string
	fn           *ast.FuncDecl
	pos          token.Position
}

// sdkImports parses every Go file of the package (build tags ignored: the
// SDK builds for wasip1 only) and returns its //go:wasmimport directives.
func sdkImports(t *testing.T) []wasmImport {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var out []wasmImport
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Doc == nil {
				continue
			}
			for _, c := range fn.Doc.List {
				fields := strings.Fields(c.Text)
				if len(fields) == 0 || fields[0] != "//go:wasmimport" {
					continue
				}
				if len(fields) != 3 {
					t.Fatalf("%s: malformed directive %q", fset.Position(c.Pos()), c.Text)
				}
				out = append(out, wasmImport{module: fields[1], name: fields[2], fn: fn, pos: fset.Position(c.Pos())})
			}
		}
		// A directive detached from a declaration would be ignored by the
		// compiler: count every occurrence in the text too.
		if n := len(directive.FindAll(src, -1)); n != countIn(out, name) {
			t.Fatalf("%s: %d //go:wasmimport directives, %d attached to a function", name, n, countIn(out, name))
		}
	}
	return out
}

func countIn(imps []wasmImport, file string) int {
	n := 0
	for _, imp := range imps {
		if imp.pos.Filename == file {
			n++
		}
	}
	return n
}

// TestWasmImportsMatchABI checks that the SDK imports every Airlock host
// function under its abi name, with the (i64) -> i64 signature, once, and
// nothing else from abi.HostModule: a typo would make a tool import a
// function the host does not define (or that its manifest does not declare).
func TestWasmImportsMatchABI(t *testing.T) {
	seen := map[abi.Function]int{}
	for _, imp := range sdkImports(t) {
		if imp.module != abi.HostModule {
			t.Errorf("%s: import from %q, want %q", imp.pos, imp.module, abi.HostModule)
			continue
		}
		fn := abi.Function(imp.name)
		if !fn.Known() {
			t.Errorf("%s: %q is not an abi.Function", imp.pos, imp.name)
		}
		seen[fn]++
		if !isU64ToU64(imp.fn) {
			t.Errorf("%s: %s must be declared func(uint64) uint64 without a body", imp.pos, imp.fn.Name.Name)
		}
	}
	for _, fn := range abi.Functions {
		if seen[fn] != 1 {
			t.Errorf("abi function %s imported %d times by the SDK, want 1", fn, seen[fn])
		}
	}
}

func isU64ToU64(fn *ast.FuncDecl) bool {
	if fn.Body != nil || fn.Recv != nil {
		return false
	}
	ft := fn.Type
	if ft.TypeParams != nil || ft.Params == nil || ft.Results == nil ||
		len(ft.Params.List) != 1 || len(ft.Results.List) != 1 ||
		len(ft.Params.List[0].Names) > 1 || len(ft.Results.List[0].Names) > 1 {
		return false
	}
	isU64 := func(e ast.Expr) bool {
		id, ok := e.(*ast.Ident)
		return ok && id.Name == "uint64"
	}
	return isU64(ft.Params.List[0].Type) && isU64(ft.Results.List[0].Type)
}
