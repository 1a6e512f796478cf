// The Store on PostgreSQL through libpq (postgres_store.h). Statements are
// prepared once per connection; batches travel as arrays (unnest) so that a
// batch of N jobs is one round trip, not N.
#include "store/postgres_store.h"

#include <libpq-fe.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace sovgrid::store {
namespace {

// Versioned migrations: kMigrations[i] brings the schema from version i to
// i + 1. Append only; never edit one that has shipped.
constexpr std::string_view kMigrations[] = {
    // 1: the schema of SqliteStore's version 2 (tenant-scoped ids, names, backend handles).
    R"sql(
CREATE TABLE jobs (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL DEFAULT '',
  tenant TEXT NOT NULL,
  spec TEXT NOT NULL,
  state TEXT NOT NULL,
  submitted_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  assignment TEXT NOT NULL DEFAULT '',
  backend_ref TEXT NOT NULL DEFAULT ''
);
CREATE INDEX jobs_by_tenant ON jobs (tenant, seq);
CREATE INDEX jobs_by_state ON jobs (state, seq);
CREATE INDEX jobs_by_name ON jobs (name, seq);
CREATE TABLE job_events (
  seq BIGSERIAL PRIMARY KEY,
  job_seq BIGINT NOT NULL REFERENCES jobs (seq),
  at BIGINT NOT NULL,
  state TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX job_events_by_job ON job_events (job_seq, seq);
CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL,
  role TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE audit (
  seq BIGSERIAL PRIMARY KEY,
  at BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE TABLE settings (
  seq BIGSERIAL PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  value TEXT NOT NULL
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
)sql",
    // 2: the leader's lease (several daemons on one store, docs/deployment.md).
    R"sql(
CREATE TABLE lease (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  holder TEXT NOT NULL DEFAULT '',
  address TEXT NOT NULL DEFAULT '',
  epoch BIGINT NOT NULL DEFAULT 0,
  expires_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity'
);
INSERT INTO lease (id) VALUES (1);
)sql",
    // 3: usage records and their daily sums (accounting; as SqliteStore's version 3).
    R"sql(
CREATE TABLE usage (
  seq BIGSERIAL PRIMARY KEY,
  job TEXT NOT NULL,
  tenant TEXT NOT NULL,
  grant_holder TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  pool TEXT NOT NULL,
  site TEXT NOT NULL,
  operator TEXT NOT NULL,
  model TEXT NOT NULL,
  milli BIGINT NOT NULL,
  start_at BIGINT NOT NULL,
  end_at BIGINT NOT NULL,
  day BIGINT NOT NULL,
  accelerator_s DOUBLE PRECISION NOT NULL,
  units DOUBLE PRECISION NOT NULL,
  energy_kwh DOUBLE PRECISION NOT NULL,
  lost_accelerator_s DOUBLE PRECISION NOT NULL,
  end_reason TEXT NOT NULL,
  job_ended BOOLEAN NOT NULL
);
CREATE INDEX usage_by_day ON usage (day, start_at);
CREATE TABLE usage_daily (
  day BIGINT NOT NULL,
  tenant TEXT NOT NULL,
  grant_holder TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  pool TEXT NOT NULL,
  site TEXT NOT NULL,
  operator TEXT NOT NULL,
  model TEXT NOT NULL,
  accelerator_s DOUBLE PRECISION NOT NULL,
  units DOUBLE PRECISION NOT NULL,
  energy_kwh DOUBLE PRECISION NOT NULL,
  lost_accelerator_s DOUBLE PRECISION NOT NULL,
  jobs BIGINT NOT NULL,
  segments BIGINT NOT NULL,
  PRIMARY KEY (day, tenant, grant_holder, grant_id, pool)
);
)sql",
};
static_assert(std::size(kMigrations) == kPostgresSchemaVersion);

constexpr const char* kJobColumns =
    "seq, id, tenant, spec, state, submitted_at, updated_at, reason, assignment, backend_ref, "
    "name";

std::int64_t ToInt(const char* s) { return std::strtoll(s, nullptr, 10); }
double ToDouble(const std::string& s) { return std::strtod(s.c_str(), nullptr); }

// A PGresult, cleared when it goes out of scope.
class Res {
 public:
  explicit Res(PGresult* r) : r_(r) {}
  ~Res() { PQclear(r_); }
  Res(Res&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Res(const Res&) = delete;
  Res& operator=(const Res&) = delete;
  Res& operator=(Res&& o) noexcept {
    if (this != &o) {
      PQclear(r_);
      r_ = o.r_;
      o.r_ = nullptr;
    }
    return *this;
  }
  PGresult* get() const { return r_; }
  bool ok() const {
    const ExecStatusType s = PQresultStatus(r_);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  }
  int rows() const { return PQntuples(r_); }
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col),
                       static_cast<std::size_t>(PQgetlength(r_, row, col)));
  }
  std::int64_t Int(int row, int col) const { return ToInt(PQgetvalue(r_, row, col)); }
  std::int64_t Affected() const { return ToInt(PQcmdTuples(r_)); }
  std::string SqlState() const {
    const char* s = PQresultErrorField(r_, PG_DIAG_SQLSTATE);
    return s == nullptr ? std::string() : std::string(s);
  }

 private:
  PGresult* r_;
};

StoredJob ReadJob(const Res& r, int row) {
  StoredJob j;
  j.seq = r.Int(row, 0);
  j.id = r.Text(row, 1);
  j.tenant = r.Text(row, 2);
  j.spec_json = r.Text(row, 3);
  j.state = r.Text(row, 4);
  j.submitted_at = r.Int(row, 5);
  j.updated_at = r.Int(row, 6);
  j.reason = r.Text(row, 7);
  j.assignment_json = r.Text(row, 8);
  j.backend_ref = r.Text(row, 9);
  j.name = r.Text(row, 10);
  return j;
}

// PostgreSQL array literals for text[] and bigint[] parameters.
class ArrayParam {
 public:
  void Add(std::string_view v) {
    s_ += s_.empty() ? "{\"" : ",\"";
    for (char c : v) {
      if (c == '"' || c == '\\') s_ += '\\';
      s_ += c;
    }
    s_ += '"';
  }
  void Add(std::int64_t v) {
    s_ += s_.empty() ? "{" : ",";
    s_ += std::to_string(v);
  }
  void Add(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    s_ += s_.empty() ? "{" : ",";
    s_ += buf;
  }
  std::string Take() { return s_.empty() ? std::string("{}") : std::move(s_) + "}"; }

 private:
  std::string s_;
};

// One libpq connection with its prepared statements; one thread at a time.
class Conn {
 public:
  Conn(PGconn* c, const std::string* server, std::string session_sql = {})
      : c_(c), server_(server), session_sql_(std::move(session_sql)) {}
  ~Conn() { PQfinish(c_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Re-opens a lost connection (a server restart) and sets the session up.
  Status Ensure() {
    // Reads what the server sent meanwhile without waiting: a server that
    // went away (a restart) closed the socket, which marks the connection bad
    // here, before a statement is sent on it.
    // (Twice: the first read may take its goodbye message, the second its end.)
    const bool alive =
        PQconsumeInput(c_) == 1 && PQconsumeInput(c_) == 1 && PQstatus(c_) == CONNECTION_OK;
    if (alive && configured_) return Status::Ok();
    if (!alive) {
      PQreset(c_);
      prepared_.clear();
      if (PQstatus(c_) != CONNECTION_OK) return ConnectionError(c_, *server_);
    }
    // Durable commits whatever the server's or role's default says.
    Res r(PQexec(c_,
                 "SET synchronous_commit = on; SET client_encoding = 'UTF8'; SET "
                 "client_min_messages = warning"));
    if (!r.ok()) return Error("configure the session", r);
    if (!session_sql_.empty()) {
      Res extra(PQexec(c_, session_sql_.c_str()));
      if (!extra.ok()) return Error("configure the session", extra);
    }
    configured_ = true;
    return Status::Ok();
  }

  // Runs `sql` (prepared on first use) with text parameters.
  Res Run(const std::string& sql, const std::vector<std::string>& params) {
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      std::string name = "s" + std::to_string(prepared_.size());
      Res p(PQprepare(c_, name.c_str(), sql.c_str(), static_cast<int>(params.size()), nullptr));
      if (!p.ok()) return p;
      it = prepared_.emplace(sql, std::move(name)).first;
    }
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p.c_str());
    return Res(PQexecPrepared(c_, it->second.c_str(), static_cast<int>(values.size()),
                              values.data(), nullptr, nullptr, 0));
  }
  bool Lost() const { return PQstatus(c_) != CONNECTION_OK; }
  // A statement without parameters, not prepared (BEGIN, COMMIT, DDL).
  Res Simple(const char* sql) { return Res(PQexec(c_, sql)); }

  // "SERVER: cannot WHAT: SQLSTATE XXXXX: message", or the connection's error.
  Status Error(const std::string& what, const Res& r) const {
    if (PQstatus(c_) != CONNECTION_OK) {
      return IoError(*server_ + ": cannot " + what +
                     ": connection lost: " + Trim(PQerrorMessage(c_)));
    }
    const std::string state = r.SqlState();
    std::string msg = Trim(PQresultErrorMessage(r.get()));
    if (msg.empty()) msg = Trim(PQerrorMessage(c_));
    return IoError(*server_ + ": cannot " + what + (state.empty() ? "" : ": SQLSTATE " + state) +
                   ": " + msg);
  }
  static Status ConnectionError(PGconn* c, const std::string& server) {
    return IoError(server + ": cannot connect: " +
                   (c == nullptr ? std::string("out of memory") : Trim(PQerrorMessage(c))));
  }
  static std::string Trim(const char* s) {
    std::string out = s == nullptr ? "" : s;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    for (auto& ch : out) {
      if (ch == '\n') ch = ' ';
    }
    return out;
  }

 private:
  PGconn* c_;
  const std::string* server_;
  std::string session_sql_;  // more SET statements for this session
  bool configured_ = false;
  std::unordered_map<std::string, std::string> prepared_;
};

constexpr std::size_t kMaxReaders = 8;

// Opens a connection to `uri` (connect_timeout in seconds; TCP keepalives so
// that a server gone silent is noticed).
PGconn* ConnectRaw(const std::string& uri, const char* connect_timeout) {
  const char* keys[] = {"dbname",          "application_name",    "connect_timeout",  "keepalives",
                        "keepalives_idle", "keepalives_interval", "keepalives_count", nullptr};
  const char* values[] = {uri.c_str(), "sovgrid", connect_timeout, "1", "5", "2", "3", nullptr};
  return PQconnectdbParams(keys, values, 1);
}

// "BEGIN; <the fence check>" as one simple query, the holder escaped as a
// standard SQL literal (the server's default standard_conforming_strings).
std::string BeginFencedSql(const LeaderFence& fence) {
  std::string holder = "'";
  for (char c : fence.holder) {
    if (c == '\'') holder += '\'';
    holder += c;
  }
  holder += '\'';
  return "BEGIN; SELECT 1 FROM lease WHERE id = 1 AND epoch = " + std::to_string(fence.epoch) +
         " AND holder = " + holder + " FOR SHARE";
}

// Rows of (day, tenant, grant_holder, grant_id, pool, site, operator, model,
// accelerator_s, units, energy_kwh, lost_accelerator_s, jobs, segments).
std::vector<accounting::DailyUsage> DailyUsageRows(const Res& q) {
  std::vector<accounting::DailyUsage> out;
  out.reserve(static_cast<std::size_t>(q.rows()));
  for (int i = 0; i < q.rows(); ++i) {
    accounting::DailyUsage d;
    d.day = q.Int(i, 0);
    d.tenant = q.Text(i, 1);
    d.grant_holder = q.Text(i, 2);
    d.grant = q.Text(i, 3);
    d.pool = q.Text(i, 4);
    d.site = q.Text(i, 5);
    d.operator_name = q.Text(i, 6);
    d.model = q.Text(i, 7);
    d.sum.accelerator_seconds = ToDouble(q.Text(i, 8));
    d.sum.charged_units = ToDouble(q.Text(i, 9));
    d.sum.energy_kwh = ToDouble(q.Text(i, 10));
    d.sum.lost_accelerator_seconds = ToDouble(q.Text(i, 11));
    d.sum.jobs = q.Int(i, 12);
    d.sum.segments = q.Int(i, 13);
    out.push_back(std::move(d));
  }
  return out;
}

class PostgresStore final : public Store {
 public:
  PostgresStore(std::string uri, std::string server, std::shared_ptr<LeaderFence> fence)
      : uri_(std::move(uri)), server_(std::move(server)), fence_(std::move(fence)) {}
  ~PostgresStore() override {
    std::lock_guard lock(analyze_mu_);
    if (analyze_thread_.joinable()) analyze_thread_.join();
  }
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  Result<std::unique_ptr<Conn>> Connect(std::string session_sql = {}) {
    PGconn* c = ConnectRaw(uri_, "10");
    if (c == nullptr || PQstatus(c) != CONNECTION_OK) {
      Status s = Conn::ConnectionError(c, server_);
      PQfinish(c);
      return s;
    }
    auto conn = std::make_unique<Conn>(c, &server_, std::move(session_sql));
    if (Status s = conn->Ensure(); !s.ok()) return s;
    return conn;
  }

  Status Init() {
    // A leader's writing connection: a transaction left open by a paused
    // process (SIGSTOP) holds its share lock on the lease row, which would
    // keep a successor from taking the lease; the server ends it.
    auto w = Connect(fence_ == nullptr ? std::string()
                                       : "SET idle_in_transaction_session_timeout = " +
                                             std::to_string(std::max<std::int64_t>(
                                                 fence_->idle_transaction_timeout_ms, 100)));
    if (!w.ok()) return w.status();
    writer_ = std::move(w).value();
    if (fence_ != nullptr) begin_fenced_sql_ = BeginFencedSql(*fence_);
    if (Status s = Migrate(); !s.ok()) return s;
    auto r = Connect();  // the first reading connection: a failure shows at open
    if (!r.ok()) return r.status();
    readers_.push_back(std::move(r).value());
    idle_.push_back(readers_.back().get());
    return Status::Ok();
  }

  // Applies the missing migrations in one transaction under the advisory lock.
  Status Migrate() {
    Conn& c = *writer_;
    if (Res r = c.Simple("BEGIN"); !r.ok()) return c.Error("begin the migration", r);
    auto fail = [&](const std::string& what, const Res& r) {
      Status s = c.Error(what, r);
      c.Simple("ROLLBACK");
      return s;
    };
    {
      Res r =
          c.Run("SELECT pg_advisory_xact_lock($1::bigint)", {std::to_string(kMigrationLockKey)});
      if (!r.ok()) return fail("take the migration lock", r);
    }
    {
      Res r = c.Simple(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
          "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
      if (!r.ok()) return fail("create schema_migrations", r);
    }
    std::int64_t version = 0;
    {
      Res r = c.Simple("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
      if (!r.ok() || r.rows() != 1) return fail("read the schema version", r);
      version = r.Int(0, 0);
    }
    if (version > kPostgresSchemaVersion) {
      c.Simple("ROLLBACK");
      return FailedPrecondition(server_ + ": database schema version " + std::to_string(version) +
                                " is newer than this sovgrid (" +
                                std::to_string(kPostgresSchemaVersion) + "): upgrade sovgrid");
    }
    for (auto v = version; v < kPostgresSchemaVersion; ++v) {
      const std::string sql(kMigrations[v]);
      if (Res r = c.Simple(sql.c_str()); !r.ok())
        return fail("apply schema migration " + std::to_string(v + 1), r);
      Res r = c.Run("INSERT INTO schema_migrations (version) VALUES ($1::integer)",
                    {std::to_string(v + 1)});
      if (!r.ok()) return fail("record schema migration " + std::to_string(v + 1), r);
    }
    if (Res r = c.Simple("COMMIT"); !r.ok()) return fail("commit the migration", r);
    return Status::Ok();
  }

  Status AddJobs(const std::vector<StoredJob>& jobs,
                 const std::vector<AuditEntry>& audit) override {
    Status s = InsertJobs(jobs, audit);
    if (s.ok()) AnalyzeAsJobsGrow(jobs.size());
    return s;
  }

  // After every doubling of the jobs this store inserted (from 1,000 on),
  // `ANALYZE jobs` on a reading connection, in a thread of its own (the
  // submission that crossed the threshold leads a group commit: it must not
  // wait), which does not block writes: the statistics of a table that grew
  // from empty were those of an empty table until autovacuum came by (a
  // minute), and the prepared statements' plans made from them (a sequential
  // scan per id looked up) stayed until then. ANALYZE invalidates them. At
  // most one at a time; a failure is ignored (autovacuum analyzes too).
  void AnalyzeAsJobsGrow(std::size_t inserted) {
    const auto total = inserted_jobs_ += static_cast<std::int64_t>(inserted);
    if (total < next_analyze_.load() || analyzing_.exchange(true)) return;
    std::lock_guard lock(analyze_mu_);
    if (analyze_thread_.joinable()) analyze_thread_.join();  // it has ended: analyzing_ was false
    analyze_thread_ = std::thread([this, total] {
      if (auto r = Lease(); r.ok()) {
        Res q = r->conn().Simple("ANALYZE jobs");
        if (q.ok()) next_analyze_ = 2 * total;
      }
      analyzing_ = false;
    });
  }

  Status InsertJobs(const std::vector<StoredJob>& jobs, const std::vector<AuditEntry>& audit) {
    if (jobs.empty()) {
      std::lock_guard lock(mu_);
      if (Status s = Begin(); !s.ok()) return s;
      if (Status s = InsertAudit(audit); !s.ok()) return s;
      return Commit();
    }
    ArrayParam id, name, tenant, spec, state, at, reason, assignment;
    for (const auto& j : jobs) {
      id.Add(j.id);
      name.Add(j.name);
      tenant.Add(j.tenant);
      spec.Add(j.spec_json);
      state.Add(j.state);
      at.Add(j.submitted_at);
      reason.Add(j.reason);
      assignment.Add(j.assignment_json);
    }
    ArrayParam a_at, a_actor, a_action, a_target, a_detail;
    for (const auto& a : audit) {
      a_at.Add(a.at);
      a_actor.Add(a.actor);
      a_action.Add(a.action);
      a_target.Add(a.target);
      a_detail.Add(a.detail);
    }
    std::lock_guard lock(mu_);
    if (Status s = writer_->Ensure(); !s.ok()) return s;
    if (fence_ != nullptr && fence_->lost.load()) return Fenced();
    // The jobs, their first history entries and the audit entries in one
    // statement: atomic and durable on its own (autocommit), one round trip;
    // in a leader's store the same statement checks its epoch first
    // (kFenceCte: the check, the rows and the commit in one round trip).
    const bool fenced = fence_ != nullptr;
    std::string sql = "WITH ";
    std::string gate;
    std::vector<std::string> params;
    if (fenced) {
      sql += std::string(kFenceCte) + ", ";
      gate = std::string(" WHERE ") + kFenceHeld;
      params = {std::to_string(fence_->epoch), fence_->holder};
    }
    const int p0 = static_cast<int>(params.size());  // the parameters after the fence's
    auto p = [&](int i) { return "$" + std::to_string(p0 + i); };
    sql += "x AS (SELECT * FROM unnest(" + p(1) + "::text[], " + p(2) + "::text[], " + p(3) +
           "::text[], " + p(4) + "::text[], " + p(5) + "::text[], " + p(6) + "::bigint[], " + p(7) +
           "::text[], " + p(8) +
           "::text[]) WITH ORDINALITY "
           "AS x(id, name, tenant, spec, state, at, reason, assignment, ord)" +
           gate +
           "), "
           "ins AS (INSERT INTO jobs (id, name, tenant, spec, state, submitted_at, updated_at, "
           "reason, assignment) SELECT id, name, tenant, spec, state, at, at, reason, assignment "
           "FROM x ORDER BY ord RETURNING seq, submitted_at, state, reason), "
           "ev AS (INSERT INTO job_events (job_seq, at, state, detail) "
           "SELECT seq, submitted_at, state, reason FROM ins ORDER BY seq) "
           "INSERT INTO audit (at, actor, action, target, detail) "
           "SELECT at, actor, action, target, detail FROM unnest(" +
           p(9) + "::bigint[], " + p(10) + "::text[], " + p(11) + "::text[], " + p(12) +
           "::text[], " + p(13) +
           "::text[]) WITH ORDINALITY "
           "AS a(at, actor, action, target, detail, ord)" +
           gate + " ORDER BY ord";
    params.insert(params.end(),
                  {id.Take(), name.Take(), tenant.Take(), spec.Take(), state.Take(), at.Take(),
                   reason.Take(), assignment.Take(), a_at.Take(), a_actor.Take(), a_action.Take(),
                   a_target.Take(), a_detail.Take()});
    Res r = writer_->Run(sql, params);
    bool again = false;
    if (!r.ok() && writer_->Lost() && writer_->Ensure().ok()) {
      // The connection was lost (a server restart): once more on a fresh one.
      again = true;
      r = writer_->Run(sql, params);
    }
    if (r.ok()) return Status::Ok();
    if (fenced && r.SqlState() == kFenceFailed) return LoseFence();
    const bool duplicate = r.SqlState() == "23505";
    Status error = writer_->Error("insert jobs", r);
    if (!duplicate) return error;
    std::vector<std::string> all;
    for (const auto& j : jobs) all.push_back(j.id);
    auto existing = Existing(*writer_, all);
    if (!existing.ok()) return existing.status();
    // The first try committed before its answer was lost: the statement is
    // atomic, so all of its jobs are there (and the callers' ids were new).
    if (again && existing->size() == jobs.size()) return Status::Ok();
    std::unordered_set<std::string> taken(existing->begin(), existing->end());
    for (const auto& j : jobs) {
      if (!taken.insert(j.id).second) return AlreadyExists("job '" + j.id + "' already exists");
    }
    return error;
  }

  Status UpdateJobs(const std::vector<JobUpdate>& updates,
                    const std::vector<AuditEntry>& audit) override {
    if (updates.empty() && audit.empty()) return Status::Ok();
    std::lock_guard lock(mu_);
    if (Status s = Begin(); !s.ok()) return s;
    std::unordered_set<std::string> unique;
    for (const auto& u : updates) unique.insert(u.id);
    if (unique.size() == updates.size() && !updates.empty()) {
      // Distinct jobs: one statement for the whole batch.
      ArrayParam id, state, at, reason, assignment, ref;
      for (const auto& u : updates) {
        id.Add(u.id);
        state.Add(u.state);
        at.Add(u.at);
        reason.Add(u.reason);
        assignment.Add(u.assignment_json);
        ref.Add(u.backend_ref);
      }
      Res r = writer_->Run(
          "WITH x AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], "
          "$5::text[], $6::text[]) WITH ORDINALITY "
          "AS x(id, state, at, reason, assignment, ref, ord)), "
          "u AS (UPDATE jobs j SET state = x.state, updated_at = x.at, reason = x.reason, "
          "assignment = x.assignment, backend_ref = x.ref FROM x WHERE j.id = x.id "
          "RETURNING j.seq, x.at, x.state, x.reason, x.ord) "
          "INSERT INTO job_events (job_seq, at, state, detail) "
          "SELECT seq, at, state, reason FROM u ORDER BY ord",
          {id.Take(), state.Take(), at.Take(), reason.Take(), assignment.Take(), ref.Take()});
      if (!r.ok()) return ErrorAndRollback("update jobs", r);
      if (r.Affected() != static_cast<std::int64_t>(updates.size())) {
        Rollback();
        std::vector<std::string> all;
        for (const auto& u : updates) all.push_back(u.id);
        auto existing = Existing(*writer_, all);
        if (!existing.ok()) return existing.status();
        std::unordered_set<std::string> found(existing->begin(), existing->end());
        for (const auto& u : updates) {
          if (found.count(u.id) == 0) return NotFound("job '" + u.id + "' not found");
        }
        return Internal(server_ + ": update jobs: fewer rows changed than jobs named");
      }
    } else {
      // A job changed twice in one batch: in order, one statement each.
      for (const auto& u : updates) {
        Res r = writer_->Run(
            "WITH u AS (UPDATE jobs SET state = $1, updated_at = $2::bigint, reason = $3, "
            "assignment = $4, backend_ref = $5 WHERE id = $6 RETURNING seq) "
            "INSERT INTO job_events (job_seq, at, state, detail) "
            "SELECT seq, $2::bigint, $1, $3 FROM u",
            {u.state, std::to_string(u.at), u.reason, u.assignment_json, u.backend_ref, u.id});
        if (!r.ok()) return ErrorAndRollback("update job '" + u.id + "'", r);
        if (r.Affected() == 0) {
          Rollback();
          return NotFound("job '" + u.id + "' not found");
        }
      }
    }
    if (Status s = InsertAudit(audit); !s.ok()) return s;
    if (Status s = InsertUsage(updates); !s.ok()) return s;
    return Commit();
  }

  Result<std::vector<accounting::DailyUsage>> DailyUsageBetween(std::int64_t first_day,
                                                                std::int64_t last_day) override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Res q = r->Run(
        "SELECT day, tenant, grant_holder, grant_id, pool, site, operator, model, accelerator_s, "
        "units, energy_kwh, lost_accelerator_s, jobs, segments FROM usage_daily "
        "WHERE day >= $1::bigint AND day <= $2::bigint",
        {std::to_string(first_day), std::to_string(last_day)});
    if (!q.ok()) return r->conn().Error("read daily usage", q);
    return DailyUsageRows(q);
  }

  Result<std::vector<accounting::DailyUsage>> ClippedUsageBetween(std::int64_t from,
                                                                  std::int64_t until) override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    // $1 = from, $2 = until; `f` is ClippedSumOf's share of a record inside
    // the window; lost work and the job count belong to the record's end.
    Res q = r->Run(
        "SELECT day, tenant, grant_holder, grant_id, pool, MIN(site), MIN(operator), MIN(model), "
        "SUM(accelerator_s * f), SUM(units * f), SUM(energy_kwh * f), "
        "SUM(CASE WHEN end_at <= $2::bigint THEN lost_accelerator_s ELSE 0 END), "
        "SUM(CASE WHEN job_ended AND end_at <= $2::bigint THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN f > 0 OR inside THEN 1 ELSE 0 END) "
        "FROM (SELECT *, (start_at >= $1::bigint AND end_at <= $2::bigint) AS inside, "
        "  CASE WHEN start_at >= $1::bigint AND end_at <= $2::bigint THEN 1.0::float8 "
        "       WHEN end_at > start_at THEN (LEAST(end_at, $2::bigint) - "
        "GREATEST(start_at, $1::bigint))::float8 / (end_at - start_at) ELSE 0.0::float8 END AS f "
        "  FROM usage WHERE day >= $3::bigint AND day <= $4::bigint "
        "  AND start_at < $2::bigint AND end_at > $1::bigint) AS clipped "
        "GROUP BY day, tenant, grant_holder, grant_id, pool",
        {std::to_string(from), std::to_string(until), std::to_string(model::DayOf(from)),
         std::to_string(model::DayOf(until))});
    if (!q.ok()) return r->conn().Error("sum usage records", q);
    return DailyUsageRows(q);
  }

  Result<std::vector<model::UsageRecord>> UsageRecords(std::int64_t from, std::int64_t until,
                                                       std::int64_t limit) override {
    if (limit < 1 || limit > 10'000'000) return InvalidArgument("limit: expected 1..10000000");
    auto r = Lease();
    if (!r.ok()) return r.status();
    Res q = r->Run(
        "SELECT job, tenant, grant_holder, grant_id, pool, site, operator, model, milli, "
        "start_at, end_at, accelerator_s, units, energy_kwh, lost_accelerator_s, end_reason, "
        "job_ended FROM usage WHERE day >= $1::bigint AND day <= $2::bigint "
        "AND start_at < $3::bigint AND end_at > $4::bigint ORDER BY start_at, seq LIMIT $5::bigint",
        {std::to_string(model::DayOf(from)), std::to_string(model::DayOf(until)), std::to_string(until),
         std::to_string(from), std::to_string(limit)});
    if (!q.ok()) return r->conn().Error("read usage records", q);
    std::vector<model::UsageRecord> out;
    for (int i = 0; i < q.rows(); ++i) {
      model::UsageRecord x;
      x.job = q.Text(i, 0);
      x.tenant = q.Text(i, 1);
      x.grant_holder = q.Text(i, 2);
      x.grant = q.Text(i, 3);
      x.pool = q.Text(i, 4);
      x.site = q.Text(i, 5);
      x.operator_name = q.Text(i, 6);
      x.model = q.Text(i, 7);
      x.milli = q.Int(i, 8);
      x.start = q.Int(i, 9);
      x.end = q.Int(i, 10);
      x.accelerator_seconds = ToDouble(q.Text(i, 11));
      x.charged_units = ToDouble(q.Text(i, 12));
      x.energy_kwh = ToDouble(q.Text(i, 13));
      x.lost_accelerator_seconds = ToDouble(q.Text(i, 14));
      x.end_reason = q.Text(i, 15);
      x.job_ended = q.Text(i, 16) == "t";
      out.push_back(std::move(x));
    }
    return out;
  }

  Status RecordBackendRefs(const std::vector<std::pair<std::string, std::string>>& refs) override {
    if (refs.empty()) return Status::Ok();
    // The last handle given for a job wins, as when they are applied in order.
    std::unordered_map<std::string, std::string> last;
    for (const auto& [id, ref] : refs) last[id] = ref;
    ArrayParam ids, values;
    for (const auto& [id, ref] : last) {
      ids.Add(id);
      values.Add(ref);
    }
    std::lock_guard lock(mu_);
    if (Status s = writer_->Ensure(); !s.ok()) return s;
    Res r = RunIdempotent(
        "UPDATE jobs j SET backend_ref = x.ref FROM unnest($1::text[], $2::text[]) AS x(id, ref) "
        "WHERE j.id = x.id",
        {ids.Take(), values.Take()});
    if (!r.ok()) return WriteError("record job handles", r);
    return Status::Ok();
  }

  Result<std::vector<StoredJob>> FindJobsByName(const std::string& name, int limit) override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Res q = r->Run(std::string("SELECT ") + kJobColumns +
                       " FROM jobs WHERE name = $1 ORDER BY seq LIMIT $2::bigint",
                   {name, std::to_string(limit)});
    if (!q.ok()) return r->conn().Error("find jobs by name", q);
    std::vector<StoredJob> out;
    for (int i = 0; i < q.rows(); ++i) out.push_back(ReadJob(q, i));
    return out;
  }

  Result<StoredJob> GetJob(const std::string& id) override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Res q = r->Run(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = $1", {id});
    if (!q.ok()) return r->conn().Error("read job '" + id + "'", q);
    if (q.rows() == 0) return NotFound("job '" + id + "' not found");
    return ReadJob(q, 0);
  }

  Result<std::vector<std::string>> ExistingJobIds(const std::vector<std::string>& ids) override {
    if (ids.empty()) return std::vector<std::string>();
    auto r = Lease();
    if (!r.ok()) return r.status();
    return Existing(r->conn(), ids);
  }

  Result<std::vector<JobEvent>> JobHistory(const std::string& id) override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Res q = r->Run(
        "SELECT e.at, e.state, e.detail FROM job_events e JOIN jobs j ON j.seq = e.job_seq "
        "WHERE j.id = $1 ORDER BY e.seq",
        {id});
    if (!q.ok()) return r->conn().Error("read history of job '" + id + "'", q);
    std::vector<JobEvent> out;
    for (int i = 0; i < q.rows(); ++i) out.push_back({q.Int(i, 0), q.Text(i, 1), q.Text(i, 2)});
    if (out.empty()) return NotFound("job '" + id + "' not found");
    return out;
  }

  Result<JobPage> ListJobs(const JobFilter& f) override {
    if (f.limit < 1 || f.limit > 10000) return InvalidArgument("limit: expected 1..10000");
    if (f.after_seq < 0) return InvalidArgument("after: expected a cursor >= 0");
    // One statement per shape of filter (state or not, tenants or not): four.
    std::vector<std::string> params = {std::to_string(f.after_seq)};
    std::string where = "seq > $1::bigint";
    if (!f.state.empty()) {
      params.push_back(f.state);
      where += " AND state = $" + std::to_string(params.size());
    }
    std::string sql;
    if (f.tenants.empty()) {
      params.push_back(std::to_string(static_cast<std::int64_t>(f.limit) + 1));
      sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE " + where +
            " ORDER BY seq LIMIT $" + std::to_string(params.size()) + "::bigint";
    } else {
      // Per tenant, the first rows after the cursor in jobs_by_tenant's order
      // (ORDER BY tenant, seq: only that index gives it without a sort), then
      // the first of those: a page reads at most (tenants x limit) rows
      // whatever the statistics say. (`tenant = ANY(...) ORDER BY seq` let
      // the planner walk the primary key past every other tenant's rows, or
      // fetch and sort all of a big tenant's rows, on each page.)
      ArrayParam tenants;
      for (const auto& t : f.tenants) tenants.Add(t);
      params.push_back(tenants.Take());
      const std::string tenants_param = "$" + std::to_string(params.size());
      params.push_back(std::to_string(static_cast<std::int64_t>(f.limit) + 1));
      const std::string limit_param = "$" + std::to_string(params.size()) + "::bigint";
      sql = std::string("SELECT j.* FROM (SELECT DISTINCT tenant FROM unnest(") + tenants_param +
            "::text[]) AS u(tenant)) AS t CROSS JOIN LATERAL (SELECT " + kJobColumns +
            " FROM jobs WHERE jobs.tenant = t.tenant AND " + where +
            " ORDER BY jobs.tenant, seq LIMIT " + limit_param + ") AS j ORDER BY j.seq LIMIT " +
            limit_param;
    }
    auto r = Lease();
    if (!r.ok()) return r.status();
    Res q = r->Run(sql, params);
    if (!q.ok()) return r->conn().Error("list jobs", q);
    JobPage page;
    page.jobs.reserve(static_cast<std::size_t>(q.rows()));
    for (int i = 0; i < q.rows(); ++i) page.jobs.push_back(ReadJob(q, i));
    if (page.jobs.size() > static_cast<std::size_t>(f.limit)) {
      page.jobs.pop_back();
      page.next_after = page.jobs.back().seq;
    }
    return page;
  }

  Result<std::vector<StoredJob>> ActiveJobs() override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Res q = r->Run(std::string("SELECT ") + kJobColumns +
                       " FROM jobs WHERE state IN ('pending', 'running') ORDER BY seq",
                   {});
    if (!q.ok()) return r->conn().Error("read active jobs", q);
    std::vector<StoredJob> out;
    out.reserve(static_cast<std::size_t>(q.rows()));
    for (int i = 0; i < q.rows(); ++i) out.push_back(ReadJob(q, i));
    return out;
  }

  Status AddToken(const TokenRecord& t, const std::vector<AuditEntry>& audit) override {
    std::lock_guard lock(mu_);
    if (Status s = Begin(); !s.ok()) return s;
    {
      Res r = writer_->Run(
          "INSERT INTO tokens (id, hash, tenant, role, created_at, revoked) "
          "VALUES ($1, $2, $3, $4, $5::bigint, $6::boolean)",
          {t.id, t.hash, t.tenant, t.role, std::to_string(t.created_at),
           t.revoked ? "true" : "false"});
      if (!r.ok()) {
        const bool duplicate = r.SqlState() == "23505";
        Status error = ErrorAndRollback("insert token", r);
        if (duplicate) return AlreadyExists("token '" + t.id + "' already exists");
        return error;
      }
    }
    if (Status s = InsertAudit(audit); !s.ok()) return s;
    return Commit();
  }

  Result<TokenRecord> FindTokenByHash(const std::string& hash) override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Res q = r->Run(
        "SELECT id, hash, tenant, role, created_at, revoked FROM tokens "
        "WHERE hash = $1 AND NOT revoked",
        {hash});
    if (!q.ok()) return r->conn().Error("read token", q);
    if (q.rows() == 0) return NotFound("no such token");
    return ReadToken(q, 0);
  }

  Status RevokeToken(const std::string& id, const std::vector<AuditEntry>& audit) override {
    std::lock_guard lock(mu_);
    if (Status s = Begin(); !s.ok()) return s;
    {
      Res r = writer_->Run("UPDATE tokens SET revoked = true WHERE id = $1", {id});
      if (!r.ok()) return ErrorAndRollback("revoke token", r);
      if (r.Affected() == 0) {
        Rollback();
        return NotFound("token '" + id + "' not found");
      }
    }
    if (Status s = InsertAudit(audit); !s.ok()) return s;
    return Commit();
  }

  Result<std::vector<TokenRecord>> ListTokens() override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Res q = r->Run(
        "SELECT id, hash, tenant, role, created_at, revoked FROM tokens ORDER BY id COLLATE \"C\"",
        {});
    if (!q.ok()) return r->conn().Error("list tokens", q);
    std::vector<TokenRecord> out;
    for (int i = 0; i < q.rows(); ++i) out.push_back(ReadToken(q, i));
    return out;
  }

  Status PutSetting(const std::string& key, const std::string& value,
                    const std::vector<AuditEntry>& audit) override {
    std::lock_guard lock(mu_);
    if (Status s = Begin(); !s.ok()) return s;
    {
      // A new seq on every put: the order of seq is the order of the last puts.
      Res r = writer_->Run(
          "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE "
          "SET value = EXCLUDED.value, seq = nextval(pg_get_serial_sequence('settings', 'seq'))",
          {key, value});
      if (!r.ok()) return ErrorAndRollback("write setting '" + key + "'", r);
    }
    if (Status s = InsertAudit(audit); !s.ok()) return s;
    return Commit();
  }

  Result<std::vector<std::pair<std::string, std::string>>> ListSettings() override {
    auto r = Lease();
    if (!r.ok()) return r.status();
    Res q = r->Run("SELECT key, value FROM settings ORDER BY seq", {});
    if (!q.ok()) return r->conn().Error("read settings", q);
    std::vector<std::pair<std::string, std::string>> out;
    for (int i = 0; i < q.rows(); ++i) out.emplace_back(q.Text(i, 0), q.Text(i, 1));
    return out;
  }

  Status AppendAudit(const AuditEntry& a) override {
    std::lock_guard lock(mu_);
    if (Status s = Begin(); !s.ok()) return s;
    Res r = writer_->Run(
        "INSERT INTO audit (at, actor, action, target, detail) VALUES ($1::bigint, $2, $3, $4, $5)",
        {std::to_string(a.at), a.actor, a.action, a.target, a.detail});
    if (!r.ok()) return ErrorAndRollback("append audit entry", r);
    return Commit();
  }

  Status Probe(std::int64_t now) override {
    std::lock_guard lock(mu_);
    if (Status s = writer_->Ensure(); !s.ok()) return s;
    Res r = RunIdempotent(
        "INSERT INTO meta (key, value) VALUES ('heartbeat', $1) ON CONFLICT (key) DO UPDATE "
        "SET value = EXCLUDED.value",
        {std::to_string(now)});
    if (!r.ok()) return WriteError("write a heartbeat", r);
    return Status::Ok();
  }

  Result<std::vector<AuditEntry>> ListAudit(std::int64_t after_seq, int limit) override {
    if (limit < 1 || limit > 10000) return InvalidArgument("limit: expected 1..10000");
    auto r = Lease();
    if (!r.ok()) return r.status();
    Res q = r->Run(
        "SELECT seq, at, actor, action, target, detail FROM audit WHERE seq > $1::bigint "
        "ORDER BY seq LIMIT $2::bigint",
        {std::to_string(after_seq), std::to_string(limit)});
    if (!q.ok()) return r->conn().Error("list audit log", q);
    std::vector<AuditEntry> out;
    for (int i = 0; i < q.rows(); ++i)
      out.push_back(
          {q.Int(i, 0), q.Int(i, 1), q.Text(i, 2), q.Text(i, 3), q.Text(i, 4), q.Text(i, 5)});
    return out;
  }

 private:
  static TokenRecord ReadToken(const Res& q, int i) {
    return {q.Text(i, 0), q.Text(i, 1), q.Text(i, 2),
            q.Text(i, 3), q.Int(i, 4),  q.Text(i, 5) == "t"};
  }
  // Inserts usage records and adds them to their days' sums, inside the
  // caller's transaction (rolled back on failure). Callers hold mu_.
  Status InsertUsage(const std::vector<JobUpdate>& updates) {
    std::vector<const model::UsageRecord*> usage;
    for (const auto& u : updates) {
      for (const auto& x : u.usage) usage.push_back(&x);
    }
    if (usage.empty()) return Status::Ok();
    ArrayParam job, tenant, holder, grant, pool, site, op, model, milli, start, end, day, acc,
        units, energy, lost, reason, started;
    for (const model::UsageRecord* p : usage) {
      const model::UsageRecord& x = *p;
      job.Add(x.job);
      tenant.Add(x.tenant);
      holder.Add(x.grant_holder);
      grant.Add(x.grant);
      pool.Add(x.pool);
      site.Add(x.site);
      op.Add(x.operator_name);
      model.Add(x.model);
      milli.Add(static_cast<std::int64_t>(x.milli));
      start.Add(x.start);
      end.Add(x.end);
      day.Add(x.day());
      acc.Add(x.accelerator_seconds);
      units.Add(x.charged_units);
      energy.Add(x.energy_kwh);
      lost.Add(x.lost_accelerator_seconds);
      reason.Add(x.end_reason);
      started.Add(static_cast<std::int64_t>(x.job_ended ? 1 : 0));
    }
    // One statement: the records, then their sums per key (grouped first: an
    // upsert may not touch one row twice).
    Res r = writer_->Run(
        "WITH x AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
        "$5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], "
        "$11::bigint[], $12::bigint[], $13::float8[], $14::float8[], $15::float8[], "
        "$16::float8[], $17::text[], $18::int[]) AS x(job, tenant, grant_holder, grant_id, pool, "
        "site, operator, model, milli, start_at, end_at, day, accelerator_s, units, energy_kwh, "
        "lost_accelerator_s, end_reason, job_ended)), "
        "i AS (INSERT INTO usage (job, tenant, grant_holder, grant_id, pool, site, operator, "
        "model, milli, start_at, end_at, day, accelerator_s, units, energy_kwh, "
        "lost_accelerator_s, end_reason, job_ended) SELECT job, tenant, grant_holder, grant_id, "
        "pool, site, operator, model, milli, start_at, end_at, day, accelerator_s, units, "
        "energy_kwh, lost_accelerator_s, end_reason, job_ended <> 0 FROM x) "
        "INSERT INTO usage_daily AS d (day, tenant, grant_holder, grant_id, pool, site, operator, "
        "model, accelerator_s, units, energy_kwh, lost_accelerator_s, jobs, segments) "
        "SELECT day, tenant, grant_holder, grant_id, pool, MIN(site), MIN(operator), MIN(model), "
        "SUM(accelerator_s), SUM(units), SUM(energy_kwh), SUM(lost_accelerator_s), "
        "SUM(job_ended), COUNT(*) FROM x GROUP BY day, tenant, grant_holder, grant_id, pool "
        "ON CONFLICT (day, tenant, grant_holder, grant_id, pool) DO UPDATE SET "
        "accelerator_s = d.accelerator_s + excluded.accelerator_s, "
        "units = d.units + excluded.units, energy_kwh = d.energy_kwh + excluded.energy_kwh, "
        "lost_accelerator_s = d.lost_accelerator_s + excluded.lost_accelerator_s, "
        "jobs = d.jobs + excluded.jobs, segments = d.segments + excluded.segments",
        {job.Take(), tenant.Take(), holder.Take(), grant.Take(), pool.Take(), site.Take(),
         op.Take(), model.Take(), milli.Take(), start.Take(), end.Take(), day.Take(), acc.Take(),
         units.Take(), energy.Take(), lost.Take(), reason.Take(), started.Take()});
    if (!r.ok()) return ErrorAndRollback("record usage", r);
    return Status::Ok();
  }
  // Which of `ids` exist, in the order of `ids`.
  Result<std::vector<std::string>> Existing(Conn& c, const std::vector<std::string>& ids) {
    ArrayParam a;
    for (const auto& id : ids) a.Add(id);
    Res q = c.Run("SELECT id FROM jobs WHERE id = ANY($1::text[])", {a.Take()});
    if (!q.ok()) return c.Error("look up job ids", q);
    std::unordered_set<std::string> found;
    for (int i = 0; i < q.rows(); ++i) found.insert(q.Text(i, 0));
    std::vector<std::string> out;
    for (const auto& id : ids) {
      if (found.count(id) != 0) out.push_back(id);
    }
    return out;
  }
  // A write outside a transaction that is safe to repeat: once more on a
  // fresh connection when the old one was lost. Callers hold mu_.
  Res RunIdempotent(const std::string& sql, const std::vector<std::string>& params) {
    if (fence_ != nullptr) {
      // Within a transaction that checks the epoch first (Begin re-opens a lost connection).
      if (Status s = Begin(); !s.ok()) {
        last_fenced_ = s;
        return Res(nullptr);
      }
      Res r = writer_->Run(sql, params);
      if (!r.ok()) {
        Rollback();
        return r;
      }
      if (Status s = Commit(); !s.ok()) {
        last_fenced_ = s;
        return Res(nullptr);
      }
      return r;
    }
    Res r = writer_->Run(sql, params);
    if (r.ok() || !writer_->Lost() || !writer_->Ensure().ok()) return r;
    return writer_->Run(sql, params);
  }
  // Opens a write transaction. In a leader's store its first statement is
  // the fence check: the lease row still names this leader's epoch, locked
  // (FOR SHARE) until the commit, so a successor's takeover waits for this
  // transaction and a transaction after it fails here. BEGIN and the check
  // travel as one simple query (one round trip). FailedPrecondition
  // "fenced: ..." once the check failed (or the owner retired the fence):
  // never another write. Callers hold mu_.
  Status Begin() {
    if (Status s = writer_->Ensure(); !s.ok()) return s;
    if (fence_ != nullptr && fence_->lost.load()) return Fenced();
    const char* sql = fence_ == nullptr ? "BEGIN" : begin_fenced_sql_.c_str();
    Res r = writer_->Simple(sql);
    if (!r.ok() && writer_->Lost() && writer_->Ensure().ok()) {
      // A connection lost since the last call (a server restart): nothing was
      // written yet, so once more on a fresh one.
      r = writer_->Simple(sql);
    }
    if (!r.ok()) {
      return ErrorAndRollback(fence_ == nullptr ? "begin a transaction"
                                                : "begin a transaction (check the leader's lease)",
                              r);
    }
    if (fence_ == nullptr || r.rows() == 1) return Status::Ok();
    Rollback();
    return LoseFence();
  }
  // The fence check failed: this store never writes again.
  Status LoseFence() {
    fence_->lost = true;
    fence_->fenced_commits.fetch_add(1);
    return Fenced();
  }
  // The fence check as the first common table expression of one autocommit
  // statement (`WITH fence AS (...) ...`, its rows gated on `kFenceHeld`):
  // the lease row locked FOR SHARE until that statement commits, and a
  // division by zero (SQLSTATE 22012, kFenceFailed) when the row no longer
  // names this leader's epoch, so that nothing of the statement commits.
  // $1 is the epoch, $2 the holder.
  static constexpr const char* kFenceCte =
      "fence AS (SELECT 1 / count(*)::int AS held FROM (SELECT 1 FROM lease WHERE id = 1 "
      "AND epoch = $1::bigint AND holder = $2 FOR SHARE) AS l)";
  static constexpr const char* kFenceHeld = "(SELECT held FROM fence) = 1";
  static constexpr const char* kFenceFailed = "22012";
  Status Fenced() const {
    return FailedPrecondition("fenced: epoch " + std::to_string(fence_->epoch) +
                              " is no longer the leader's");
  }
  // The error of a RunIdempotent that failed before or after its statement.
  Status WriteError(const std::string& what, const Res& r) {
    if (r.get() == nullptr && !last_fenced_.ok()) {
      Status s = last_fenced_;
      last_fenced_ = Status::Ok();
      return s;
    }
    return writer_->Error(what, r);
  }
  Status Commit() {
    Res r = writer_->Simple("COMMIT");
    if (!r.ok()) {
      Status s = writer_->Error("commit", r);
      Rollback();
      return s;
    }
    // A COMMIT of a failed transaction answers ROLLBACK without an error.
    if (std::string_view(PQcmdStatus(r.get())) == "ROLLBACK")
      return IoError(server_ + ": cannot commit: the transaction was rolled back");
    return Status::Ok();
  }
  void Rollback() { writer_->Simple("ROLLBACK"); }
  Status ErrorAndRollback(const std::string& what, const Res& r) {
    Status s = writer_->Error(what, r);
    Rollback();
    return s;
  }
  Status InsertAudit(const std::vector<AuditEntry>& audit) {
    if (audit.empty()) return Status::Ok();
    ArrayParam at, actor, action, target, detail;
    for (const auto& a : audit) {
      at.Add(a.at);
      actor.Add(a.actor);
      action.Add(a.action);
      target.Add(a.target);
      detail.Add(a.detail);
    }
    Res r = writer_->Run(
        "INSERT INTO audit (at, actor, action, target, detail) "
        "SELECT at, actor, action, target, detail FROM unnest($1::bigint[], $2::text[], "
        "$3::text[], $4::text[], $5::text[]) WITH ORDINALITY "
        "AS x(at, actor, action, target, detail, ord) ORDER BY ord",
        {at.Take(), actor.Take(), action.Take(), target.Take(), detail.Take()});
    if (!r.ok()) return ErrorAndRollback("append audit entries", r);
    return Status::Ok();
  }

  // A reading connection for the lifetime of the lease.
  class ReaderLease {
   public:
    ReaderLease(PostgresStore* store, Conn* conn) : store_(store), conn_(conn) {}
    ~ReaderLease() {
      if (conn_ != nullptr) store_->Release(conn_);
    }
    ReaderLease(ReaderLease&& o) noexcept : store_(o.store_), conn_(o.conn_) { o.conn_ = nullptr; }
    ReaderLease(const ReaderLease&) = delete;
    ReaderLease& operator=(const ReaderLease&) = delete;
    ReaderLease& operator=(ReaderLease&&) = delete;
    Conn& conn() { return *conn_; }
    // Runs a read; once more on a fresh connection when the old one was lost
    // (a server restart): a read is safe to repeat.
    Res Run(const std::string& sql, const std::vector<std::string>& params) {
      Res r = conn_->Run(sql, params);
      if (r.ok() || !conn_->Lost() || !conn_->Ensure().ok()) return r;
      return conn_->Run(sql, params);
    }

   private:
    PostgresStore* store_;
    Conn* conn_;
  };
  // An idle reading connection (re-opened if it was lost), a new one while
  // there are fewer than kMaxReaders, else the next one released.
  Result<ReaderLease> Lease() {
    Conn* c = nullptr;
    {
      std::unique_lock lock(pool_mu_);
      if (idle_.empty() && readers_.size() < kMaxReaders) {
        auto r = Connect();
        if (!r.ok()) return r.status();
        readers_.push_back(std::move(r).value());
        return ReaderLease(this, readers_.back().get());
      }
      pool_cv_.wait(lock, [&] { return !idle_.empty(); });
      c = idle_.back();
      idle_.pop_back();
    }
    ReaderLease lease(this, c);
    if (Status s = c->Ensure(); !s.ok()) return s;
    return lease;
  }
  void Release(Conn* c) {
    {
      std::lock_guard lock(pool_mu_);
      idle_.push_back(c);
    }
    pool_cv_.notify_one();
  }

  std::string uri_;
  std::string server_;
  std::shared_ptr<LeaderFence> fence_;  // null: no leader's lease to check (one daemon)
  std::mutex mu_;                       // the writing connection
  std::unique_ptr<Conn> writer_;
  std::atomic<std::int64_t> inserted_jobs_{0};    // by AddJobs since the store was opened
  std::atomic<std::int64_t> next_analyze_{1000};  // AnalyzeAsJobsGrow's next threshold
  std::atomic<bool> analyzing_{false};
  std::mutex analyze_mu_;         // analyze_thread_
  std::thread analyze_thread_;    // AnalyzeAsJobsGrow's last ANALYZE, joined before the next
  std::string begin_fenced_sql_;  // "BEGIN; SELECT ... FOR SHARE" with this fence's literals
  Status last_fenced_;  // what kept RunIdempotent's transaction from starting or committing
  std::mutex pool_mu_;  // the reading connections
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Conn>> readers_;
  std::vector<Conn*> idle_;
};

class PostgresLeaseImpl final : public PostgresLease {
 public:
  PostgresLeaseImpl(std::string uri, std::int64_t timeout_ms)
      : uri_(std::move(uri)), server_(RedactPostgresUri(uri_)), timeout_ms_(timeout_ms) {}

  Result<LeaseView> TakeOrRenew(const std::string& holder, const std::string& address,
                                std::int64_t epoch, std::int64_t ttl_ms) override {
    if (Status s = Ready(); !s.ok()) return s;
    Res r = conn_->Run(
        "UPDATE lease SET holder = $1, address = $2, "
        "epoch = CASE WHEN holder = $1 AND epoch = $3::bigint THEN epoch ELSE epoch + 1 END, "
        "expires_at = now() + $4::bigint * interval '1 millisecond' "
        "WHERE id = 1 AND ((holder = $1 AND epoch = $3::bigint) OR expires_at < now()) "
        "RETURNING holder, address, epoch, true",
        {holder, address, std::to_string(epoch), std::to_string(ttl_ms)});
    if (!r.ok()) return Failed("take the lease", r);
    if (r.rows() == 1) {
      LeaseView v = View(r);
      v.taken = true;
      return v;
    }
    return Read();
  }

  Result<LeaseView> Read() override {
    if (Status s = Ready(); !s.ok()) return s;
    Res r =
        conn_->Run("SELECT holder, address, epoch, expires_at > now() FROM lease WHERE id = 1", {});
    if (!r.ok()) return Failed("read the lease", r);
    if (r.rows() != 1) return Internal(server_ + ": the lease row is missing");
    return View(r);
  }

  Status Release(const std::string& holder, std::int64_t epoch) override {
    if (Status s = Ready(); !s.ok()) return s;
    Res r = conn_->Run(
        "UPDATE lease SET expires_at = '-infinity' WHERE id = 1 AND holder = $1 AND epoch = "
        "$2::bigint",
        {holder, std::to_string(epoch)});
    if (!r.ok()) return Failed("release the lease", r);
    return Status::Ok();
  }

 private:
  static LeaseView View(const Res& r) {
    return {r.Text(0, 0), r.Text(0, 1), r.Int(0, 2), r.Text(0, 3) == "t", false};
  }
  Status Ready() {
    if (conn_ == nullptr) {
      const std::string connect_s = std::to_string(std::max<std::int64_t>(2, timeout_ms_ / 1000));
      PGconn* c = ConnectRaw(uri_, connect_s.c_str());
      if (c == nullptr || PQstatus(c) != CONNECTION_OK) {
        Status s = Conn::ConnectionError(c, server_);
        PQfinish(c);
        return s;
      }
      // A row lock held by a writer or a server that stalls never holds a renewal longer.
      conn_ = std::make_unique<Conn>(c, &server_,
                                     "SET statement_timeout = " + std::to_string(timeout_ms_) +
                                         "; SET lock_timeout = " + std::to_string(timeout_ms_));
    }
    if (Status s = conn_->Ensure(); !s.ok()) {
      conn_.reset();
      return s;
    }
    return Status::Ok();
  }
  Status Failed(const std::string& what, const Res& r) {
    Status s = conn_->Error(what, r);
    if (conn_->Lost()) conn_.reset();
    return s;
  }

  std::string uri_, server_;
  std::int64_t timeout_ms_;
  std::unique_ptr<Conn> conn_;
};

}  // namespace

Result<std::unique_ptr<PostgresLease>> OpenPostgresLease(const std::string& uri,
                                                         std::int64_t timeout_ms) {
  if (!IsPostgresUri(uri))
    return InvalidArgument(uri + ": expected a URI postgresql://USER@HOST:PORT/DB");
  auto lease = std::make_unique<PostgresLeaseImpl>(uri, timeout_ms);
  if (auto r = lease->Read(); !r.ok()) return r.status();
  return std::unique_ptr<PostgresLease>(std::move(lease));
}

bool IsPostgresUri(const std::string& spec) {
  return spec.rfind("postgresql://", 0) == 0 || spec.rfind("postgres://", 0) == 0;
}

std::string RedactPostgresUri(const std::string& uri) {
  std::string out = uri;
  const std::size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    const std::size_t start = scheme + 3;
    const std::size_t end = std::min(out.find_first_of("/?", start), out.size());
    const std::size_t at = out.rfind('@', end);
    const std::size_t colon = out.find(':', start);
    if (at != std::string::npos && at >= start && colon < at)
      out = out.substr(0, colon + 1) + "***" + out.substr(at);
  }
  // A password may also be a query parameter.
  const std::size_t pw = out.find("password=");
  if (pw != std::string::npos) {
    const std::size_t stop = out.find('&', pw);
    out = out.substr(0, pw + 9) + "***" + (stop == std::string::npos ? "" : out.substr(stop));
  }
  return out;
}

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& uri,
                                                 std::shared_ptr<LeaderFence> fence) {
  if (!IsPostgresUri(uri))
    return InvalidArgument(uri + ": expected a URI postgresql://USER@HOST:PORT/DB");
  auto store = std::make_unique<PostgresStore>(uri, RedactPostgresUri(uri), std::move(fence));
  if (Status s = store->Init(); !s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace sovgrid::store
