//go:build wasip1

package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import (
	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/sdk/tool"
)

// runTool is the tool "run": Starlark with no host function.
//
//go:wasmexport run
func runTool() int32 {
	return tool.Handle(func(in runInput) (runOutput, error) { return execute(in, nil) })
}

// runHTTPTool is the tool "run_http": Starlark with http_get.
//
//go:wasmexport run_http
func runHTTPTool() int32 {
	return tool.Handle(func(in runInput) (runOutput, error) { return execute(in, hostGet) })
}

// hostGet sends a GET through the host's http_request function (capability
// "http"); the host applies the grant's allowlist and its egress guard.
func hostGet(url string) (int, []byte, error) {
	resp, err := tool.HTTPRequest(abi.HTTPRequest{Method: "GET", URL: url})
	if err != nil {
		return 0, nil, err
	}
	return resp.Status, resp.Body, nil
}
