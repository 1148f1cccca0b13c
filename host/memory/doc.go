// Package memory is the agents' semantic memory (DESIGN §4, §7, §9): one
// chromem-go collection per (realm, agent DID), reached only through the
// identity of the calling agent, persisted encrypted, and queried with an
// explicit embedding function.
//
// [Store.Put], [Store.Query] and [Store.Delete] take the realm and the
// authenticated agent DID of the caller and nothing else that names a store:
// there is no argument by which one agent can read, write, count or filter
// another agent's documents, in its own realm or another.
//
// # Durability
//
// Each store is an append-only log file in Config.Dir. Put and Delete append
// one record (all documents of the call, with their embeddings, or all ids)
// and fsync it before they return, so an acknowledged call survives a crash
// and an unacknowledged one is applied entirely or not at all. A store is
// loaded on first use by replaying its log into chromem-go's in-memory
// collection, reusing the stored embeddings (nothing is re-embedded). A torn
// or unauthentic last record, the trace of a crash mid-append, is cut away.
// When dead records (overwritten or deleted documents) make up most of a log
// over 1 MiB, it is compacted: the live documents are written to a temporary
// file that is fsync'd and renamed over the log.
//
// # Security
//
// chromem-go's own persistence writes plain gob files and its default
// embedder calls OpenAI with $OPENAI_API_KEY; neither is used. Every vector
// comes from Config.Embed, and the collection is given an embedding function
// that only fails, so chromem-go cannot embed, or reach a network, behind
// the host's back.
//
// Every byte of a store on disk is sealed with AES-256-GCM under a key
// derived with HKDF-SHA256 from the host master key and the info
// "airlock/memory/v1\x00" + realm + "\x00" + agent. The file name is the hex
// SHA-256 of the same realm and agent, so it reveals neither. Each record's
// additional data binds the store, the file generation and the record's
// position, so records cannot be moved between stores, files or places; a
// file copied under another store's name is refused whole. What the format
// cannot detect is an attacker with write access removing records from the
// tail or restoring an older file (rollback).
//
// Provenance (who wrote a document, in which request, when) is kept in
// metadata keys under the reserved prefix "_airlock_": callers can neither
// set nor filter on them, and query results carry them apart, in
// MemoryResult.Provenance, so that callers can tell data recalled from memory
// from instructions.
//
// Answers never reveal a store's size beyond the documents they return: a k
// larger than the store returns what exists, and an empty or never-used
// store answers an empty result, the same shape as any other query.
package memory
