//go:build wasip1

// Command mail sends a plain-text message through the mail_send host
// function. Recipients must match the grant's caps.mail.to; the host submits
// to the operator's SMTP relay. The manifest marks the tool as needing human
// approval once the approval gate exists.
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import (
	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/sdk/tool"
)

type sendInput struct {
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Body    string   `json:"body"`
}

type sendOutput struct {
	Sent int `json:"sent"`
}

//go:wasmexport send
func send() int32 {
	return tool.Handle(func(in sendInput) (sendOutput, error) {
		if err := tool.MailSend(abi.MailSendRequest{To: in.To, Subject: in.Subject, Body: in.Body}); err != nil {
			return sendOutput{}, err
		}
		return sendOutput{Sent: len(in.To)}, nil
	})
}

func main() {}
