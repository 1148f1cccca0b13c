//go:build wasip1

// Command files reads, lists and writes files in the calling agent's realm
// through the fs_* host functions. The host confines every path to the
// grant's caps.fs roots (os.Root; no WASI mounts), so this plugin holds no
// file access of its own.
package main

//lint:file-ignore U1000 staticcheck does not see //go:wasmexport roots

import "github.com/airlock-dev/airlock/sdk/tool"

type pathInput struct {
	Path string `json:"path"`
}

type readOutput struct {
	Content string `json:"content"`
}

type writeInput struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

type writeOutput struct {
	Written int `json:"written"`
}

type entry struct {
	Name string `json:"name"`
	Dir  bool   `json:"dir"`
	Size int64  `json:"size"`
}

type listOutput struct {
	Entries []entry `json:"entries"`
}

//go:wasmexport read
func read() int32 {
	return tool.Handle(func(in pathInput) (readOutput, error) {
		data, err := tool.FSRead(in.Path)
		if err != nil {
			return readOutput{}, err
		}
		return readOutput{Content: string(data)}, nil
	})
}

//go:wasmexport write
func write() int32 {
	return tool.Handle(func(in writeInput) (writeOutput, error) {
		if err := tool.FSWrite(in.Path, []byte(in.Content)); err != nil {
			return writeOutput{}, err
		}
		return writeOutput{Written: len(in.Content)}, nil
	})
}

//go:wasmexport list
func list() int32 {
	return tool.Handle(func(in pathInput) (listOutput, error) {
		es, err := tool.FSList(in.Path)
		if err != nil {
			return listOutput{}, err
		}
		out := listOutput{Entries: make([]entry, 0, len(es))}
		for _, e := range es {
			out.Entries = append(out.Entries, entry{Name: e.Name, Dir: e.Dir, Size: e.Size})
		}
		return out, nil
	})
}

func main() {}
