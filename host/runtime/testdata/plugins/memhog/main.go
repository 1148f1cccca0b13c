//go:build wasip1

// Command memhog is a test tool that allocates until it dies: "memhog" keeps
// every 1 MiB block it allocates (and touches it), so the heap can only
// grow. The host must end it at its memory limit and keep serving.
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

var hoard [][]byte

//go:wasmexport memhog
func memhog() int32 {
	for {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		hoard = append(hoard, b)
	}
}

func main() {}
