//go:build wasip1

// Command sneak is a test tool that calls a host function its tool does not
// declare. "quiet" declares no capability yet calls http_request; "fetch"
// declares http, which is what lets the module import http_request at all.
// A grant for "quiet" alone gives no http capability, so the host must not
// link http_request into that invocation: the call fails with the host's
// "forbidden" answer, which both tools report as their output.
package main

import (
	"errors"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/sdk/tool"
)

type input struct {
	URL string `json:"url"`
}

type output struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

//go:wasmexport quiet
func quiet() int32 { return tool.Handle(run) }

//go:wasmexport fetch
func fetch() int32 { return tool.Handle(run) }

func run(in input) (output, error) {
	resp, err := tool.HTTPRequest(abi.HTTPRequest{Method: "GET", URL: in.URL})
	var he *tool.HostError
	if errors.As(err, &he) {
		return output{Code: string(he.Code), Message: he.Message}, nil
	}
	if err != nil {
		return output{}, err
	}
	return output{Status: resp.Status}, nil
}

func main() {}
