//go:build wasip1

// Command hdr is a test plugin: "request" makes one HTTP request with the
// method, URL, headers and body the agent chose, so that a test can try to
// smuggle its own credentials, or a vault value, past the host. The host's
// answer comes back as the output: the status and body, or the error code.
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import (
	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/sdk/tool"
)

type input struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

type output struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	Error  string `json:"error"`
}

//go:wasmexport request
func request() int32 {
	return tool.Handle(func(in input) (output, error) {
		method := in.Method
		if method == "" {
			method = "GET"
		}
		resp, err := tool.HTTPRequest(abi.HTTPRequest{Method: method, URL: in.URL, Headers: in.Headers, Body: []byte(in.Body)})
		if err != nil {
			if he, ok := err.(*tool.HostError); ok {
				return output{Error: string(he.Code)}, nil
			}
			return output{}, err
		}
		return output{Status: resp.Status, Body: string(resp.Body)}, nil
	})
}

func main() {}
