package mail_test

import (
	"fmt"

	"github.com/airlock-dev/airlock/host/mail"
)

func ExampleCompileRecipients() {
	// A grant's caps.mail.to.
	allow, err := mail.CompileRecipients([]string{"*@example.org", "boss@corp.test"})
	if err != nil {
		panic(err)
	}
	for _, to := range []string{
		"team@example.org",
		"Boss@Corp.Test",
		"a@sub.example.org",
		"victim%evil.test@example.org",
		"Team <team@example.org>",
	} {
		fmt.Println(to, allow.Allow(to))
	}
	_, err = mail.CompileRecipients([]string{"*@*.example.org"})
	fmt.Println(err)
	// Output:
	// team@example.org true
	// Boss@Corp.Test true
	// a@sub.example.org false
	// victim%evil.test@example.org false
	// Team <team@example.org> false
	// mail: recipient pattern "*@*.example.org": invalid: domain holds a character other than letters, digits, hyphens and dots
}
