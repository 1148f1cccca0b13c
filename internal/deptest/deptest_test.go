package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/airlock-dev/airlock"

// imports lists each package's direct imports (non-test) for the given target.
func imports(t *testing.T, env []string, patterns ...string) map[string][]string {
	t.Helper()
	args := append([]string{"list", "-f", `{{.ImportPath}} {{join .Imports " "}}`}, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			m[f[0]] = f[1:]
		}
	}
	return m
}

func isStd(p string) bool { return !strings.Contains(strings.SplitN(p, "/", 2)[0], ".") }

func isRuntimeDep(p string) bool {
	return strings.HasPrefix(p, "github.com/tetratelabs/wazero") || strings.HasPrefix(p, "github.com/extism/go-sdk")
}

func TestDependencyDirection(t *testing.T) {
	host := imports(t, nil, "./...")
	wasm := imports(t, []string{"GOOS=wasip1", "GOARCH=wasm"}, "./abi/...", "./sdk/tool/...", "./plugins/...")
	all := map[string][]string{}
	for k, v := range host {
		all[k] = v
	}
	for k, v := range wasm {
		all[k] = append(all[k], v...)
	}
	if len(all) < 10 {
		t.Fatalf("go list found only %d packages", len(all))
	}
	rules := []struct {
		name   string
		applys func(pkg string) bool
		bad    func(imp string) bool
	}{
		{"abi imports only the standard library",
			func(p string) bool { return p == mod+"/abi" },
			func(i string) bool { return !isStd(i) }},
		{"only host/runtime imports wazero or extism go-sdk",
			func(p string) bool { return p != mod+"/host/runtime" },
			isRuntimeDep},
		{"server never imports host/runtime",
			func(p string) bool { return strings.HasPrefix(p, mod+"/server") },
			func(i string) bool { return i == mod+"/host/runtime" }},
		{"host never imports server, sdk, plugins or cmd",
			func(p string) bool { return strings.HasPrefix(p, mod+"/host/") },
			func(i string) bool {
				return strings.HasPrefix(i, mod+"/server") || strings.HasPrefix(i, mod+"/sdk") ||
					strings.HasPrefix(i, mod+"/plugins") || strings.HasPrefix(i, mod+"/cmd")
			}},
		{"sdk imports abi and host/identity only (never the runtime, server or other host parts)",
			func(p string) bool { return strings.HasPrefix(p, mod+"/sdk/") },
			func(i string) bool {
				return strings.HasPrefix(i, mod+"/") && i != mod+"/abi" && i != mod+"/host/identity" &&
					!strings.HasPrefix(i, mod+"/sdk/")
			}},
		{"plugins import only abi and sdk/tool of this module",
			func(p string) bool { return strings.HasPrefix(p, mod+"/plugins/") },
			func(i string) bool {
				return strings.HasPrefix(i, mod+"/") && i != mod+"/abi" && i != mod+"/sdk/tool"
			}},
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			for pkg, imps := range all {
				if !strings.HasPrefix(pkg, mod) || !r.applys(pkg) {
					continue
				}
				for _, i := range imps {
					if r.bad(i) {
						t.Errorf("%s imports %s", pkg, i)
					}
				}
			}
		})
	}
}
