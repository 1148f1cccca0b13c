package grant_test

import (
	"fmt"
	"time"

	"github.com/airlock-dev/airlock/host/grant"
	"github.com/airlock-dev/airlock/host/identity"
)

// An operator issues a grant for an agent on one host; the host verifies it
// when the agent presents it and asks the compiled grant what it allows.
func ExampleIssue() {
	operator, _ := identity.GenerateKey(identity.KeyEd25519)
	agent, _ := identity.GenerateKey(identity.KeyEd25519)
	host, _ := identity.GenerateKey(identity.KeyEd25519)
	now := time.Now()

	token, err := grant.Issue(operator, grant.Claims{
		Sub:   agent.DID(),
		Aud:   host.DID(),
		Realm: "default",
		Exp:   now.Add(time.Hour).Unix(),
		Tools: []string{"echo/echo", "notes/*"},
		Caps:  grant.Caps{HTTP: &grant.HTTPCap{Hosts: []string{"api.github.com"}}},
	}, now)
	if err != nil {
		fmt.Println("issue:", err)
		return
	}

	v := &grant.Verifier{
		HostDID: host.DID(),
		Trust:   func(realm, did string) bool { return realm == "default" && did == operator.DID() },
	}
	g, err := v.Verify(token, agent.DID())
	if err != nil {
		fmt.Println("verify:", err)
		return
	}
	fmt.Println("echo/echo:", g.AllowTool("echo/echo"))
	fmt.Println("notes/read:", g.AllowTool("notes/read"))
	fmt.Println("mail/send:", g.AllowTool("mail/send"))

	// The same token presented by anyone else is refused.
	_, err = v.Verify(token, operator.DID())
	fmt.Println(err)
	// Output:
	// echo/echo: true
	// notes/read: true
	// mail/send: false
	// grant: invalid: grant was issued to another agent
}
