//go:build wasip1

// Command spin is a test tool that never returns: "spin" loops forever. The
// host must stop it at its deadline and keep serving.
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

var counter uint64

//go:wasmexport spin
func spin() int32 {
	for {
		counter++
	}
}

func main() {}
