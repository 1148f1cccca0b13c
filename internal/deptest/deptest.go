// Package deptest holds the test that enforces Airlock's dependency
// direction (DESIGN §8): abi imports only the standard library; only
// host/runtime imports wazero or Extism's go-sdk; server never does; sdk and
// plugins never reach into the host runtime or the server.
package deptest
