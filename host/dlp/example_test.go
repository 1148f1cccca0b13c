package dlp_test

import (
	"fmt"

	"github.com/airlock-dev/airlock/host/dlp"
)

func ExampleApply() {
	output := []byte(`{"customer":"bob@example.com","card":"4111 1111 1111 1111","total":42}`)
	res := dlp.Apply(output, dlp.DefaultModes())
	fmt.Println(string(res.Output))
	fmt.Println(res.Flags)

	leak := []byte(`{"body":"AKIALALEMEL33243OLIB"}`)
	res = dlp.Apply(leak, nil)
	fmt.Println(res.Blocked, res.BlockedBy)
	// Output:
	// {"customer":"bob@example.com","card":"[REDACTED:cards]","total":42}
	// [dlp:cards:luhn-card dlp:email:email]
	// true dlp:secrets:aws-access-token
}
