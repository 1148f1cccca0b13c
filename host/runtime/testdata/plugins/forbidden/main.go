//go:build wasip1

// Command forbidden is a test tool that calls host functions its grant may
// not allow.
//
// "fetch" calls Airlock's http_request and reports the host's error answer.
// "extism_http" calls Extism's own http_request, which the host never
// allows; it must fail without dialing anything.
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import (
	"errors"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/sdk/tool"
	"github.com/extism/go-pdk"
)

type input struct{}

type output struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

//go:wasmexport fetch
func fetch() int32 {
	return tool.Handle(func(input) (output, error) {
		resp, err := tool.HTTPRequest(abi.HTTPRequest{Method: "GET", URL: "http://127.0.0.1:9/"})
		var he *tool.HostError
		if errors.As(err, &he) {
			return output{Code: string(he.Code), Message: he.Message}, nil
		}
		if err != nil {
			return output{}, err
		}
		return output{Status: resp.Status}, nil
	})
}

//go:wasmexport extism_http
func extismHTTP() int32 {
	resp := pdk.NewHTTPRequest(pdk.MethodGet, "http://127.0.0.1:9/").Send()
	pdk.OutputJSON(output{Status: int(resp.Status())})
	return 0
}

func main() {}
