package memory_test

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/airlock-dev/airlock/abi"
	"github.com/airlock-dev/airlock/host/embed"
	"github.com/airlock-dev/airlock/host/memory"
)

func ExampleStore() {
	dir, _ := os.MkdirTemp("", "memory-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := memory.Open(ctx, memory.Config{
		Dir:    dir,
		Master: bytes.Repeat([]byte{1}, 32), // the host master key
		Embed:  embed.Builtin(embed.DefaultDim),
	})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	const realm, agent = "default", "did:key:z6MkexampleAgent"
	err = s.Put(ctx, realm, agent, []abi.Document{
		{ID: "pw", Content: "To reset your password, open Settings and choose Security."},
		{ID: "pizza", Content: "Knead the dough, add tomato and mozzarella, bake hot."},
	}, memory.Provenance{Source: "tool:notes/remember", Request: "req-1"}, 1000)
	if err != nil {
		panic(err)
	}
	res, err := s.Query(ctx, realm, agent, "how do I reset my password", 10, nil)
	if err != nil {
		panic(err)
	}
	for _, r := range res {
		fmt.Println(r.ID, r.Provenance["source"])
	}
	// Output:
	// pw tool:notes/remember
	// pizza tool:notes/remember
}
