// The Store on PostgreSQL (libpq): the same contract as the SQLite store
// (store.h), for a control plane whose state lives on a database server.
//
//  * Durable: every connection runs with synchronous_commit=on, so a call
//    returns OK once its commit is flushed to the server's WAL.
//  * Schema: versioned migrations recorded in schema_migrations (version,
//    applied_at), applied at open inside one transaction that first takes
//    pg_advisory_xact_lock(kMigrationLockKey): daemons starting together
//    against an empty database migrate it once; the others wait, then see it
//    done. A database migrated by a newer sovgrid is FailedPrecondition.
//  * Errors: IoError naming the server (user@host:port/db, never a password),
//    what failed and PostgreSQL's SQLSTATE and message. A connection lost
//    (server restart) is re-opened at the next call.
//  * One writing connection behind a mutex (writes are serialised, so seq
//    order is commit order: a paging reader never skips a row); up to 8
//    reading connections, opened when needed.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "store/store.h"

namespace sovgrid::store {

// The advisory lock key of the migrations (any fixed 64-bit number unique to sovgrid).
inline constexpr long long kMigrationLockKey = 0x736f7667726964;  // "sovgrid"
// The newest schema version this sovgrid knows.
inline constexpr int kPostgresSchemaVersion = 1;

// Whether `spec` is a libpq URI (postgresql://... or postgres://...).
bool IsPostgresUri(const std::string& spec);
// The URI with any password replaced by "***", for messages.
std::string RedactPostgresUri(const std::string& uri);

// Connects to `uri` (a libpq connection URI, e.g.
// postgresql://sovgrid@127.0.0.1:5432/sovgrid) and migrates its schema.
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& uri);

}  // namespace sovgrid::store
