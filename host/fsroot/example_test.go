package fsroot_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/airlock-dev/airlock/host/fsroot"
)

func Example() {
	data, _ := os.MkdirTemp("", "airlock-example")
	defer os.RemoveAll(data)

	// A grant with caps.fs = {"read": ["scratch/"], "write": ["scratch/"]}.
	area, err := fsroot.Open(data, "default", []string{"scratch/"}, []string{"scratch/"})
	if err != nil {
		panic(err)
	}
	defer area.Close()

	if err := area.Write("scratch/notes/today.txt", []byte("hello")); err != nil {
		panic(err)
	}
	b, _ := area.Read("scratch/notes/today.txt")
	fmt.Printf("%s\n", b)

	entries, _ := area.List("scratch/notes/")
	fmt.Println(entries)

	_, err = area.Read("scratch/../../../etc/passwd")
	fmt.Println(errors.Is(err, fsroot.ErrInvalid), err)
	// Output:
	// hello
	// [{today.txt false 5}]
	// true fsroot: read "scratch/../../../etc/passwd": invalid path: ".." segment
}
