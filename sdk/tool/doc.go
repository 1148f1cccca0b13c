// Package tool is the Go SDK for Airlock tool authors. It wraps
// github.com/extism/go-pdk with typed helpers: [Handle] turns a Go function
// into a tool export that reads its JSON input strictly and writes its JSON
// output, and one function per Airlock host function (see package abi) sends
// a typed request and decodes the typed answer.
//
// A tool is a package main built with standard Go:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o tool.wasm .
//
//	var _ = tool.Warm[input, output]() // optional, see Warm
//
//	//go:wasmexport echo
//	func echo() int32 { return tool.Handle(run) }
//
// Airlock runs every call from a snapshot taken after the module's
// initialisation, so a cache a call fills is gone by the next call. [Warm]
// builds encoding/json's codecs for a tool's input and output types while
// the module initialises, which is in the snapshot: for a small JSON tool
// it cuts a call from about 350 µs to 80 µs.
//
// Every file but this one is built for wasip1 only.
//
// # Security
//
// Each host function is a separate //go:wasmimport, so Go's linker keeps in
// the module only the imports that the tool really calls. A module therefore
// declares exactly the host functions it uses, and the host refuses at
// install a module that imports a function its manifest does not declare.
// A host function that the caller's grant does not allow answers an error
// with code "forbidden", returned here as a [*HostError].
//
// Handle refuses input with unknown fields or trailing data, so a tool sees
// only the shape its input schema promises.
package tool
