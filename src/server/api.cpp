#include "server/api.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/json_limits.h"
#include "server/console.h"
#include "server/job_json.h"

namespace sovgrid::server {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxBatch = 10000;
constexpr std::int64_t kMaxLogChunk = 1 << 20;  // bytes of a job's output per request
constexpr std::size_t kMaxTokenBytes = 256;     // longer than any secret NewTokenSecret makes

std::string Hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 15];
  }
  return out;
}

int RoleRank(std::string_view role) {
  for (int i = 0; i < static_cast<int>(std::size(kRoles)); ++i) {
    if (role == kRoles[i]) return i;
  }
  return -1;
}

// Invalid UTF-8 (an id from the request path in a message) is replaced, not thrown on.
Response Json(int status, const json& body) {
  return {
      status, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace), {}};
}

Response Error(int status, std::string_view code, const std::string& message,
               const std::string& field = {}, const std::vector<std::string>& problems = {}) {
  json e = {{"code", code}, {"message", message}};
  if (!field.empty()) e["field"] = field;
  if (!problems.empty()) e["problems"] = problems;
  return Json(status, {{"error", e}});
}

Response FromStatus(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return Error(400, "invalid_argument", s.message());
    case StatusCode::kNotFound:
      return Error(404, "not_found", s.message());
    case StatusCode::kAlreadyExists:
      return Error(409, "already_exists", s.message());
    case StatusCode::kFailedPrecondition:
      // A former leader's store refuses every write (docs/deployment.md): the
      // client should ask again, and reaches the new leader.
      if (s.message().rfind("fenced:", 0) == 0) {
        Response r = Error(503, "not_leader", "this daemon is no longer the leader; try again");
        r.headers.emplace_back("Retry-After", "1");
        return r;
      }
      return Error(409, "failed_precondition", s.message());
    case StatusCode::kResourceExhausted:
      return Error(429, "resource_exhausted", s.message());
    case StatusCode::kIoError:
      // The store or a file failed (disk full, I/O error): nothing of the
      // request was kept. The daemon's log has the details; the caller gets
      // no paths.
      std::fprintf(stderr, "sovgrid: I/O: %s\n", s.message().c_str());
      return Error(503, "unavailable",
                   "the control plane cannot complete this right now (a storage or I/O "
                   "failure); nothing was changed; retry later");
    default:
      std::fprintf(stderr, "sovgrid: internal error: %s\n", s.message().c_str());
      return Error(500, "internal", "internal error");
  }
}

json JobJson(const store::StoredJob& j, bool with_spec) {
  json out = {{"id", j.name},
              {"tenant", j.tenant},
              {"state", j.state},
              {"submitted_at", j.submitted_at},
              {"updated_at", j.updated_at},
              {"reason", j.reason}};
  if (!j.assignment_json.empty())
    out["assignment"] = json::parse(j.assignment_json, nullptr, false);
  if (!j.backend_ref.empty()) out["backend_ref"] = j.backend_ref;
  if (with_spec) out["spec"] = json::parse(j.spec_json, nullptr, false);
  return out;
}

// JSON string literal of `s`, escaped as nlohmann::json::dump escapes it.
void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (u < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[u >> 4]);
          out->push_back(kHex[u & 15]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

// The text of JobJson(j, false).dump(), written directly: a listing page is
// 100 to 1,000 of these, and building them as json values first cost more
// than the query.
void AppendJobSummaryJson(std::string* out, const store::StoredJob& j) {
  out->push_back('{');
  if (!j.assignment_json.empty()) {
    out->append("\"assignment\":");
    out->append(j.assignment_json);  // written by ControlPlane as compact JSON
    out->push_back(',');
  }
  out->append("\"id\":");
  AppendJsonString(out, j.name);
  out->append(",\"reason\":");
  AppendJsonString(out, j.reason);
  out->append(",\"state\":");
  AppendJsonString(out, j.state);
  out->append(",\"submitted_at\":").append(std::to_string(j.submitted_at));
  out->append(",\"tenant\":");
  AppendJsonString(out, j.tenant);
  out->append(",\"updated_at\":").append(std::to_string(j.updated_at));
  out->push_back('}');
}

// The tenant part of a JobKey (names hold no '/', tenants may not either).
std::string_view JobTenantOfKey(std::string_view key) {
  const std::size_t slash = key.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : key.substr(0, slash);
}

// What a wait code means, in words for people (the queue summary's groups;
// a job's own reason, with its figures, is Scheduler::Explain's).
std::string_view WaitCodeWords(std::string_view code) {
  static constexpr std::pair<std::string_view, std::string_view> kWords[] = {
      {"not_tried", "submitted; the next scheduling cycle considers it"},
      {"no_capacity", "waiting for room: no pool it may run in has enough free accelerators now"},
      {"no_candidate_pool",
       "cannot run anywhere now: no pool passes its filters (model, residency, health, stack...)"},
      {"borrow_limit", "its tenant is at its borrowing limit in that quota class"},
      {"lender_protected", "the free capacity is guaranteed to tenants who lend no more"},
      {"grant_spent", "every grant that applies is used up"},
      {"grant_inactive", "no grant of its tenant is valid now"},
      {"grant_spent_beyond_guarantee",
       "its grants are spent and it would exceed the tenant's guarantee"},
      {"blocked_behind", "waits behind an earlier job (strict order, no backfill)"},
      {"reserved_for", "only capacity reserved for an earlier job fits it"},
      {"preempted", "preempted to make room for another job; waits to run again"},
      {"requeued", "its node or site failed or was drained; waits for the next cycle"},
  };
  for (const auto& [name, words] : kWords) {
    if (name == code) return words;
  }
  return "waiting";
}

bool ParseInt(const std::string& s, std::int64_t lo, std::int64_t hi, std::int64_t* out) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) return false;
  *out = v;
  return true;
}

}  // namespace

std::string TokenHash(const std::string& secret) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(secret.data(), secret.size(), digest, &n, EVP_sha256(), nullptr);
  return Hex(digest, n);
}

std::string NewTokenSecret() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) std::abort();  // no entropy: nothing safe to do
  return "sg_" + Hex(bytes, sizeof bytes);
}

namespace {
// A token's public id: random, unrelated to its secret.
std::string NewTokenId() {
  unsigned char bytes[8];
  if (RAND_bytes(bytes, sizeof bytes) != 1) std::abort();
  return "tok-" + Hex(bytes, sizeof bytes);
}
}  // namespace

struct Api::Caller {
  store::TokenRecord token;
  int tenant = -1;  // -1: the whole tree
  int rank = 3;     // index into kRoles
};

Api::Api(ControlPlane* cp, store::Store* store, std::function<model::Time()> clock)
    : cp_(cp), store_(store), clock_(std::move(clock)) {}

Result<std::string> Api::BootstrapAdminToken() {
  auto tokens = store_->ListTokens();
  if (!tokens.ok()) return tokens.status();
  if (!tokens->empty()) return std::string();
  const std::string secret = NewTokenSecret();
  store::TokenRecord t{"admin", TokenHash(secret), "", "admin", clock_(), false};
  if (Status s =
          store_->AddToken(t, {{0, clock_(), "sovgrid", "token.create", "admin", "bootstrap"}});
      !s.ok()) {
    // Another daemon on the same database initialised it first: its secret, not ours.
    if (s.code() == StatusCode::kAlreadyExists) return std::string();
    return s;
  }
  return secret;
}

namespace {

// One /v1 call on its way to its handler: the request, who makes it, and the
// values of the path's {captures}.
struct Call {
  const Request& r;
  ControlPlane* cp;
  store::Store* store;
  const std::function<model::Time()>& clock;
  const store::TokenRecord& token;  // empty for the routes that need none
  int tenant = -1;                  // the token's subtree; -1: the whole tree
  int rank = 3;                     // index into kRoles
  std::vector<std::string> params;  // the path's {captures}, in order
  Api* api = nullptr;               // for its token cache

  const model::Scenario& sc() const { return cp->scenario(); }
  // Whether `tenant_id` is in the token's subtree.
  bool Visible(const std::string& tenant_id) const {
    if (tenant < 0) return true;
    const int t = sc().FindTenant(tenant_id);
    return t >= 0 && sc().InSubtree(t, tenant);
  }
  store::AuditEntry Audit(const std::string& action, const std::string& target,
                          const std::string& detail) const {
    return store::AuditEntry{0, clock(), token.id, action, target, detail};
  }
  // The job a path names for this caller: NAME in the tenant of ?tenant=, or
  // else the only job of that name in the token's subtree. Jobs the token
  // cannot see are "not found" exactly as names that exist nowhere.
  std::optional<Response> FindJob(const std::string& name, store::StoredJob* out) const;
  // The request's body as JSON, or the 400 that refuses it.
  std::optional<Response> ParseBody(json* out) const;
  // Submits the jobs `items` (paths `base`, or `base`[i] for a batch).
  Response Submit(const std::vector<const json*>& items, const std::string& base, bool batch) const;
  Response Cancel(const store::StoredJob& job) const;
};

std::optional<Response> Call::FindJob(const std::string& name, store::StoredJob* out) const {
  const Call& c = *this;
  Response not_found = Error(404, "not_found", "job '" + name + "' not found");
  if (!CheckJobName(name).ok()) return not_found;
  if (auto t = c.r.query.find("tenant"); t != c.r.query.end()) {
    if (c.sc().FindTenant(t->second) < 0 || !c.Visible(t->second)) return not_found;
    auto record = c.store->GetJob(JobKey(t->second, name));
    if (!record.ok())
      return record.status().code() == StatusCode::kNotFound ? not_found
                                                             : FromStatus(record.status());
    *out = std::move(record).value();
    return std::nullopt;
  }
  // A name is unique within a tenant: at most one row per tenant.
  auto found = c.store->FindJobsByName(name, static_cast<int>(c.sc().tenants.size()) + 1);
  if (!found.ok()) return FromStatus(found.status());
  std::vector<std::string> tenants;
  for (auto& j : *found) {
    if (!c.Visible(j.tenant)) continue;
    tenants.push_back(j.tenant);
    *out = std::move(j);
  }
  if (tenants.empty()) return not_found;
  if (tenants.size() > 1) {
    std::string list;
    for (const auto& t : tenants) list += (list.empty() ? "" : ", ") + t;
    return Error(409, "ambiguous",
                 "job '" + name + "' exists in tenants " + list + ": add ?tenant=TENANT", "tenant");
  }
  return std::nullopt;
}

std::optional<Response> Call::ParseBody(json* out) const {
  const Call& c = *this;
  auto parsed = ParseJsonBounded(c.r.body);  // depth-checked: common/json_limits.h
  if (!parsed.ok()) return Error(400, "invalid_argument", parsed.status().message(), "$");
  *out = std::move(parsed).value();
  return std::nullopt;
}

Response Call::Submit(const std::vector<const json*>& items, const std::string& base,
                      bool batch) const {
  const Call& c = *this;
  std::vector<model::Job> jobs(items.size());
  JobProblems problems;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string path = batch ? base + "[" + std::to_string(i) + "]" : base;
    const JobProblems p = JobFromJson(*items[i], path, &jobs[i]);
    problems.messages.insert(problems.messages.end(), p.messages.begin(), p.messages.end());
    problems.fields.insert(problems.fields.end(), p.fields.begin(), p.fields.end());
    if (p.ok() && !c.Visible(jobs[i].tenant)) {
      problems.Add(path + ".tenant",
                   "this token may not submit for tenant '" + jobs[i].tenant + "'");
    }
  }
  if (!problems.ok()) {
    return Error(400, "invalid_argument", problems.messages.front(), problems.fields.front(),
                 problems.messages);
  }
  // The audit entry is committed with the jobs (one transaction, one disk sync).
  const std::string target =
      jobs.size() == 1 ? jobs.front().id : std::to_string(jobs.size()) + " jobs";
  auto ids = c.cp->Submit(std::move(jobs), c.clock(),
                          store::AuditEntry{0, c.clock(), c.token.id,
                                            batch ? "job.submit_batch" : "job.submit", target, ""});
  if (!ids.ok()) {
    // The scheduler's validation ("jobs[3] (id x): job.tenant: unknown tenant 'y'") is the
    // caller's mistake: 400 naming the field, which the status carries ("jobs[3].tenant").
    const Status& s = ids.status();
    if (s.code() != StatusCode::kInvalidArgument && s.code() != StatusCode::kNotFound)
      return FromStatus(s);
    // "jobs[I].FIELD" names the job in the submission: the body's "jobs" in a
    // batch; the body itself for one job.
    std::string_view field = s.field();
    if (!batch && field.rfind("jobs[0]", 0) == 0) field.remove_prefix(7);
    if (batch && field.rfind("jobs", 0) == 0) field.remove_prefix(4);
    if (!field.empty() && field.front() == '.') field.remove_prefix(1);
    return Error(400, "invalid_argument", s.message(), JoinFieldPath(base, field));
  }
  if (!batch) {
    return Json(201, {{"id", JobNameOfKey(ids->front())},
                      {"tenant", items.size() == 1 ? (*items[0])["tenant"] : json()}});
  }
  json names = json::array();
  for (const auto& key : *ids) names.push_back(JobNameOfKey(key));
  return Json(201, {{"ids", names}});
}

Response Call::Cancel(const store::StoredJob& job) const {
  const Call& c = *this;
  if (Status s = c.cp->Cancel(job.id, c.clock(), c.Audit("job.cancel", job.id, "")); !s.ok())
    return FromStatus(s);
  return Json(
      200,
      {{"id", job.name}, {"tenant", job.tenant}, {"state", JobStateName(JobState::kCancelled)}});
}

Response Healthz(const Call& /*c*/) { return Json(200, {{"status", "ok"}}); }

Response Readyz(const Call& c) {
  // Ready once the state is restored and a first cycle has run on it.
  if (c.cp->counters().cycles == 0) return Json(503, {{"status", "starting"}});
  const StoreHealth store = c.cp->store_health();
  if (!store.ok) {
    // Reads still work; writes answer 503 until a commit succeeds again.
    return Json(503, {{"status", "store_failing"},
                      {"backend", c.cp->backend_name()},
                      {"store", {{"ok", false}, {"error", store.error}}}});
  }
  // Ready while the store takes commits; sites the backend cannot reach are
  // named (the control plane serves everything else meanwhile).
  json unhealthy = json::array();
  for (const auto& site : c.cp->Grid().sites) {
    if (site.state != Health::kUp) {
      unhealthy.push_back(
          {{"site", site.id}, {"state", HealthName(site.state)}, {"reason", site.reason}});
    }
  }
  return Json(200, {{"status", "ready"},
                    {"backend", c.cp->backend_name()},
                    {"sites_not_up", std::move(unhealthy)}});
}

Response Metrics(const Call& call) {
  const ControlPlaneCounters c = call.cp->counters();
  const GridSummary g = call.cp->Grid();
  std::string m;
  auto counter = [&](const char* name, const char* help, double v) {
    m += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name +
         " " + json(v).dump() + "\n";
  };
  auto gauge = [&](const char* name, const char* help, double v) {
    m += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name + " " +
         json(v).dump() + "\n";
  };
  counter("sovgrid_jobs_submitted_total", "Jobs accepted.", static_cast<double>(c.submitted));
  counter("sovgrid_jobs_started_total", "Job starts.", static_cast<double>(c.started));
  counter("sovgrid_jobs_finished_total", "Jobs finished.", static_cast<double>(c.finished));
  counter("sovgrid_jobs_failed_total", "Jobs failed.", static_cast<double>(c.failed));
  counter("sovgrid_jobs_cancelled_total", "Jobs cancelled.", static_cast<double>(c.cancelled));
  counter("sovgrid_preemptions_total", "Preemptions.", static_cast<double>(c.preempted));
  counter("sovgrid_cycles_total", "Scheduling cycles.", static_cast<double>(c.cycles));
  gauge("sovgrid_last_cycle_seconds", "Duration of the last cycle.", c.last_cycle_ms / 1000);
  const StoreHealth store = call.cp->store_health();
  gauge("sovgrid_store_up", "1 while the store takes commits, 0 after one failed.",
        store.ok ? 1 : 0);
  counter("sovgrid_store_failed_commits_total", "Commits the store refused (disk full, I/O).",
          static_cast<double>(store.failed_commits));
  gauge("sovgrid_jobs_pending", "Jobs waiting.", static_cast<double>(g.pending));
  gauge("sovgrid_jobs_running", "Jobs running.", static_cast<double>(g.running));
  m += "# HELP sovgrid_pool_accelerators_used Accelerators in use per pool.\n"
       "# TYPE sovgrid_pool_accelerators_used gauge\n";
  for (const auto& p : g.pools)
    m += "sovgrid_pool_accelerators_used{pool=\"" + p.id + "\"} " + json(p.used).dump() + "\n";
  // Per top-level tenant only: the series stay as few as the scenario's
  // programmes, whatever the depth of the tree (docs/api.md).
  const auto tops = call.cp->TopLevelUsages();
  m += "# HELP sovgrid_tenant_accelerators_used Accelerators in use per top-level tenant.\n"
       "# TYPE sovgrid_tenant_accelerators_used gauge\n";
  for (const auto& t : tops) {
    m += "sovgrid_tenant_accelerators_used{tenant=\"" + t.tenant + "\"} " +
         json(t.accelerators).dump() + "\n";
  }
  m += "# HELP sovgrid_tenant_jobs_pending Jobs waiting per top-level tenant.\n"
       "# TYPE sovgrid_tenant_jobs_pending gauge\n";
  for (const auto& t : tops) {
    m += "sovgrid_tenant_jobs_pending{tenant=\"" + t.tenant + "\"} " + std::to_string(t.pending) +
         "\n";
  }
  m += "# HELP sovgrid_tenant_charged_units_total Units charged per top-level tenant for run "
       "segments ended since this daemon started.\n"
       "# TYPE sovgrid_tenant_charged_units_total counter\n";
  for (const auto& t : tops) {
    m += "sovgrid_tenant_charged_units_total{tenant=\"" + t.tenant + "\"} " +
         json(t.charged_units).dump() + "\n";
  }
  return {200, "text/plain; version=0.0.4", m, {}};
}

Response GetOpenApi(const Call& /*c*/) { return {200, "application/json", OpenApiJson(), {}}; }

// What the web console shows.
Response GetScenario(const Call& c) {
  return Json(200, ScenarioJson(c.sc(), c.tenant, c.token.id, c.token.role));
}

Response SubmitJob(const Call& c) {
  json body;
  if (auto bad = c.ParseBody(&body)) return *bad;
  return c.Submit({&body}, "$", false);
}

Response SubmitBatch(const Call& c) {
  json body;
  if (auto bad = c.ParseBody(&body)) return *bad;
  if (!body.is_object() || !body.contains("jobs") || !body["jobs"].is_array())
    return Error(400, "invalid_argument", "expected {\"jobs\": [...]}", "$.jobs");
  for (const auto& [key, v] : body.items()) {
    if (key != "jobs") return Error(400, "invalid_argument", "unknown field", "$." + key);
  }
  if (body["jobs"].empty() || body["jobs"].size() > kMaxBatch)
    return Error(400, "invalid_argument", "expected 1..10000 jobs", "$.jobs");
  std::vector<const json*> items;
  for (const auto& j : body["jobs"]) items.push_back(&j);
  return c.Submit(items, "$.jobs", true);
}

// A search (GET /v1/jobs?q=) examines at most this many jobs per request
// from its cursor: its cost is bounded whatever the store holds, and its
// page may hold fewer than `limit` matches with a cursor to go on from.
constexpr int kSearchScan = 10000;

Response ListJobs(const Call& c) {
  store::JobFilter f;
  std::string prefix;
  for (const auto& [k, v] : c.r.query) {
    if (k == "state") {
      // A state that does not exist matches no job.
      if (!v.empty() && !ParseJobState(v))
        return Json(200, {{"jobs", json::array()}, {"next_after", 0}});
      f.state = v;
    } else if (k == "tenant") {
      const int t = c.sc().FindTenant(v);
      if (t < 0 || !c.Visible(v)) return Json(200, {{"jobs", json::array()}, {"next_after", 0}});
      for (std::size_t i = 0; i < c.sc().tenants.size(); ++i) {
        if (c.sc().InSubtree(static_cast<int>(i), t)) f.tenants.push_back(c.sc().tenants[i].id);
      }
    } else if (k == "after") {
      if (!ParseInt(v, 0, std::numeric_limits<std::int64_t>::max(), &f.after_seq))
        return Error(400, "invalid_argument", "expected a cursor", "after");
    } else if (k == "limit") {
      std::int64_t limit = 0;
      if (!ParseInt(v, 1, 1000, &limit))
        return Error(400, "invalid_argument", "expected 1..1000", "limit");
      f.limit = static_cast<int>(limit);
    } else if (k == "q") {
      if (v.size() > 128) return Error(400, "invalid_argument", "expected at most 128 bytes", k);
      prefix = v;
    } else {
      return Error(400, "invalid_argument", "unknown query parameter", k);
    }
  }
  if (c.tenant >= 0 && f.tenants.empty()) {
    for (std::size_t i = 0; i < c.sc().tenants.size(); ++i) {
      if (c.sc().InSubtree(static_cast<int>(i), c.tenant))
        f.tenants.push_back(c.sc().tenants[i].id);
    }
  }
  Result<store::JobPage> page = store::JobPage{};
  if (prefix.empty()) {
    page = c.cp->List(f);
  } else {
    // The names that start with `prefix`, from the cursor on, examining at
    // most kSearchScan jobs (the store has no index for it: docs/api.md).
    const int want = f.limit;
    store::JobPage found;
    int scanned = 0;
    while (scanned < kSearchScan) {
      f.limit = std::min(kSearchScan - scanned, 5000);
      auto part = c.cp->List(f);
      if (!part.ok()) return FromStatus(part.status());
      for (auto& j : part->jobs) {
        ++scanned;
        f.after_seq = j.seq;
        if (j.name.compare(0, prefix.size(), prefix) != 0) continue;
        found.jobs.push_back(std::move(j));
        if (static_cast<int>(found.jobs.size()) == want) break;
      }
      // More to examine: after the last job looked at (a match that filled the
      // page, or the end of this part), unless the store had no more.
      const bool full = static_cast<int>(found.jobs.size()) == want;
      const bool more_in_part = full && found.jobs.back().seq != part->jobs.back().seq;
      found.next_after = (more_in_part || part->next_after != 0) ? f.after_seq : 0;
      if (full || part->next_after == 0) break;
    }
    page = std::move(found);
  }
  if (!page.ok()) return FromStatus(page.status());
  std::string body = "{\"jobs\":[";
  body.reserve(256 * (page->jobs.size() + 1));
  for (std::size_t i = 0; i < page->jobs.size(); ++i) {
    if (i > 0) body.push_back(',');
    AppendJobSummaryJson(&body, page->jobs[i]);
  }
  body.append("],\"next_after\":").append(std::to_string(page->next_after)).append("}");
  return {200, "application/json", std::move(body), {}};
}

Response CancelJob(const Call& c) {
  for (const auto& [k, v] : c.r.query) {
    if (k != "tenant") return Error(400, "invalid_argument", "unknown query parameter", k);
  }
  store::StoredJob job;
  if (auto bad = c.FindJob(c.params[0], &job)) return *bad;
  return c.Cancel(job);
}

Response JobLogs(const Call& c) {
  store::StoredJob job;
  if (auto bad = c.FindJob(c.params[0], &job)) return *bad;
  std::string stream = "stdout";
  std::int64_t offset = 0, limit = kMaxLogChunk;
  for (const auto& [k, v] : c.r.query) {
    if (k == "stream") {
      if (v != "stdout" && v != "stderr")
        return Error(400, "invalid_argument", "expected stdout or stderr", "stream");
      stream = v;
    } else if (k == "offset") {
      if (!ParseInt(v, 0, std::numeric_limits<std::int64_t>::max(), &offset))
        return Error(400, "invalid_argument", "expected a byte offset", "offset");
    } else if (k == "limit") {
      if (!ParseInt(v, 1, kMaxLogChunk, &limit))
        return Error(400, "invalid_argument", "expected 1..1048576", "limit");
    } else if (k == "tenant") {
      // Used by FindJob.
    } else {
      return Error(400, "invalid_argument", "unknown query parameter", k);
    }
  }
  auto text =
      c.cp->Logs(job.id, stream, static_cast<std::size_t>(offset), static_cast<std::size_t>(limit));
  if (!text.ok()) {
    // A job that has not started yet has no output: an empty log, not an error.
    if (text.status().code() == StatusCode::kNotFound &&
        ParseJobState(job.state) == JobState::kPending)
      return {200, "text/plain; charset=utf-8", "", {}};
    return FromStatus(text.status());
  }
  return {200, "text/plain; charset=utf-8", std::move(text).value(), {}};
}

Response GetJob(const Call& c) {
  for (const auto& [k, v] : c.r.query) {
    if (k != "tenant") return Error(400, "invalid_argument", "unknown query parameter", k);
  }
  store::StoredJob job;
  if (auto bad = c.FindJob(c.params[0], &job)) return *bad;
  auto info = c.cp->Job(job.id);
  if (!info.ok()) return FromStatus(info.status());
  json out = JobJson(info->record, true);
  json history = json::array();
  for (const auto& e : info->history)
    history.push_back({{"at", e.at}, {"state", e.state}, {"detail", e.detail}});
  out["history"] = history;
  if (!info->pending_reason.empty()) out["pending_reason"] = info->pending_reason;
  return Json(200, out);
}

Response DeleteJob(const Call& c) {
  for (const auto& [k, v] : c.r.query) {
    if (k != "tenant") return Error(400, "invalid_argument", "unknown query parameter", k);
  }
  store::StoredJob job;
  if (auto bad = c.FindJob(c.params[0], &job)) return *bad;
  return c.Cancel(job);
}

Response GetGrid(const Call& c) {
  const GridSummary g = c.cp->Grid();
  json pools = json::array();
  for (const auto& p : g.pools) {
    pools.push_back({{"id", p.id},
                     {"site", p.site},
                     {"site_state", HealthName(p.site_state)},
                     {"accelerator", p.accelerator},
                     {"nodes", p.nodes},
                     {"accelerators", p.accelerators},
                     {"used", p.used},
                     {"free", static_cast<double>(p.accelerators) - p.used}});
  }
  json sites = json::array();
  for (const auto& s : g.sites)
    sites.push_back({{"id", s.id}, {"state", HealthName(s.state)}, {"reason", s.reason}});
  return Json(200, {{"pools", pools},
                    {"sites", sites},
                    {"jobs_pending", g.pending},
                    {"jobs_running", g.running}});
}

Response CreateToken(const Call& c) {
  json body;
  if (auto bad = c.ParseBody(&body)) return *bad;
  if (!body.is_object()) return Error(400, "invalid_argument", "expected an object", "$");
  for (const auto& [key, v] : body.items()) {
    if (key != "tenant" && key != "role")
      return Error(400, "invalid_argument", "unknown field", "$." + key);
    if (!v.is_string()) return Error(400, "invalid_argument", "expected a string", "$." + key);
  }
  for (const char* f : {"tenant", "role"}) {
    if (body.contains(f) && !body[f].is_string())
      return Error(400, "invalid_argument", "expected a string", std::string("$.") + f);
  }
  const std::string tenant = body.value("tenant", std::string());
  const std::string role = body.value("role", std::string("user"));
  if (RoleRank(role) < 0)
    return Error(400, "invalid_argument", "expected admin, tenant-admin, user or read-only",
                 "$.role");
  if (!tenant.empty() && c.sc().FindTenant(tenant) < 0)
    return Error(400, "invalid_argument", "unknown tenant '" + tenant + "'", "$.tenant");
  if (RoleRank(role) < c.rank || (c.tenant >= 0 && (tenant.empty() || !c.Visible(tenant))))
    return Error(403, "permission_denied", "may not create a token above its own rights");
  const std::string secret = NewTokenSecret();
  store::TokenRecord t{NewTokenId(), TokenHash(secret), tenant, role, c.clock(), false};
  if (Status s = c.store->AddToken(
          t, {c.Audit("token.create", t.id, role + " for " + (tenant.empty() ? "*" : tenant))});
      !s.ok())
    return FromStatus(s);
  return Json(201, {{"id", t.id}, {"token", secret}, {"tenant", tenant}, {"role", role}});
}

Response ListTokens(const Call& c) {
  auto tokens = c.store->ListTokens();
  if (!tokens.ok()) return FromStatus(tokens.status());
  json out = json::array();
  for (const auto& t : *tokens) {
    if (c.tenant >= 0 && (t.tenant.empty() || !c.Visible(t.tenant))) continue;
    out.push_back({{"id", t.id},
                   {"tenant", t.tenant},
                   {"role", t.role},
                   {"created_at", t.created_at},
                   {"revoked", t.revoked}});
  }
  return Json(200, {{"tokens", out}});
}

Response RevokeToken(const Call& c) {
  const std::string id = c.params[0];
  auto tokens = c.store->ListTokens();
  if (!tokens.ok()) return FromStatus(tokens.status());
  auto it = std::find_if(tokens->begin(), tokens->end(),
                         [&](const store::TokenRecord& t) { return t.id == id; });
  if (it == tokens->end() || (c.tenant >= 0 && (it->tenant.empty() || !c.Visible(it->tenant))))
    return Error(404, "not_found", "token '" + id + "' not found");
  Status revoked = c.store->RevokeToken(id, {c.Audit("token.revoke", id, "")});
  // Also after a failure: the commit may have happened (a connection lost at COMMIT).
  c.api->ForgetToken(id);
  if (!revoked.ok()) return FromStatus(revoked);
  return Json(200, {{"id", id}, {"revoked", true}});
}

Response GetTenantUsage(const Call& c) {
  const std::string tenant = c.params[0];
  if (!c.Visible(tenant)) return Error(404, "not_found", "tenant '" + tenant + "' not found");
  auto u = c.cp->Usage(tenant);
  if (!u.ok()) return FromStatus(u.status());
  json classes = json::array(), grants = json::array();
  for (const auto& c2 : u->classes) {
    classes.push_back({{"class", c2.name},
                       {"used", c2.used},
                       {"guarantee", c2.guarantee},
                       {"maximum", c2.maximum}});
  }
  for (const auto& g : u->grants) {
    grants.push_back({{"id", g.grant.id},
                      {"units", g.grant.units},
                      {"used_units", g.used_units},
                      {"valid_from", g.grant.valid_from},
                      {"valid_until", g.grant.valid_until},
                      {"quota_class", g.grant.quota_class}});
  }
  return Json(200, {{"tenant", tenant}, {"classes", classes}, {"grants", grants}});
}

Response ListAudit(const Call& c) {
  std::int64_t after = 0, limit = 100;
  if (auto it = c.r.query.find("after");
      it != c.r.query.end() &&
      !ParseInt(it->second, 0, std::numeric_limits<std::int64_t>::max(), &after))
    return Error(400, "invalid_argument", "expected a cursor", "after");
  if (auto it = c.r.query.find("limit");
      it != c.r.query.end() && !ParseInt(it->second, 1, 1000, &limit))
    return Error(400, "invalid_argument", "expected 1..1000", "limit");
  auto entries = c.store->ListAudit(after, static_cast<int>(limit));
  if (!entries.ok()) return FromStatus(entries.status());
  json out = json::array();
  for (const auto& e : *entries) {
    out.push_back({{"seq", e.seq},
                   {"at", e.at},
                   {"actor", e.actor},
                   {"action", e.action},
                   {"target", e.target},
                   {"detail", e.detail}});
  }
  return Json(200, {{"entries", out}});
}

// POST /v1/admin/nodes/{name}/state and /v1/admin/sites/{id}/state.
Response SetHealth(const Call& c, bool node) {
  json body;
  if (auto bad = c.ParseBody(&body)) return *bad;
  if (!body.is_object()) return Error(400, "invalid_argument", "expected an object", "$");
  const std::string& name = c.params[0];
  for (const auto& [key, v] : body.items()) {
    if (key != "state" && key != "requeue")
      return Error(400, "invalid_argument", "unknown field", "$." + key);
  }
  bool requeue = false;
  if (body.contains("requeue")) {
    if (!body["requeue"].is_boolean())
      return Error(400, "invalid_argument", "expected true or false", "$.requeue");
    requeue = body["requeue"].get<bool>();
  }
  if (!body.contains("state") || !body["state"].is_string())
    return Error(400, "invalid_argument", "expected \"up\", \"draining\" or \"down\"", "$.state");
  const std::string text = body["state"];
  const std::optional<Health> state = ParseHealth(text);
  if (!state) {
    return Error(400, "invalid_argument",
                 "state: expected up, draining or down, found '" + text + "'", "$.state");
  }
  if (requeue && *state != Health::kDraining) {
    return Error(400, "invalid_argument",
                 "requeue: only with \"draining\" (\"down\" requeues its jobs anyway)",
                 "$.requeue");
  }
  const std::string action = std::string(node ? "node." : "site.") + text;
  const Status s = node ? c.cp->SetNodeState(name, *state, c.clock(),
                                             c.Audit(action, name, body.dump()), requeue)
                        : c.cp->SetSiteState(name, *state, c.clock(),
                                             c.Audit(action, name, body.dump()), requeue);
  if (!s.ok()) return FromStatus(s);
  return Json(200, {{"ok", true}});
}
Response SetNodeHealth(const Call& c) { return SetHealth(c, true); }
Response SetSiteHealth(const Call& c) { return SetHealth(c, false); }

Response SetQuota(const Call& c) {
  json body;
  if (auto bad = c.ParseBody(&body)) return *bad;
  if (!body.is_object()) return Error(400, "invalid_argument", "expected an object", "$");
  const std::string& tenant = c.params[0];
  model::ClassAmounts amounts[3];
  const char* fields[3] = {"guarantee", "borrow_limit", "lend_limit"};
  for (const auto& [key, v] : body.items()) {
    if (key != fields[0] && key != fields[1] && key != fields[2])
      return Error(400, "invalid_argument", "unknown field", "$." + key);
  }
  for (int i = 0; i < 3; ++i) {
    auto parsed =
        ClassAmountsFromJson(body.value(fields[i], json()), std::string("$.") + fields[i]);
    if (!parsed.ok()) {
      return Error(400, "invalid_argument", parsed.status().message(), parsed.status().field());
    }
    amounts[i] = std::move(parsed).value();
  }
  const Status s = c.cp->SetQuota(tenant, amounts[0], amounts[1], amounts[2],
                                  c.Audit("tenant.quota", tenant, body.dump()));
  if (!s.ok()) return FromStatus(s);
  return Json(200, {{"ok", true}});
}

Response SetGrants(const Call& c) {
  json body;
  if (auto bad = c.ParseBody(&body)) return *bad;
  if (!body.is_object()) return Error(400, "invalid_argument", "expected an object", "$");
  const std::string& tenant = c.params[0];
  for (const auto& [key, v] : body.items()) {
    if (key != "grants") return Error(400, "invalid_argument", "unknown field", "$." + key);
  }
  auto grants = GrantsFromJson(body.value("grants", json()));
  if (!grants.ok()) {
    return Error(400, "invalid_argument", grants.status().message(), grants.status().field());
  }
  const Status s = c.cp->SetGrants(tenant, *grants, c.Audit("tenant.grants", tenant, body.dump()));
  if (!s.ok()) return FromStatus(s);
  return Json(200, {{"ok", true}});
}

// A report's bound: Unix seconds, an RFC 3339 date-time, or a UTC date
// (YYYY-MM-DD, its midnight).
std::optional<model::Time> ParseReportTime(const std::string& s) {
  std::int64_t v = 0;
  if (ParseInt(s, -(std::int64_t{1} << 40), std::int64_t{1} << 40, &v)) return v;
  if (auto t = model::ParseRfc3339(s)) return t;
  if (s.size() == 10 && s[4] == '-' && s[7] == '-') return model::ParseRfc3339(s + "T00:00:00Z");
  return std::nullopt;
}

json BurnDownJson(const accounting::GrantBurnDown& b) {
  json j = {{"tenant", b.holder},          {"grant", b.grant},
            {"quota_class", b.quota_class}, {"valid_from", b.valid_from},
            {"valid_until", b.valid_until}, {"granted_units", b.granted},
            {"used_units", b.used},         {"left_units", b.left},
            {"units_per_day", b.units_per_day}};
  j["projected_exhaustion"] =
      b.projected_exhaustion > 0 ? json(b.projected_exhaustion) : json(nullptr);
  return j;
}

// GET /v1/accounting and /v1/accounting/grants, scoped to the token's subtree.
Response Accounting(const Call& c, bool grants) {
  const Request& r = c.r;
  const model::Scenario& sc = c.sc();
  const model::Time now = c.clock();
  // The caller's subtree, or one tenant's subtree inside it (?tenant=).
  int root = c.tenant;
  AccountingQuery q;
  q.until = now;
  q.from = now - 30 * 86400;
  std::string format = "json";
  for (const auto& [k, v] : r.query) {
    if (k == "tenant") {
      const int t = sc.FindTenant(v);
      if (t < 0 || (c.tenant >= 0 && !sc.InSubtree(t, c.tenant)))
        return Error(404, "not_found", "tenant '" + v + "' not found", "tenant");
      root = t;
    } else if (!grants && (k == "from" || k == "until")) {
      auto t = ParseReportTime(v);
      if (!t)
        return Error(400, "invalid_argument",
                     k + ": expected Unix seconds, an RFC 3339 date-time or YYYY-MM-DD", k);
      (k == "from" ? q.from : q.until) = *t;
    } else if (!grants && k == "group_by") {
      auto g = accounting::ParseGrouping(v);
      if (!g)
        return Error(400, "invalid_argument", "group_by: expected " + accounting::GroupingChoices(),
                     k);
      q.group_by = *g;
    } else if (k == "format") {
      if (v != "json" && v != "csv")
        return Error(400, "invalid_argument", "format: expected json or csv", k);
      format = v;
    } else {
      return Error(400, "invalid_argument", "unknown query parameter", k);
    }
  }
  if (root >= 0) {
    for (std::size_t i = 0; i < sc.tenants.size(); ++i) {
      if (sc.InSubtree(static_cast<int>(i), root)) q.tenants.push_back(sc.tenants[i].id);
    }
  }
  if (grants) {
    auto burn = c.cp->GrantBurnDowns(q.tenants, now);
    if (!burn.ok()) return FromStatus(burn.status());
    if (format == "csv") {
      std::string out =
          "tenant,grant,quota_class,valid_from,valid_until,granted_units,used_units,left_units,"
          "units_per_day,projected_exhaustion\n";
      for (const auto& b : *burn) {
        out += b.holder + "," + b.grant + "," + b.quota_class + "," +
               std::to_string(b.valid_from) + "," + std::to_string(b.valid_until) + "," +
               json(b.granted).dump() + "," + json(b.used).dump() + "," + json(b.left).dump() +
               "," + json(b.units_per_day).dump() + "," +
               (b.projected_exhaustion > 0 ? std::to_string(b.projected_exhaustion) : "") + "\n";
      }
      return {200, "text/csv; charset=utf-8", out, {}};
    }
    json rows = json::array();
    for (const auto& b : *burn) rows.push_back(BurnDownJson(b));
    return Json(200, {{"at", now}, {"grants", rows}});
  }
  auto rows = c.cp->AccountingReport(q, now);
  if (!rows.ok()) return FromStatus(rows.status());
  if (format == "csv") return {200, "text/csv; charset=utf-8", accounting::ReportCsv(q.group_by, *rows), {}};
  return {200, "application/json", accounting::ReportJson(q.group_by, q.from, q.until, *rows), {}};
}

Response GetAccounting(const Call& c) { return Accounting(c, false); }

// GET /v1/queue/summary: every pending job the token may see, counted by
// tenant and by reason (the scheduler's wait code, with one example in words).
Response GetQueueSummary(const Call& c) {
  for (const auto& [k, v] : c.r.query) {
    (void)v;
    return Error(400, "invalid_argument", "unknown query parameter", k);
  }
  const QueueSummary q = c.cp->PendingSummary(c.clock());
  const model::Scenario& sc = c.sc();
  std::vector<std::size_t> per_tenant(sc.tenants.size(), 0);
  struct Reason {
    std::size_t jobs = 0;
    std::string example, example_tenant, example_reason;
    model::Time example_submitted = 0;
    std::map<std::string, std::size_t> tenants;
  };
  std::map<std::string_view, Reason> reasons;
  std::size_t total = 0;
  for (const auto& g : q.groups) {
    const auto t = static_cast<std::size_t>(g.tenant);
    if (c.tenant >= 0 && !sc.InSubtree(g.tenant, c.tenant)) continue;
    per_tenant[t] += g.jobs;
    total += g.jobs;
    Reason& r = reasons[sched::WaitCodeName(g.code)];
    if (r.jobs == 0 || g.example_submitted < r.example_submitted) {
      r.example = std::string(JobNameOfKey(g.example));
      r.example_tenant = sc.tenants[t].id;
      r.example_reason = g.example_reason;
      r.example_submitted = g.example_submitted;
    }
    r.jobs += g.jobs;
    r.tenants[sc.tenants[t].id] += g.jobs;
  }
  json tenants = json::array();
  for (std::size_t t = 0; t < per_tenant.size(); ++t) {
    if (per_tenant[t] > 0)
      tenants.push_back({{"tenant", sc.tenants[t].id}, {"pending", per_tenant[t]}});
  }
  json by_reason = json::array();
  for (const auto& [code, r] : reasons) {
    json per = json::object();
    for (const auto& [t, n] : r.tenants) per[t] = n;
    by_reason.push_back(
        {{"reason", code},
         {"words", WaitCodeWords(code)},
         {"pending", r.jobs},
         {"tenants", per},
         {"example",
          {{"id", r.example}, {"tenant", r.example_tenant}, {"reason", r.example_reason}}}});
  }
  std::stable_sort(by_reason.begin(), by_reason.end(), [](const json& a, const json& b) {
    return a["pending"].get<std::size_t>() > b["pending"].get<std::size_t>();
  });
  return Json(200,
              {{"at", q.at}, {"pending", total}, {"by_tenant", tenants}, {"by_reason", by_reason}});
}

// GET /v1/pools/{id}/nodes: the pool's nodes with health, use and the jobs on
// them; jobs outside the token's subtree are counted, not named.
Response GetPoolNodes(const Call& c) {
  std::int64_t offset = 0, limit = 256;
  for (const auto& [k, v] : c.r.query) {
    if (k == "offset") {
      if (!ParseInt(v, 0, std::numeric_limits<std::int32_t>::max(), &offset))
        return Error(400, "invalid_argument", "expected a node offset >= 0", k);
    } else if (k == "limit") {
      if (!ParseInt(v, 1, 5000, &limit))
        return Error(400, "invalid_argument", "expected 1..5000", k);
    } else {
      return Error(400, "invalid_argument", "unknown query parameter", k);
    }
  }
  auto pool = c.cp->NodesOfPool(c.params[0], static_cast<std::size_t>(offset),
                                static_cast<std::size_t>(limit));
  if (!pool.ok()) return FromStatus(pool.status());
  json nodes = json::array();
  for (const auto& n : pool->nodes) {
    json jobs = json::array();
    std::size_t others = 0;
    for (const auto& j : n.jobs) {
      const std::string_view tenant = JobTenantOfKey(j.key);
      if (!c.Visible(std::string(tenant))) {
        ++others;
        continue;
      }
      jobs.push_back({{"id", JobNameOfKey(j.key)},
                      {"tenant", tenant},
                      {"accelerators", j.accelerators},
                      {"share", j.share}});
    }
    nodes.push_back({{"name", n.name},
                     {"state", HealthName(n.state)},
                     {"accelerators", n.accelerators},
                     {"used", n.used},
                     {"jobs", jobs},
                     {"other_jobs", others}});
  }
  return Json(200, {{"pool", pool->pool},
                    {"site", pool->site},
                    {"site_state", HealthName(pool->site_state)},
                    {"node_count", pool->node_count},
                    {"offset", offset},
                    {"nodes", nodes}});
}
Response GetGrantBurnDown(const Call& c) { return Accounting(c, true); }

// The API's routes (docs/api.md, "Endpoints"; openapi.json). A {capture}
// matches one path segment, a {capture+} one or more (a node's name holds a
// '/'). `role` is the least role the token needs (nullptr: any token), checked
// before the handler runs; routes without `token` are answered before the
// web console and the /v1 token check.
struct RouteEntry {
  const char* method;
  const char* pattern;
  const char* role;
  const char* refusal;  // the 403's message when the token's role is below `role`
  bool token;
  Response (*handle)(const Call&);
};

constexpr const char* kNeedsUser = "read-only token";
constexpr const char* kNeedsAdmin = "needs an admin token";

constexpr RouteEntry kRouteTable[] = {
    {"GET", "/healthz", nullptr, nullptr, false, Healthz},
    {"GET", "/readyz", nullptr, nullptr, false, Readyz},
    {"GET", "/metrics", nullptr, nullptr, false, Metrics},
    {"GET", "/v1/openapi.json", nullptr, nullptr, false, GetOpenApi},
    {"GET", "/v1/scenario", nullptr, nullptr, true, GetScenario},
    {"POST", "/v1/jobs", "user", kNeedsUser, true, SubmitJob},
    {"POST", "/v1/jobs:batch", "user", kNeedsUser, true, SubmitBatch},
    {"GET", "/v1/jobs", nullptr, nullptr, true, ListJobs},
    {"POST", "/v1/jobs/{id}/cancel", "user", kNeedsUser, true, CancelJob},
    {"GET", "/v1/jobs/{id}/logs", nullptr, nullptr, true, JobLogs},
    {"GET", "/v1/jobs/{id}", nullptr, nullptr, true, GetJob},
    {"DELETE", "/v1/jobs/{id}", "user", kNeedsUser, true, DeleteJob},
    {"GET", "/v1/grid", nullptr, nullptr, true, GetGrid},
    {"POST", "/v1/tokens", "tenant-admin", kNeedsAdmin, true, CreateToken},
    {"GET", "/v1/tokens", "tenant-admin", kNeedsAdmin, true, ListTokens},
    {"DELETE", "/v1/tokens/{id}", "tenant-admin", kNeedsAdmin, true, RevokeToken},
    {"GET", "/v1/tenants/{id}/usage", nullptr, nullptr, true, GetTenantUsage},
    {"GET", "/v1/accounting", nullptr, nullptr, true, GetAccounting},
    {"GET", "/v1/accounting/grants", nullptr, nullptr, true, GetGrantBurnDown},
    {"GET", "/v1/queue/summary", nullptr, nullptr, true, GetQueueSummary},
    {"GET", "/v1/pools/{id}/nodes", nullptr, nullptr, true, GetPoolNodes},
    {"POST", "/v1/admin/nodes/{name+}/state", "admin", kNeedsAdmin, true, SetNodeHealth},
    {"POST", "/v1/admin/sites/{id+}/state", "admin", kNeedsAdmin, true, SetSiteHealth},
    {"POST", "/v1/admin/tenants/{id}/quota", "admin", kNeedsAdmin, true, SetQuota},
    {"POST", "/v1/admin/tenants/{id}/grants", "admin", kNeedsAdmin, true, SetGrants},
    {"GET", "/v1/audit", "admin", kNeedsAdmin, true, ListAudit},
};

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const auto slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

bool IsCapture(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// Whether `path` matches `pattern`; the captured values go to `params`.
bool MatchPath(std::string_view pattern, std::string_view path, std::vector<std::string>* params) {
  const std::vector<std::string_view> p = Segments(pattern), s = Segments(path);
  params->clear();
  std::size_t rest = p.size();  // the index of a {capture+}, if any
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (IsCapture(p[i]) && p[i][p[i].size() - 2] == '+') rest = i;
  }
  if (rest == p.size() ? s.size() != p.size() : s.size() < p.size()) return false;
  auto one = [&](std::size_t pi, std::size_t si) {
    if (!IsCapture(p[pi])) return p[pi] == s[si];
    if (s[si].empty()) return false;
    params->emplace_back(s[si]);
    return true;
  };
  for (std::size_t i = 0; i < rest; ++i) {
    if (!one(i, i)) return false;
  }
  if (rest == p.size()) return true;
  const std::size_t tail = p.size() - rest - 1;  // segments after the {capture+}
  const std::size_t end = s.size() - tail;       // s[rest, end) is the capture
  std::string joined;
  for (std::size_t i = rest; i < end; ++i) {
    if (i > rest) joined += '/';
    joined += s[i];
  }
  if (joined.empty()) return false;
  params->push_back(std::move(joined));
  for (std::size_t i = 0; i < tail; ++i) {
    if (!one(rest + 1 + i, end + i)) return false;
  }
  return true;
}

const RouteEntry* FindRoute(const Request& r, std::vector<std::string>* params) {
  for (const RouteEntry& e : kRouteTable) {
    if (r.method == e.method && MatchPath(e.pattern, r.path, params)) return &e;
  }
  return nullptr;
}

}  // namespace

std::vector<ApiRoute> ApiRoutes() {
  std::vector<ApiRoute> out;
  for (const RouteEntry& e : kRouteTable)
    out.push_back({e.method, e.pattern, e.role == nullptr ? "" : e.role, e.token});
  return out;
}

Response Api::Handle(const Request& r) {
  std::vector<std::string> params;
  const RouteEntry* route = FindRoute(r, &params);
  if (route != nullptr && !route->token) {
    const store::TokenRecord none;
    return route->handle(Call{r, cp_, store_, clock_, none, -1, 3, std::move(params), this});
  }
  if (auto page = ConsoleResponse(r)) return *page;  // the web console: GET / and /assets/*
  Caller c;
  if (auto denied = Authenticate(r, &c)) return *denied;
  Response out = Route(r, c);
  if (out.status == 403) {
    // A refused attempt is part of the record (best effort: the refusal
    // stands whether or not the entry could be written).
    (void)store_->AppendAudit(
        {0, clock_(), c.token.id, "denied", r.method + " " + r.path, out.body.substr(0, 512)});
  }
  return out;
}

std::optional<Response> Api::Authenticate(const Request& r, Caller* c) {
  if (r.path.rfind("/v1/", 0) != 0) return Error(404, "not_found", "no such endpoint");
  // Everything under /v1 needs a token. The scheme is case-insensitive (RFC 9110 11.1).
  constexpr std::string_view kBearer = "bearer ";
  const std::string_view header = r.authorization;
  const bool bearer =
      header.size() > kBearer.size() &&
      std::equal(kBearer.begin(), kBearer.end(), header.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
  if (!bearer) return Error(401, "unauthenticated", "missing 'Authorization: Bearer TOKEN' header");
  std::string_view secret = header.substr(kBearer.size());
  while (!secret.empty() && secret.front() == ' ') secret.remove_prefix(1);
  if (secret.empty() || secret.size() > kMaxTokenBytes)
    return Error(401, "unauthenticated", "unknown or revoked token");
  auto token = FindToken(TokenHash(std::string(secret)));
  if (!token.ok()) {
    if (token.status().code() != StatusCode::kNotFound) return FromStatus(token.status());
    return Error(401, "unauthenticated", "unknown or revoked token");
  }
  c->token = *token;
  c->rank = std::max(0, RoleRank(token->role));
  c->tenant = token->tenant.empty() ? -1 : cp_->scenario().FindTenant(token->tenant);
  if (!token->tenant.empty() && c->tenant < 0)
    return Error(403, "permission_denied", "the token's tenant no longer exists");
  return std::nullopt;
}

Result<store::TokenRecord> Api::FindToken(const std::string& hash) {
  constexpr std::size_t kMaxCachedTokens = 10000;
  std::uint64_t revocations = 0;
  {
    std::lock_guard lock(token_mu_);
    auto it = tokens_.find(hash);
    if (it != tokens_.end() && std::chrono::steady_clock::now() < it->second.expires)
      return it->second.token;
    revocations = revocations_;
  }
  auto token = store_->FindTokenByHash(hash);
  if (!token.ok()) return token;
  std::lock_guard lock(token_mu_);
  // A revocation committed meanwhile may be what this read missed: not kept.
  if (revocations == revocations_) {
    if (tokens_.size() >= kMaxCachedTokens) tokens_.clear();
    tokens_[hash] = {*token, std::chrono::steady_clock::now() + kTokenCacheTtl};
  }
  return token;
}

void Api::ForgetToken(const std::string& id) {
  std::lock_guard lock(token_mu_);
  ++revocations_;
  for (auto it = tokens_.begin(); it != tokens_.end();) {
    it = it->second.token.id == id ? tokens_.erase(it) : std::next(it);
  }
}

std::optional<Response> Api::Precheck(const Request& r) {
  if (IsConsoleRequest(r)) return std::nullopt;  // the web console: no token
  std::vector<std::string> params;
  if (const RouteEntry* route = FindRoute(r, &params); route != nullptr && !route->token)
    return std::nullopt;
  Caller c;
  return Authenticate(r, &c);
}

Response Api::Route(const Request& r, const Caller& c) {
  std::vector<std::string> params;
  const RouteEntry* route = FindRoute(r, &params);
  // A known path with another method is not found either.
  if (route == nullptr || !route->token)
    return Error(404, "not_found", "no such endpoint: " + r.method + " " + r.path);
  if (route->role != nullptr && c.rank > RoleRank(route->role))
    return Error(403, "permission_denied", route->refusal);
  return route->handle(Call{r, cp_, store_, clock_, c.token, c.tenant, c.rank, std::move(params), this});
}

}  // namespace sovgrid::server
