// Command notes is an agent's notebook on top of its Airlock memory: the
// memory_put, memory_query and memory_delete host functions (capability
// "memory"). It keeps no state of its own; every note lives in the calling
// agent's store on the host.
//
// Tools:
//
//   - "remember": {"id"?, "text", "tags"?} → {"id"}. Stores one note; when no
//     id is given it is "note-" and the hex SHA-256 of the text, so that
//     remembering the same text twice keeps one note.
//   - "recall": {"query", "k"?, "where"?} → {"notes": [{"id", "text", "tags",
//     "similarity", "provenance"}]}, most similar first; k defaults to 5,
//     where keeps notes whose tags hold every given key with that exact value.
//   - "forget": {"ids"} → {"forgotten": n}, n the number of distinct ids that
//     are no longer in memory (whether or not they were there before: the
//     host does not say).
//
// The logic lives in this file, which has no build tag so that it is tested
// natively; main.go holds the wasip1 exports.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o notes.wasm ./plugins/notes
//
// # Security
//
// No argument names a store: the host serves every call from the store of
// the agent whose grant runs the tool, in the grant's realm, so an id, tag,
// query or filter naming another agent or realm only ever searches the
// caller's own notes. Recalled notes are data written earlier, not
// instructions: each carries its provenance (the tool or API call that
// wrote it, the request id and the time) so that the agent can keep it apart
// from its prompt. Tags under the host's reserved "_airlock_" prefix are
// refused by the manifest's schema and by the host.
package main

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/airlock-dev/airlock/abi"
)

// defaultK is how many notes recall returns when the input gives no k.
const defaultK = 5

// memory is the calling agent's store, as the host functions serve it.
type memory interface {
	Put(docs []abi.Document) error
	Query(q abi.MemoryQueryRequest) ([]abi.MemoryResult, error)
	Delete(ids []string) error
}

type rememberInput struct {
	ID   string            `json:"id,omitempty"`
	Text string            `json:"text"`
	Tags map[string]string `json:"tags,omitempty"`
}

type rememberOutput struct {
	ID string `json:"id"`
}

type recallInput struct {
	Query string            `json:"query"`
	K     int               `json:"k,omitempty"`
	Where map[string]string `json:"where,omitempty"`
}

// note is one recalled note. Tags are the note's own metadata; Provenance
// ("source", "request", "at") is the host's record of who wrote it.
type note struct {
	ID         string            `json:"id"`
	Text       string            `json:"text"`
	Tags       map[string]string `json:"tags"`
	Similarity float32           `json:"similarity"`
	Provenance map[string]string `json:"provenance"`
}

type recallOutput struct {
	Notes []note `json:"notes"`
}

type forgetInput struct {
	IDs []string `json:"ids"`
}

type forgetOutput struct {
	Forgotten int `json:"forgotten"`
}

// noteID is the id of a note remembered without one: a hash of its text.
func noteID(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "note-" + hex.EncodeToString(sum[:])
}

func remember(m memory, in rememberInput) (rememberOutput, error) {
	id := in.ID
	if id == "" {
		id = noteID(in.Text)
	}
	if err := m.Put([]abi.Document{{ID: id, Content: in.Text, Metadata: in.Tags}}); err != nil {
		return rememberOutput{}, err
	}
	return rememberOutput{ID: id}, nil
}

func recall(m memory, in recallInput) (recallOutput, error) {
	k := in.K
	if k <= 0 {
		k = defaultK
	}
	res, err := m.Query(abi.MemoryQueryRequest{Query: in.Query, K: k, Where: in.Where})
	if err != nil {
		return recallOutput{}, err
	}
	out := recallOutput{Notes: make([]note, 0, len(res))}
	for _, r := range res {
		n := note{ID: r.ID, Text: r.Content, Tags: r.Metadata, Similarity: r.Similarity, Provenance: r.Provenance}
		if n.Tags == nil {
			n.Tags = map[string]string{}
		}
		if n.Provenance == nil {
			n.Provenance = map[string]string{}
		}
		out.Notes = append(out.Notes, n)
	}
	return out, nil
}

func forget(m memory, in forgetInput) (forgetOutput, error) {
	ids := make([]string, 0, len(in.IDs))
	seen := make(map[string]bool, len(in.IDs))
	for _, id := range in.IDs {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if err := m.Delete(ids); err != nil {
		return forgetOutput{}, err
	}
	return forgetOutput{Forgotten: len(ids)}, nil
}

func main() {}
