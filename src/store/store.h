// Store: the control plane's durable state (jobs with their state history,
// API tokens, the audit log). The daemon commits every acknowledged change here
// before it replies, and rebuilds its scheduler from ActiveJobs() on restart.
//
// Contract:
//  * Every mutating call is atomic and durable when it returns OK: all of it
//    is on disk (fsync'd), or none of it is (a failed AddJobs adds no job).
//  * Expected failures are Status: AlreadyExists (duplicate job or token id),
//    NotFound (unknown id), InvalidArgument (bad filter), IoError (the
//    database could not be read or written; the message names the file or
//    the server, and PostgreSQL's SQLSTATE), FailedPrecondition (a schema
//    newer than this sovgrid).
//  * Thread-safe. Writes are serialised inside; reads run concurrently with
//    each other and with writes (each on a connection of its own, seeing the
//    last commit).
//  * Values are stored as given; the store does not interpret job specs
//    (JSON text) beyond the columns it filters on.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "accounting/accounting.h"
#include "common/status.h"
#include "model/usage.h"

namespace sovgrid::store {

struct StoredJob {
  std::string id;    // the daemon's key, unique in the store: "TENANT/NAME"
  std::string name;  // the id its tenant gave it, unique within the tenant
  std::string tenant;
  std::string spec_json;          // the job as submitted (the API's JSON)
  std::string state;              // "pending", "running", "finished", "failed", "cancelled"
  std::int64_t submitted_at = 0;  // seconds since the Unix epoch
  std::int64_t updated_at = 0;
  std::string reason;           // pending reason or final message
  std::string assignment_json;  // where it runs, or ran to its end ("" when pending or cancelled)
  std::string backend_ref;      // the execution backend's handle while running (pid, Slurm job id)
  std::int64_t seq = 0;         // insertion order, set by the store
};

struct JobEvent {
  std::int64_t at = 0;
  std::string state;
  std::string detail;
};

struct JobUpdate {
  std::string id;
  std::string state;
  std::int64_t at = 0;
  std::string reason;
  std::string assignment_json;
  std::string backend_ref;
  // The usage of the run segment this change ends (accounting), kept in the
  // same transaction as the change.
  std::vector<model::UsageRecord> usage = {};
};

struct JobFilter {
  std::vector<std::string> tenants;  // any of these; empty = all
  std::string state;                 // "" = any
  std::int64_t after_seq = 0;        // pagination cursor: jobs with seq > after_seq
  int limit = 100;                   // 1..10000
};

struct JobPage {
  std::vector<StoredJob> jobs;
  std::int64_t next_after = 0;  // pass as after_seq for the next page; 0 = no more
};

struct TokenRecord {
  std::string id;    // public identifier (not the secret)
  std::string hash;  // SHA-256 of the secret, hex; the secret itself is never stored
  std::string tenant;
  std::string role;  // "admin", "tenant-admin", "user", "read-only"
  std::int64_t created_at = 0;
  bool revoked = false;
};

struct AuditEntry {
  std::int64_t seq = 0;  // set by the store
  std::int64_t at = 0;
  std::string actor;   // token id
  std::string action;  // "job.submit", "token.create"...
  std::string target;
  std::string detail;
};

class Store {
 public:
  virtual ~Store() = default;

  // Adds jobs (state and history start at their `state`) and appends audit
  // entries, in one transaction: all or none.
  virtual Status AddJobs(const std::vector<StoredJob>& jobs,
                         const std::vector<AuditEntry>& audit) = 0;
  Status AddJobs(const std::vector<StoredJob>& jobs) { return AddJobs(jobs, {}); }
  // Sets a job's state, reason and assignment (clearing its backend_ref) and
  // appends to its history.
  Status UpdateJob(const std::string& id, const std::string& state, std::int64_t at,
                   const std::string& reason, const std::string& assignment_json) {
    return UpdateJobs({{id, state, at, reason, assignment_json, ""}});
  }
  // Several updates (with their usage records) and audit entries in one
  // transaction (one disk sync), all or none; NotFound names the first
  // unknown id. Usage records are added to their day's sums
  // (DailyUsageBetween) in the same transaction.
  virtual Status UpdateJobs(const std::vector<JobUpdate>& updates,
                            const std::vector<AuditEntry>& audit) = 0;
  Status UpdateJobs(const std::vector<JobUpdate>& updates) { return UpdateJobs(updates, {}); }
  // Sets running jobs' backend handles (id, ref) without a history entry: the
  // second half of a start, whose state change was committed before it ran.
  virtual Status RecordBackendRefs(
      const std::vector<std::pair<std::string, std::string>>& refs) = 0;
  // Jobs whose tenant-local name is `name`, in any tenant, in submission
  // order, at most `limit` (the caller filters by what its token may see).
  virtual Result<std::vector<StoredJob>> FindJobsByName(const std::string& name, int limit) = 0;
  virtual Result<StoredJob> GetJob(const std::string& id) = 0;
  // Which of `ids` name a stored job (in the order of `ids`). One query on a
  // store where a round trip costs (PostgreSQL); GetJob per id by default.
  virtual Result<std::vector<std::string>> ExistingJobIds(const std::vector<std::string>& ids);
  virtual Result<std::vector<JobEvent>> JobHistory(const std::string& id) = 0;
  virtual Result<JobPage> ListJobs(const JobFilter& filter) = 0;
  // Pending and running jobs in submission order (what a restart must rebuild).
  virtual Result<std::vector<StoredJob>> ActiveJobs() = 0;

  // Adds a token and its audit entries in one transaction.
  virtual Status AddToken(const TokenRecord& token, const std::vector<AuditEntry>& audit) = 0;
  Status AddToken(const TokenRecord& token) { return AddToken(token, {}); }
  // The unrevoked token with this hash; NotFound otherwise.
  virtual Result<TokenRecord> FindTokenByHash(const std::string& hash) = 0;
  virtual Status RevokeToken(const std::string& id, const std::vector<AuditEntry>& audit) = 0;
  Status RevokeToken(const std::string& id) { return RevokeToken(id, {}); }
  virtual Result<std::vector<TokenRecord>> ListTokens() = 0;

  // Administrative state that must survive a restart (node and site states,
  // quota and grant changes), as JSON under a key; a later put replaces it.
  virtual Status PutSetting(const std::string& key, const std::string& value_json,
                            const std::vector<AuditEntry>& audit) = 0;
  Status PutSetting(const std::string& key, const std::string& value_json) {
    return PutSetting(key, value_json, {});
  }
  // Every setting in the order each key was last put.
  virtual Result<std::vector<std::pair<std::string, std::string>>> ListSettings() = 0;

  // Accounting. Usage summed per UTC day, tenant, grant and pool for days
  // first_day..last_day (days since 1970-01-01, inclusive), in no set order.
  virtual Result<std::vector<accounting::DailyUsage>> DailyUsageBetween(std::int64_t first_day,
                                                                        std::int64_t last_day) = 0;
  // Usage records that overlap [from, until), by start, at most `limit`
  // (1..10,000,000); InvalidArgument beyond.
  virtual Result<std::vector<model::UsageRecord>> UsageRecords(std::int64_t from,
                                                               std::int64_t until,
                                                               std::int64_t limit) = 0;
  // The records that overlap [from, until), each clipped to it pro rata as
  // accounting::ClippedSumOf does, summed per (record's day, tenant, grant,
  // pool) inside the store: a report's partial days cost one aggregate query,
  // not a record each in memory. `from` < `until`; in no set order.
  virtual Result<std::vector<accounting::DailyUsage>> ClippedUsageBetween(std::int64_t from,
                                                                          std::int64_t until) = 0;

  virtual Status AppendAudit(const AuditEntry& entry) = 0;
  // A small durable write (a heartbeat): OK once commits succeed again after
  // a failure (disk full, I/O error).
  virtual Status Probe(std::int64_t now) = 0;
  // Entries with seq > after_seq, oldest first, at most `limit`.
  virtual Result<std::vector<AuditEntry>> ListAudit(std::int64_t after_seq, int limit) = 0;
};

inline Result<std::vector<std::string>> Store::ExistingJobIds(const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  for (const auto& id : ids) {
    auto j = GetJob(id);
    if (j.ok()) {
      out.push_back(id);
    } else if (j.status().code() != StatusCode::kNotFound) {
      return j.status();
    }
  }
  return out;
}

// Opens (creating if needed) the SQLite database DIR/sovgrid.db in WAL mode
// with full synchronisation. DIR must exist.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& dir);

}  // namespace sovgrid::store
