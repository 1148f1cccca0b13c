// Package sqldb opens the host's SQL database — an embedded SQLite file or a
// PostgreSQL server shared by several nodes — behind one *sql.DB, and
// batches concurrent durable writes into one commit (group commit).
//
// Every package that keeps state (store, audit, vault, policy, monitor)
// writes portable SQL with '?' placeholders: on PostgreSQL the connections
// rewrite them to $1, $2, … before pgx sees the statement ([Rebind]). The
// little that differs between the two dialects (DDL types, triggers, locks)
// is chosen by [DB.Dialect].
//
// # Durability
//
// SQLite runs in WAL mode with synchronous=FULL on every pooled connection
// (set through the DSN, so no connection ever runs without it), and
// read-write transactions take the write lock at BEGIN. PostgreSQL commits
// are durable by the server's own settings (synchronous_commit=on, the
// default; the host refuses to start when it is off).
//
// [DB.Batch] is the group commit: the functions of concurrent callers run
// one after another in a single transaction, each inside its own savepoint,
// and every caller learns its result only after the one COMMIT returned.
// A caller whose function failed sees its own work rolled back and nobody
// else's; when the COMMIT fails, every caller of the batch gets the error.
// So a write is acknowledged only once it is durable, at the price of one
// fsync per batch instead of one per write.
//
// # Security
//
// The SQLite file is created with mode 0600. A PostgreSQL DSN holds a
// password: errors and logs show it only through [RedactDSN].
package sqldb
