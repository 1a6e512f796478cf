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
//  * Several daemons on one database (docs/deployment.md): the lease row
//    (table `lease`, migration 2) names the one leader, its address and its
//    epoch; PostgresLease takes and renews it with the database's clock. A
//    leader's store is opened with a LeaderFence: every write transaction
//    first checks, under a share lock on the lease row, that the row still
//    names that holder and epoch, so a former leader (paused, partitioned)
//    can never commit once another has taken over: its writes fail with
//    FailedPrecondition "fenced: epoch N is no longer the leader's", and
//    every later one too, without a round trip.
//  * Statistics: after each doubling of the jobs a store inserted (from 1,000
//    on) it runs ANALYZE jobs, so that plans follow a table that grows fast.
//  * One writing connection behind a mutex (writes are serialised, so seq
//    order is commit order: a paging reader never skips a row); up to 8
//    reading connections, opened when needed.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "store/store.h"

namespace sovgrid::store {

// The advisory lock key of the migrations (any fixed 64-bit number unique to sovgrid).
inline constexpr long long kMigrationLockKey = 0x736f7667726964;  // "sovgrid"
// The newest schema version this sovgrid knows.
inline constexpr int kPostgresSchemaVersion = 3;

// What a leader's store checks before each write: the lease row must still
// name `holder` with `epoch`.
struct LeaderFence {
  std::string holder;
  std::int64_t epoch = 0;
  // A write transaction left open longer than this is ended by the server
  // (a paused leader must not keep its share lock on the lease row).
  std::int64_t idle_transaction_timeout_ms = 3000;
  // Set by the store when a check failed, or by the owner when it steps down:
  // from then on every write fails without a round trip.
  std::atomic<bool> lost{false};
  std::atomic<std::uint64_t> fenced_commits{0};  // writes the check refused
};

// The lease row as read or after a take/renew.
struct LeaseView {
  std::string holder;   // "" when nobody ever held it
  std::string address;  // the holder's HOST:PORT
  std::int64_t epoch = 0;
  bool live = false;   // not yet expired by the database's clock
  bool taken = false;  // TakeOrRenew's UPDATE took or renewed it for the caller
};

// The leader's lease on its own connection (so that a long write never
// delays a renewal). Thread-compatible: one thread at a time.
class PostgresLease {
 public:
  virtual ~PostgresLease() = default;
  // One UPDATE, by the database's clock: renews the lease when `holder`
  // holds it at `epoch`, else takes it when it has expired (or was never
  // held), with the epoch incremented; expires_at = now() + ttl. Returns the
  // row afterwards, `taken` when this call took or renewed it (a row that
  // still names `holder` without `taken` is a term the caller gave up). IoError when the database
  // does not answer (the connection is re-opened at the next call).
  virtual Result<LeaseView> TakeOrRenew(const std::string& holder, const std::string& address,
                                        std::int64_t epoch, std::int64_t ttl_ms) = 0;
  virtual Result<LeaseView> Read() = 0;
  // Empties the row's expiry if `holder` holds it at `epoch` (a clean stop),
  // so that another daemon takes over without waiting for the ttl.
  virtual Status Release(const std::string& holder, std::int64_t epoch) = 0;
};

// Connects the lease's own connection; statements wait at most `timeout_ms`.
Result<std::unique_ptr<PostgresLease>> OpenPostgresLease(const std::string& uri,
                                                         std::int64_t timeout_ms);

// Whether `spec` is a libpq URI (postgresql://... or postgres://...).
bool IsPostgresUri(const std::string& spec);
// The URI with any password replaced by "***", for messages.
std::string RedactPostgresUri(const std::string& uri);

// Connects to `uri` (a libpq connection URI, e.g.
// postgresql://sovgrid@127.0.0.1:5432/sovgrid) and migrates its schema.
// With `fence`, the store of a leader (above).
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& uri,
                                                 std::shared_ptr<LeaderFence> fence = nullptr);

}  // namespace sovgrid::store
