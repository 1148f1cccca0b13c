package policy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/airlock-dev/airlock/host/identity"
	"github.com/airlock-dev/airlock/host/policy"
	"github.com/airlock-dev/airlock/host/sqldb"
)

// An operator signs a policy for its realm; the host verifies it for the
// realm in the request path and stores it. Replaying it is refused.
func ExampleVerify() {
	operator, _ := identity.GenerateKey(identity.KeyEd25519)
	trust := func(realm, did string) bool { return realm == "default" && did == operator.DID() }

	token, err := policy.Sign(operator, policy.Document{
		Realm: "default", Version: 1,
		Approval: []string{"mail/send"},
		Deny:     []string{"shell/*"},
		DLP:      map[string]string{"email": "redact"},
		Anomaly:  policy.DefaultAnomaly(),
	})
	if err != nil {
		fmt.Println("sign:", err)
		return
	}
	p, err := policy.Verify(token, "default", trust)
	if err != nil {
		fmt.Println("verify:", err)
		return
	}
	fmt.Println("shell/exec denied:", p.Denied("shell/exec"))
	fmt.Println("mail/send needs approval:", p.NeedsApproval("mail/send"))
	fmt.Println("email:", p.DLPModes()["email"], "cards:", p.DLPModes()["cards"])

	dir, _ := os.MkdirTemp("", "policy-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, _ := sqldb.OpenSQLite(ctx, filepath.Join(dir, "airlock.db"))
	defer db.Close()
	store, _ := policy.OpenStore(ctx, db)
	fmt.Println("put:", store.Put(ctx, p))
	fmt.Println("replay refused:", errors.Is(store.Put(ctx, p), policy.ErrStale))
	// Output:
	// shell/exec denied: true
	// mail/send needs approval: true
	// email: redact cards: redact
	// put: <nil>
	// replay refused: true
}
