//go:build wasip1

// Command twice is a test plugin: "fetch2" makes two HTTP requests one after
// the other and reports each outcome, so a test can revoke the grant while
// the first is in flight and watch the second be refused.
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import (
	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/sdk/tool"
)

type input struct {
	First  string `json:"first"`
	Second string `json:"second"`
}

type outcome struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	Error  string `json:"error"`
}

type output struct {
	First  outcome `json:"first"`
	Second outcome `json:"second"`
}

func fetch(url string) outcome {
	resp, err := tool.HTTPRequest(abi.HTTPRequest{Method: "GET", URL: url})
	if err != nil {
		if he, ok := err.(*tool.HostError); ok {
			return outcome{Error: string(he.Code)}
		}
		return outcome{Error: err.Error()}
	}
	return outcome{Status: resp.Status, Body: string(resp.Body)}
}

//go:wasmexport fetch2
func fetch2() int32 {
	return tool.Handle(func(in input) (output, error) {
		return output{First: fetch(in.First), Second: fetch(in.Second)}, nil
	})
}

func main() {}
