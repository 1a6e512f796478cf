// The Store on SQLite: one database file in WAL mode, synchronous=FULL so that
// a commit is on disk when it returns, prepared statements reused. One writing
// connection behind a mutex; reads lease one of a few reading connections.
#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string_view>
#include <tuple>
#include <utility>

#include "store/store.h"

namespace sovgrid::store {
namespace {

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL DEFAULT '',
  tenant TEXT NOT NULL,
  spec TEXT NOT NULL,
  state TEXT NOT NULL,
  submitted_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  assignment TEXT NOT NULL DEFAULT '',
  backend_ref TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_by_tenant ON jobs (tenant, seq);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, seq);
CREATE TABLE IF NOT EXISTS job_events (
  job_seq INTEGER NOT NULL REFERENCES jobs (seq),
  at INTEGER NOT NULL,
  state TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS job_events_by_job ON job_events (job_seq);
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL,
  role TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '4');
)sql";

// Usage records (one run segment's piece per pool, UTC day and grant) and
// their sums per day, tenant, grant and pool, kept in the same transaction so
// that reports over months read the sums. Schema version 4: a record's `seq`
// (its rowid) is `day * kUsageSeqPerDay + n`, n counting up within the day, so
// the table itself is ordered by day and a day's records are one range of it:
// no secondary index to maintain on every insert (version 3 had one on
// (day, start_at), about half of a record's insert cost).
constexpr const char* kUsageSchema = R"sql(
CREATE TABLE IF NOT EXISTS usage (
  seq INTEGER PRIMARY KEY,
  job TEXT NOT NULL,
  tenant TEXT NOT NULL,
  grant_holder TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  pool TEXT NOT NULL,
  site TEXT NOT NULL,
  operator TEXT NOT NULL,
  model TEXT NOT NULL,
  milli INTEGER NOT NULL,
  start_at INTEGER NOT NULL,
  end_at INTEGER NOT NULL,
  day INTEGER NOT NULL,
  accelerator_s REAL NOT NULL,
  units REAL NOT NULL,
  energy_kwh REAL NOT NULL,
  lost_accelerator_s REAL NOT NULL,
  end_reason TEXT NOT NULL,
  job_ended INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS usage_daily (
  day INTEGER NOT NULL,
  tenant TEXT NOT NULL,
  grant_holder TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  pool TEXT NOT NULL,
  site TEXT NOT NULL,
  operator TEXT NOT NULL,
  model TEXT NOT NULL,
  accelerator_s REAL NOT NULL,
  units REAL NOT NULL,
  energy_kwh REAL NOT NULL,
  lost_accelerator_s REAL NOT NULL,
  jobs INTEGER NOT NULL,
  segments INTEGER NOT NULL,
  PRIMARY KEY (day, tenant, grant_holder, grant_id, pool)
);
)sql";
// The span of `seq` values that one UTC day's usage records take (schema 4).
constexpr std::int64_t kUsageSeqPerDay = std::int64_t{1} << 32;

// Version 3's usage table (rowid order = insertion order, an index on
// (day, start_at)) rewritten in version 4's order. Runs inside Migrate's
// transaction; the old table's index goes with it.
constexpr const char* kUsageToVersion4 = R"sql(
ALTER TABLE usage RENAME TO usage_v3;
)sql";
constexpr const char* kUsageCopyFromVersion3 = R"sql(
INSERT INTO usage (seq, job, tenant, grant_holder, grant_id, pool, site, operator, model, milli,
                   start_at, end_at, day, accelerator_s, units, energy_kwh, lost_accelerator_s,
                   end_reason, job_ended)
  SELECT day * 4294967296 + row_number() OVER (PARTITION BY day ORDER BY seq), job, tenant,
         grant_holder, grant_id, pool, site, operator, model, milli, start_at, end_at, day,
         accelerator_s, units, energy_kwh, lost_accelerator_s, end_reason, job_ended
  FROM usage_v3;
DROP TABLE usage_v3;
)sql";

// A prepared statement, reset for reuse when it goes out of scope.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK)
      stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Binds in order, steps, and resets the statement on destruction.
class Use {
 public:
  explicit Use(const Statement& s) : stmt_(s.get()) {}
  ~Use() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  Use& Bind(const std::string& v) {
    sqlite3_bind_text(stmt_, ++at_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Use& Bind(std::int64_t v) {
    sqlite3_bind_int64(stmt_, ++at_, v);
    return *this;
  }
  Use& BindReal(double v) {
    sqlite3_bind_double(stmt_, ++at_, v);
    return *this;
  }
  int Step() { return sqlite3_step(stmt_); }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(p),
                                      static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  double Real(int col) const { return sqlite3_column_double(stmt_, col); }

 private:
  sqlite3_stmt* stmt_;
  int at_ = 0;
};

constexpr const char* kJobColumns =
    "seq, id, tenant, spec, state, submitted_at, updated_at, reason, assignment, backend_ref, "
    "name";

StoredJob ReadJob(const Use& u) {
  StoredJob j;
  j.seq = u.Int(0);
  j.id = u.Text(1);
  j.tenant = u.Text(2);
  j.spec_json = u.Text(3);
  j.state = u.Text(4);
  j.submitted_at = u.Int(5);
  j.updated_at = u.Int(6);
  j.reason = u.Text(7);
  j.assignment_json = u.Text(8);
  j.backend_ref = u.Text(9);
  j.name = u.Text(10);
  return j;
}

// A reading connection with its cached statements; used by one thread at a time.
// A row of (day, tenant, grant_holder, grant_id, pool, site, operator, model,
// accelerator_s, units, energy_kwh, lost_accelerator_s, jobs, segments).
accounting::DailyUsage DailyUsageRow(const Use& u) {
  accounting::DailyUsage d;
  d.day = u.Int(0);
  d.tenant = u.Text(1);
  d.grant_holder = u.Text(2);
  d.grant = u.Text(3);
  d.pool = u.Text(4);
  d.site = u.Text(5);
  d.operator_name = u.Text(6);
  d.model = u.Text(7);
  d.sum.accelerator_seconds = u.Real(8);
  d.sum.charged_units = u.Real(9);
  d.sum.energy_kwh = u.Real(10);
  d.sum.lost_accelerator_seconds = u.Real(11);
  d.sum.jobs = u.Int(12);
  d.sum.segments = u.Int(13);
  return d;
}

struct Reader {
  sqlite3* db = nullptr;
  std::vector<std::pair<std::string, std::unique_ptr<Statement>>> statements;
  ~Reader() {
    statements.clear();
    sqlite3_close_v2(db);
  }
  // A cached prepared statement for this SQL text.
  const Statement& Prepare(const std::string& sql) {
    for (const auto& [text, stmt] : statements) {
      if (text == sql) return *stmt;
    }
    statements.emplace_back(sql, std::make_unique<Statement>(db, sql.c_str()));
    return *statements.back().second;
  }
};

// Reading connections: at most this many, opened when needed. In WAL mode each
// reads the last commit and never waits for a writer's transaction (a cycle
// committing thousands of starts) nor for another reader.
constexpr std::size_t kMaxReaders = 8;

class SqliteStore final : public Store {
 public:
  SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteStore() override {
    statements_.clear();
    readers_.clear();
    sqlite3_close_v2(db_);
  }

  // Opens the first reading connection (so that a failure shows at open).
  Status OpenReader() {
    auto r = NewReader();
    if (!r.ok()) return r.status();
    idle_.push_back(*r);
    return Status::Ok();
  }

  Status Init() {
    if (Status s = Exec("PRAGMA journal_mode=WAL"); !s.ok()) return s;
    if (Status s = Exec("PRAGMA synchronous=FULL"); !s.ok()) return s;
    // 64 MiB of page cache (SQLite's default is 2 MiB): the indexes' recent
    // pages (jobs by tenant, usage by day) stay in memory as the store grows.
    if (Status s = Exec("PRAGMA cache_size=-65536"); !s.ok()) return s;
    if (Status s = Exec("PRAGMA foreign_keys=ON"); !s.ok()) return s;
    if (Status s = Exec(std::string(kSchema)); !s.ok()) return s;
    return Migrate();
  }

  // Brings a database of an older schema to the current one, in one
  // transaction (a crash leaves the old schema, and the next open retries).
  //  1 -> 2: jobs.backend_ref (if missing); job ids scoped to their tenant:
  //          `id` becomes "TENANT/NAME", `name` keeps what the tenant gave.
  //  2 -> 3: usage records and their daily sums (accounting).
  //  3 -> 4: usage records ordered by day in the table itself (kUsageSchema).
  Status Migrate() {
    std::int64_t version = 0;
    {
      Use u(Prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'"));
      if (u.Step() != SQLITE_ROW) return Error("read the schema version");
      version = u.Int(0);
    }
    if (version > 4) {
      return FailedPrecondition("database schema version " + std::to_string(version) +
                                " is newer than this sovgrid (4): upgrade sovgrid");
    }
    if (Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    auto has_column = [&](const char* column, bool* out) {
      Use u(Prepare("SELECT COUNT(*) FROM pragma_table_info('jobs') WHERE name = ?"));
      u.Bind(std::string(column));
      if (u.Step() != SQLITE_ROW) return false;
      *out = u.Int(0) != 0;
      return true;
    };
    bool backend_ref = false, name = false;
    if (!has_column("backend_ref", &backend_ref) || !has_column("name", &name))
      return ErrorAndRollback("read the jobs table's columns");
    bool old_usage = false;
    if (version < 4) {
      Use u(Prepare("SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'usage'"));
      if (u.Step() != SQLITE_ROW) return ErrorAndRollback("read the schema's tables");
      old_usage = u.Int(0) != 0;
    }
    std::string sql;
    if (!backend_ref) sql += "ALTER TABLE jobs ADD COLUMN backend_ref TEXT NOT NULL DEFAULT '';";
    if (!name) sql += "ALTER TABLE jobs ADD COLUMN name TEXT NOT NULL DEFAULT '';";
    if (version < 2) {
      sql +=
          "UPDATE jobs SET name = id, id = tenant || '/' || id WHERE name = '';"
          "UPDATE meta SET value = '2' WHERE key = 'schema_version';";
    }
    sql += "CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs (name, seq);";
    if (old_usage) sql += kUsageToVersion4;
    sql += kUsageSchema;
    if (old_usage) sql += kUsageCopyFromVersion3;
    sql += "UPDATE meta SET value = '4' WHERE key = 'schema_version';";
    if (Status s = Exec(sql); !s.ok()) {
      Rollback();
      return s;
    }
    return Commit();
  }

  Status AddJobs(const std::vector<StoredJob>& jobs,
                 const std::vector<AuditEntry>& audit) override {
    std::lock_guard lock(mu_);
    if (Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    const Statement& insert = Prepare(
        "INSERT INTO jobs (id, name, tenant, spec, state, submitted_at, updated_at, reason, "
        "assignment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    const Statement& event =
        Prepare("INSERT INTO job_events (job_seq, at, state, detail) VALUES (?, ?, ?, ?)");
    for (const auto& j : jobs) {
      Use u(insert);
      u.Bind(j.id).Bind(j.name).Bind(j.tenant).Bind(j.spec_json).Bind(j.state).Bind(j.submitted_at);
      u.Bind(j.submitted_at).Bind(j.reason).Bind(j.assignment_json);
      const int rc = u.Step();
      if (rc != SQLITE_DONE) {
        const bool duplicate = sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_UNIQUE;
        Status error = Error("insert job '" + j.id + "'");
        Rollback();
        if (duplicate) return AlreadyExists("job '" + j.id + "' already exists");
        return error;
      }
      Use e(event);
      e.Bind(sqlite3_last_insert_rowid(db_)).Bind(j.submitted_at).Bind(j.state).Bind(j.reason);
      if (e.Step() != SQLITE_DONE) return ErrorAndRollback("insert job event");
    }
    for (const auto& a : audit) {
      if (!InsertAudit(a)) return ErrorAndRollback("append audit entry");
    }
    return Commit();
  }

  Status UpdateJobs(const std::vector<JobUpdate>& updates,
                    const std::vector<AuditEntry>& audit) override {
    if (updates.empty() && audit.empty()) return Status::Ok();
    std::lock_guard lock(mu_);
    if (Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    const Statement& update = Prepare(
        "UPDATE jobs SET state = ?, updated_at = ?, reason = ?, assignment = ?, backend_ref = ? "
        "WHERE id = ? RETURNING seq");
    const Statement& event =
        Prepare("INSERT INTO job_events (job_seq, at, state, detail) VALUES (?, ?, ?, ?)");
    for (const auto& x : updates) {
      std::int64_t seq = 0;
      {
        Use u(update);
        u.Bind(x.state).Bind(x.at).Bind(x.reason).Bind(x.assignment_json).Bind(x.backend_ref);
        u.Bind(x.id);
        const int rc = u.Step();
        if (rc == SQLITE_DONE) {
          Rollback();
          return NotFound("job '" + x.id + "' not found");
        }
        if (rc != SQLITE_ROW) return ErrorAndRollback("update job '" + x.id + "'");
        seq = u.Int(0);
      }
      Use e(event);
      e.Bind(seq).Bind(x.at).Bind(x.state).Bind(x.reason);
      if (e.Step() != SQLITE_DONE) return ErrorAndRollback("insert job event");
    }
    for (const auto& a : audit) {
      if (!InsertAudit(a)) return ErrorAndRollback("append audit entry");
    }
    if (!InsertUsage(updates)) return ErrorAndRollback("record usage");
    return Commit();
  }

  Result<std::vector<accounting::DailyUsage>> DailyUsageBetween(std::int64_t first_day,
                                                                std::int64_t last_day) override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Use u(r->Prepare(
        "SELECT day, tenant, grant_holder, grant_id, pool, site, operator, model, accelerator_s, "
        "units, energy_kwh, lost_accelerator_s, jobs, segments FROM usage_daily "
        "WHERE day >= ? AND day <= ?"));
    u.Bind(first_day).Bind(last_day);
    std::vector<accounting::DailyUsage> out;
    int rc = 0;
    while ((rc = u.Step()) == SQLITE_ROW) out.push_back(DailyUsageRow(u));
    if (rc != SQLITE_DONE) return r->Error("read daily usage");
    return out;
  }

  Result<std::vector<accounting::DailyUsage>> ClippedUsageBetween(std::int64_t from,
                                                                  std::int64_t until) override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    // ?1 = from, ?2 = until. The share `f` of a record inside the window is
    // ClippedSumOf's; lost work and the job count belong to the record's end.
    Use u(r->Prepare(
        "SELECT day, tenant, grant_holder, grant_id, pool, MIN(site), MIN(operator), MIN(model), "
        "SUM(accelerator_s * f), SUM(units * f), SUM(energy_kwh * f), "
        "SUM(CASE WHEN end_at <= ?2 THEN lost_accelerator_s ELSE 0 END), "
        "SUM(CASE WHEN job_ended != 0 AND end_at <= ?2 THEN 1 ELSE 0 END), SUM(f > 0 OR inside) "
        "FROM (SELECT *, (start_at >= ?1 AND end_at <= ?2) AS inside, "
        "  CASE WHEN start_at >= ?1 AND end_at <= ?2 THEN 1.0 "
        "       WHEN end_at > start_at THEN (MIN(end_at, ?2) - MAX(start_at, ?1)) * 1.0 / "
        "(end_at - start_at) ELSE 0.0 END AS f "
        "  FROM usage WHERE seq >= ?3 AND seq < ?4 AND start_at < ?2 AND end_at > ?1) "
        "GROUP BY day, tenant, grant_holder, grant_id, pool"));
    u.Bind(from).Bind(until).Bind(model::DayOf(from) * kUsageSeqPerDay);
    u.Bind((model::DayOf(until) + 1) * kUsageSeqPerDay);
    std::vector<accounting::DailyUsage> out;
    int rc = 0;
    while ((rc = u.Step()) == SQLITE_ROW) out.push_back(DailyUsageRow(u));
    if (rc != SQLITE_DONE) return r->Error("sum usage records");
    return out;
  }

  Result<std::vector<model::UsageRecord>> UsageRecords(std::int64_t from, std::int64_t until,
                                                       std::int64_t limit) override {
    if (limit < 1 || limit > 10'000'000) return InvalidArgument("limit: expected 1..10000000");
    auto r = Lease();
    if (!r.ok()) return r.status();
    // Records lie within one UTC day: the day index narrows the scan.
    Use u(r->Prepare(
        "SELECT job, tenant, grant_holder, grant_id, pool, site, operator, model, milli, "
        "start_at, end_at, accelerator_s, units, energy_kwh, lost_accelerator_s, end_reason, "
        "job_ended FROM usage WHERE seq >= ? AND seq < ? AND start_at < ? AND end_at > ? "
        "ORDER BY start_at, seq LIMIT ?"));
    u.Bind(model::DayOf(from) * kUsageSeqPerDay).Bind((model::DayOf(until) + 1) * kUsageSeqPerDay);
    u.Bind(until).Bind(from).Bind(limit);
    std::vector<model::UsageRecord> out;
    int rc = 0;
    while ((rc = u.Step()) == SQLITE_ROW) {
      model::UsageRecord x;
      x.job = u.Text(0);
      x.tenant = u.Text(1);
      x.grant_holder = u.Text(2);
      x.grant = u.Text(3);
      x.pool = u.Text(4);
      x.site = u.Text(5);
      x.operator_name = u.Text(6);
      x.model = u.Text(7);
      x.milli = u.Int(8);
      x.start = u.Int(9);
      x.end = u.Int(10);
      x.accelerator_seconds = u.Real(11);
      x.charged_units = u.Real(12);
      x.energy_kwh = u.Real(13);
      x.lost_accelerator_seconds = u.Real(14);
      x.end_reason = u.Text(15);
      x.job_ended = u.Int(16) != 0;
      out.push_back(std::move(x));
    }
    if (rc != SQLITE_DONE) return r->Error("read usage records");
    return out;
  }

  Status RecordBackendRefs(const std::vector<std::pair<std::string, std::string>>& refs) override {
    if (refs.empty()) return Status::Ok();
    std::lock_guard lock(mu_);
    if (Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    const Statement& update = Prepare("UPDATE jobs SET backend_ref = ? WHERE id = ?");
    for (const auto& [id, ref] : refs) {
      Use u(update);
      u.Bind(ref).Bind(id);
      if (u.Step() != SQLITE_DONE) return ErrorAndRollback("record the handle of job '" + id + "'");
    }
    return Commit();
  }

  Result<std::vector<StoredJob>> FindJobsByName(const std::string& name, int limit) override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Use u(r->Prepare(std::string("SELECT ") + kJobColumns +
                     " FROM jobs WHERE name = ? ORDER BY seq LIMIT ?"));
    u.Bind(name).Bind(static_cast<std::int64_t>(limit));
    std::vector<StoredJob> out;
    int rc = 0;
    while ((rc = u.Step()) == SQLITE_ROW) out.push_back(ReadJob(u));
    if (rc != SQLITE_DONE) return r->Error("find jobs by name");
    return out;
  }

  Result<StoredJob> GetJob(const std::string& id) override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Use u(r->Prepare(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?"));
    u.Bind(id);
    const int rc = u.Step();
    if (rc == SQLITE_ROW) return ReadJob(u);
    if (rc == SQLITE_DONE) return NotFound("job '" + id + "' not found");
    return r->Error("read job '" + id + "'");
  }

  Result<std::vector<JobEvent>> JobHistory(const std::string& id) override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Use u(r->Prepare(
        "SELECT e.at, e.state, e.detail FROM job_events e JOIN jobs j ON j.seq = e.job_seq "
        "WHERE j.id = ? ORDER BY e.rowid"));
    u.Bind(id);
    std::vector<JobEvent> out;
    int rc = 0;
    while ((rc = u.Step()) == SQLITE_ROW) out.push_back({u.Int(0), u.Text(1), u.Text(2)});
    if (rc != SQLITE_DONE) return r->Error("read history of job '" + id + "'");
    if (out.empty()) return NotFound("job '" + id + "' not found");
    return out;
  }

  Result<JobPage> ListJobs(const JobFilter& f) override {
    if (f.limit < 1 || f.limit > 10000) return InvalidArgument("limit: expected 1..10000");
    if (f.after_seq < 0) return InvalidArgument("after: expected a cursor >= 0");
    std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE seq > ?";
    if (!f.state.empty()) sql += " AND state = ?";
    if (!f.tenants.empty()) {
      sql += " AND tenant IN (";
      for (std::size_t i = 0; i < f.tenants.size(); ++i) sql += i == 0 ? "?" : ", ?";
      sql += ")";
    }
    sql += " ORDER BY seq LIMIT ?";
    auto r = Lease();
    if (!r.ok()) return r.status();
    // One statement per shape of filter (state or not, how many tenants): a few.
    const Statement& stmt = r->Prepare(sql);
    if (stmt.get() == nullptr) return r->Error("prepare job listing");
    Use u(stmt);
    u.Bind(f.after_seq);
    if (!f.state.empty()) u.Bind(f.state);
    for (const auto& t : f.tenants) u.Bind(t);
    u.Bind(static_cast<std::int64_t>(f.limit) + 1);  // one more tells whether a next page exists
    JobPage page;
    int rc = 0;
    while ((rc = u.Step()) == SQLITE_ROW) page.jobs.push_back(ReadJob(u));
    if (rc != SQLITE_DONE) return r->Error("list jobs");
    if (page.jobs.size() > static_cast<std::size_t>(f.limit)) {
      page.jobs.pop_back();
      page.next_after = page.jobs.back().seq;
    }
    return page;
  }

  Result<std::vector<StoredJob>> ActiveJobs() override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Use u(r->Prepare(std::string("SELECT ") + kJobColumns +
                     " FROM jobs WHERE state IN ('pending', 'running') ORDER BY seq"));
    std::vector<StoredJob> out;
    int rc = 0;
    while ((rc = u.Step()) == SQLITE_ROW) out.push_back(ReadJob(u));
    if (rc != SQLITE_DONE) return r->Error("read active jobs");
    return out;
  }

  Status AddToken(const TokenRecord& t, const std::vector<AuditEntry>& audit) override {
    std::lock_guard lock(mu_);
    if (Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    {
      Use u(Prepare(
          "INSERT INTO tokens (id, hash, tenant, role, created_at, revoked) VALUES (?, ?, ?, ?, "
          "?, ?)"));
      u.Bind(t.id).Bind(t.hash).Bind(t.tenant).Bind(t.role).Bind(t.created_at);
      u.Bind(static_cast<std::int64_t>(t.revoked ? 1 : 0));
      if (u.Step() != SQLITE_DONE) {
        const int code = sqlite3_extended_errcode(db_);
        Status error = ErrorAndRollback("insert token");
        if (code == SQLITE_CONSTRAINT_PRIMARYKEY || code == SQLITE_CONSTRAINT_UNIQUE)
          return AlreadyExists("token '" + t.id + "' already exists");
        return error;
      }
    }
    for (const auto& a : audit) {
      if (!InsertAudit(a)) return ErrorAndRollback("append audit entry");
    }
    return Commit();
  }

  Result<TokenRecord> FindTokenByHash(const std::string& hash) override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Use u(r->Prepare(
        "SELECT id, hash, tenant, role, created_at, revoked FROM tokens WHERE hash = ? AND "
        "revoked = 0"));
    u.Bind(hash);
    const int rc = u.Step();
    if (rc == SQLITE_ROW)
      return TokenRecord{u.Text(0), u.Text(1), u.Text(2), u.Text(3), u.Int(4), u.Int(5) != 0};
    if (rc == SQLITE_DONE) return NotFound("no such token");
    return r->Error("read token");
  }

  Status RevokeToken(const std::string& id, const std::vector<AuditEntry>& audit) override {
    std::lock_guard lock(mu_);
    if (Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    {
      Use u(Prepare("UPDATE tokens SET revoked = 1 WHERE id = ?"));
      u.Bind(id);
      if (u.Step() != SQLITE_DONE) return ErrorAndRollback("revoke token");
    }
    if (sqlite3_changes(db_) == 0) {
      Rollback();
      return NotFound("token '" + id + "' not found");
    }
    for (const auto& a : audit) {
      if (!InsertAudit(a)) return ErrorAndRollback("append audit entry");
    }
    return Commit();
  }

  Result<std::vector<TokenRecord>> ListTokens() override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Use u(r->Prepare("SELECT id, hash, tenant, role, created_at, revoked FROM tokens ORDER BY id"));
    std::vector<TokenRecord> out;
    int rc = 0;
    while ((rc = u.Step()) == SQLITE_ROW)
      out.push_back({u.Text(0), u.Text(1), u.Text(2), u.Text(3), u.Int(4), u.Int(5) != 0});
    if (rc != SQLITE_DONE) return r->Error("list tokens");
    return out;
  }

  Status PutSetting(const std::string& key, const std::string& value,
                    const std::vector<AuditEntry>& audit) override {
    std::lock_guard lock(mu_);
    // Delete and insert, so that the order of seq is the order of the last puts.
    if (Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    {
      Use del(Prepare("DELETE FROM settings WHERE key = ?"));
      del.Bind(key);
      if (del.Step() != SQLITE_DONE) return ErrorAndRollback("replace setting '" + key + "'");
    }
    {
      Use ins(Prepare("INSERT INTO settings (key, value) VALUES (?, ?)"));
      ins.Bind(key).Bind(value);
      if (ins.Step() != SQLITE_DONE) return ErrorAndRollback("write setting '" + key + "'");
    }
    for (const auto& a : audit) {
      if (!InsertAudit(a)) return ErrorAndRollback("append audit entry");
    }
    return Commit();
  }

  Result<std::vector<std::pair<std::string, std::string>>> ListSettings() override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Use u(r->Prepare("SELECT key, value FROM settings ORDER BY seq"));
    std::vector<std::pair<std::string, std::string>> out;
    int rc = 0;
    while ((rc = u.Step()) == SQLITE_ROW) out.emplace_back(u.Text(0), u.Text(1));
    if (rc != SQLITE_DONE) return r->Error("read settings");
    return out;
  }

  Status AppendAudit(const AuditEntry& a) override {
    std::lock_guard lock(mu_);
    if (!InsertAudit(a)) return Error("append audit entry");
    return Status::Ok();
  }

  Status Probe(std::int64_t now) override {
    std::lock_guard lock(mu_);
    Use u(Prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('heartbeat', ?)"));
    u.Bind(std::to_string(now));
    if (u.Step() != SQLITE_DONE) return Error("write a heartbeat");
    return Status::Ok();
  }

  Result<std::vector<AuditEntry>> ListAudit(std::int64_t after_seq, int limit) override {
    if (limit < 1 || limit > 10000) return InvalidArgument("limit: expected 1..10000");
    auto r = Lease();
    if (!r.ok()) return r.status();
    Use u(r->Prepare(
        "SELECT seq, at, actor, action, target, detail FROM audit WHERE seq > ? ORDER BY seq "
        "LIMIT ?"));
    u.Bind(after_seq).Bind(static_cast<std::int64_t>(limit));
    std::vector<AuditEntry> out;
    int rc = 0;
    while ((rc = u.Step()) == SQLITE_ROW)
      out.push_back({u.Int(0), u.Int(1), u.Text(2), u.Text(3), u.Text(4), u.Text(5)});
    if (rc != SQLITE_DONE) return r->Error("list audit log");
    return out;
  }

 private:
  // Inserts the updates' usage records and adds them to their days' sums,
  // one upsert per (day, tenant, grant, pool) of the batch (a cycle's ends
  // share a few keys: summed here first). Callers hold mu_ inside a transaction.
  bool InsertUsage(const std::vector<JobUpdate>& updates) {
    std::map<std::tuple<std::int64_t, std::string, std::string, std::string, std::string>,
             accounting::DailyUsage>
        sums;
    // The next `seq` of each day the batch touches: one seek per day to the
    // day's last record (a cycle's ends fall on one or two days).
    std::map<std::int64_t, std::int64_t> next_seq;
    auto seq_for = [&](std::int64_t day) -> std::int64_t {
      auto [it, fresh] = next_seq.try_emplace(day, 0);
      if (fresh) {
        Use last(Prepare("SELECT MAX(seq) FROM usage WHERE seq >= ? AND seq < ?"));
        last.Bind(day * kUsageSeqPerDay).Bind((day + 1) * kUsageSeqPerDay);
        const bool any = last.Step() == SQLITE_ROW && !last.IsNull(0);
        it->second = any ? last.Int(0) + 1 : day * kUsageSeqPerDay + 1;
      }
      return it->second++;
    };
    for (const auto& update : updates) {
      for (const auto& x : update.usage) {
        // Days of real clocks are far inside the range whose seqs fit in 63 bits.
        if (x.day() < -(std::int64_t{1} << 30) || x.day() > (std::int64_t{1} << 30)) return false;
        const std::int64_t seq = seq_for(x.day());
        Use u(Prepare(
            "INSERT INTO usage (seq, job, tenant, grant_holder, grant_id, pool, site, operator, "
            "model, milli, start_at, end_at, day, accelerator_s, units, energy_kwh, "
            "lost_accelerator_s, end_reason, job_ended) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
        u.Bind(seq)
            .Bind(x.job)
            .Bind(x.tenant)
            .Bind(x.grant_holder)
            .Bind(x.grant)
            .Bind(x.pool)
            .Bind(x.site);
        u.Bind(x.operator_name).Bind(x.model).Bind(x.milli).Bind(x.start).Bind(x.end);
        u.Bind(x.day()).BindReal(x.accelerator_seconds).BindReal(x.charged_units);
        u.BindReal(x.energy_kwh).BindReal(x.lost_accelerator_seconds).Bind(x.end_reason);
        u.Bind(static_cast<std::int64_t>(x.job_ended ? 1 : 0));
        if (u.Step() != SQLITE_DONE) return false;
        auto [it, fresh] = sums.try_emplace({x.day(), x.tenant, x.grant_holder, x.grant, x.pool});
        if (fresh) {
          it->second.site = x.site;
          it->second.operator_name = x.operator_name;
          it->second.model = x.model;
        }
        it->second.sum.Add(accounting::SumOf(x));
      }
    }
    for (const auto& [key, d] : sums) {
      Use u(Prepare(
          "INSERT INTO usage_daily (day, tenant, grant_holder, grant_id, pool, site, operator, "
          "model, accelerator_s, units, energy_kwh, lost_accelerator_s, jobs, segments) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
          "ON CONFLICT (day, tenant, grant_holder, grant_id, pool) DO UPDATE SET "
          "accelerator_s = accelerator_s + excluded.accelerator_s, "
          "units = units + excluded.units, energy_kwh = energy_kwh + excluded.energy_kwh, "
          "lost_accelerator_s = lost_accelerator_s + excluded.lost_accelerator_s, "
          "jobs = jobs + excluded.jobs, segments = segments + excluded.segments"));
      u.Bind(std::get<0>(key)).Bind(std::get<1>(key)).Bind(std::get<2>(key));
      u.Bind(std::get<3>(key)).Bind(std::get<4>(key)).Bind(d.site).Bind(d.operator_name);
      u.Bind(d.model).BindReal(d.sum.accelerator_seconds).BindReal(d.sum.charged_units);
      u.BindReal(d.sum.energy_kwh).BindReal(d.sum.lost_accelerator_seconds).Bind(d.sum.jobs);
      u.Bind(d.sum.segments);
      if (u.Step() != SQLITE_DONE) return false;
    }
    return true;
  }

  // A cached prepared statement for a constant SQL text. Callers hold mu_.
  const Statement& Prepare(const char* sql) {
    for (const auto& [text, stmt] : statements_) {
      if (text == sql) return *stmt;
    }
    statements_.emplace_back(sql, std::make_unique<Statement>(db_, sql));
    return *statements_.back().second;
  }
  Status Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) == SQLITE_OK) return Status::Ok();
    std::string msg = path_ + ": " + (err != nullptr ? err : "error");
    sqlite3_free(err);
    return IoError(std::move(msg));
  }
  Status Commit() {
    if (Status s = Exec("COMMIT"); !s.ok()) {
      Rollback();
      return s;
    }
    return Status::Ok();
  }
  void Rollback() { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }
  // The error of the failed statement (read before the rollback clears it).
  Status ErrorAndRollback(const std::string& what) {
    Status s = Error(what);
    Rollback();
    return s;
  }
  Status Error(const std::string& what) const {
    return IoError(path_ + ": cannot " + what + ": " + sqlite3_errmsg(db_));
  }
  // Callers hold mu_.
  bool InsertAudit(const AuditEntry& a) {
    Use u(Prepare("INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)"));
    u.Bind(a.at).Bind(a.actor).Bind(a.action).Bind(a.target).Bind(a.detail);
    return u.Step() == SQLITE_DONE;
  }

  // A reading connection for the lifetime of the lease.
  class ReaderLease {
   public:
    ReaderLease(SqliteStore* store, Reader* reader) : store_(store), reader_(reader) {}
    ~ReaderLease() {
      if (reader_ != nullptr) store_->Release(reader_);
    }
    ReaderLease(ReaderLease&& o) noexcept : store_(o.store_), reader_(o.reader_) {
      o.reader_ = nullptr;
    }
    ReaderLease(const ReaderLease&) = delete;
    ReaderLease& operator=(const ReaderLease&) = delete;
    ReaderLease& operator=(ReaderLease&&) = delete;
    const Statement& Prepare(const std::string& sql) { return reader_->Prepare(sql); }
    Status Error(const std::string& what) const {
      return IoError(store_->path_ + ": cannot " + what + ": " + sqlite3_errmsg(reader_->db));
    }

   private:
    SqliteStore* store_;
    Reader* reader_;
  };
  // An idle reading connection, a new one while there are fewer than
  // kMaxReaders, else the next one released.
  Result<ReaderLease> Lease() {
    std::unique_lock lock(pool_mu_);
    if (idle_.empty() && readers_.size() < kMaxReaders) {
      auto r = NewReader();
      if (!r.ok()) return r.status();
      return ReaderLease(this, *r);
    }
    pool_cv_.wait(lock, [&] { return !idle_.empty(); });
    Reader* r = idle_.back();
    idle_.pop_back();
    return ReaderLease(this, r);
  }
  void Release(Reader* r) {
    {
      std::lock_guard lock(pool_mu_);
      idle_.push_back(r);
    }
    pool_cv_.notify_one();
  }
  // Callers hold pool_mu_ (or are opening the store).
  Result<Reader*> NewReader() {
    auto r = std::make_unique<Reader>();
    const int rc =
        sqlite3_open_v2(path_.c_str(), &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) return IoError(path_ + ": cannot open a reading connection");
    sqlite3_busy_timeout(r->db, 5000);
    readers_.push_back(std::move(r));
    return readers_.back().get();
  }

  std::mutex mu_;  // the writing connection
  sqlite3* db_;
  std::string path_;
  std::vector<std::pair<std::string, std::unique_ptr<Statement>>> statements_;
  std::mutex pool_mu_;  // the reading connections
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Reader>> readers_;
  std::vector<Reader*> idle_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return IoError(dir + ": not a directory (create it first)");
  const std::string path = (std::filesystem::path(dir) / "sovgrid.db").string();
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = path + ": cannot open database: " +
                      (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return IoError(std::move(msg));
  }
  sqlite3_busy_timeout(db, 5000);
  auto store = std::make_unique<SqliteStore>(db, path);
  if (Status s = store->Init(); !s.ok()) return s;
  if (Status s = store->OpenReader(); !s.ok()) return s;
  // The database holds token hashes and every tenant's jobs: the daemon's
  // alone. SQLite creates -wal and -shm with the database's mode; files made
  // by an earlier version (or another umask) are narrowed here.
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string file = path + suffix;
    if (::chmod(file.c_str(), 0600) != 0 && errno != ENOENT)
      return IoError(file + ": cannot set mode 0600: " + std::strerror(errno));
  }
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace sovgrid::store
