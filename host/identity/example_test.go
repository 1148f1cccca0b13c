package identity_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/airlock-dev/airlock/host/identity"
)

func ExampleSignRequest() {
	host, _ := identity.GenerateKey(identity.KeyEd25519)
	agent, _ := identity.GenerateKey(identity.KeyP256)
	body := []byte(`{"tool":"web/fetch","input":{"url":"https://example.org"}}`)
	now := time.Now()

	// The agent signs its request.
	proof, err := identity.SignRequest(agent, host.DID(), "POST", "/v1/intents", body, now)
	if err != nil {
		panic(err)
	}
	authorization := "Airlock " + proof

	// The host checks it against the request it received.
	v := &identity.RequestVerifier{HostDID: host.DID(), Replay: newMemReplay()}
	p, err := v.Verify(context.Background(), authorization, "POST", "/v1/intents", body)
	fmt.Println(err, p.Iss == agent.DID(), p.Htm, p.Htu)

	// A captured proof cannot be sent again.
	_, err = v.Verify(context.Background(), authorization, "POST", "/v1/intents", body)
	fmt.Println(errors.Is(err, identity.ErrReplay))
	// Output:
	// <nil> true POST /v1/intents
	// true
}

func ExampleVerifyReceipt() {
	host, _ := identity.GenerateKey(identity.KeyEd25519)
	body := []byte(`{"id":"i-1","output":{}}`)
	receipt, _ := identity.SignReceipt(host, identity.Receipt{
		Aud: "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
		Req: "AAECAwQFBgcICQoLDA0ODw", Status: 200, Bh: identity.BodyHash(body), Seq: 7,
	})
	r, err := identity.VerifyReceipt(receipt, host.DID(), "AAECAwQFBgcICQoLDA0ODw", 200, body)
	fmt.Println(err, r.Seq)
	_, err = identity.VerifyReceipt(receipt, host.DID(), "AAECAwQFBgcICQoLDA0ODw", 200, []byte(`{}`))
	fmt.Println(errors.Is(err, identity.ErrClaims))
	// Output:
	// <nil> 7
	// true
}

func ExampleDecodeDID() {
	pub, err := identity.DecodeDID("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp")
	fmt.Printf("%T %v\n", pub, err)
	did, _ := identity.EncodeDID(pub)
	fmt.Println(identity.KIDFor(did))
	// Output:
	// ed25519.PublicKey <nil>
	// did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp#z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp
}
