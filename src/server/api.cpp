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
#include <regex>

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

// The field a "$.jobs[1].accelerators: ..." message is about.
std::string FieldOf(const std::string& problem) {
  const auto colon = problem.find(": ");
  return colon == std::string::npos ? std::string() : problem.substr(0, colon);
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

Response Api::Handle(const Request& r) {
  if (r.method == "GET" && r.path == "/healthz") return Json(200, {{"status", "ok"}});
  if (r.method == "GET" && r.path == "/readyz") {
    // Ready once the state is restored and a first cycle has run on it.
    if (cp_->counters().cycles == 0) return Json(503, {{"status", "starting"}});
    const StoreHealth store = cp_->store_health();
    if (!store.ok) {
      // Reads still work; writes answer 503 until a commit succeeds again.
      return Json(503, {{"status", "store_failing"},
                        {"backend", cp_->backend_name()},
                        {"store", {{"ok", false}, {"error", store.error}}}});
    }
    // Ready while the store takes commits; sites the backend cannot reach are
    // named (the control plane serves everything else meanwhile).
    json unhealthy = json::array();
    for (const auto& site : cp_->Grid().sites) {
      if (site.state != "up")
        unhealthy.push_back({{"site", site.id}, {"state", site.state}, {"reason", site.reason}});
    }
    return Json(200, {{"status", "ready"},
                      {"backend", cp_->backend_name()},
                      {"sites_not_up", std::move(unhealthy)}});
  }
  if (r.method == "GET" && r.path == "/metrics") {
    const ControlPlaneCounters c = cp_->counters();
    const GridSummary g = cp_->Grid();
    std::string m;
    auto counter = [&](const char* name, const char* help, double v) {
      m += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name +
           " " + json(v).dump() + "\n";
    };
    auto gauge = [&](const char* name, const char* help, double v) {
      m += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name +
           " " + json(v).dump() + "\n";
    };
    counter("sovgrid_jobs_submitted_total", "Jobs accepted.", static_cast<double>(c.submitted));
    counter("sovgrid_jobs_started_total", "Job starts.", static_cast<double>(c.started));
    counter("sovgrid_jobs_finished_total", "Jobs finished.", static_cast<double>(c.finished));
    counter("sovgrid_jobs_failed_total", "Jobs failed.", static_cast<double>(c.failed));
    counter("sovgrid_jobs_cancelled_total", "Jobs cancelled.", static_cast<double>(c.cancelled));
    counter("sovgrid_preemptions_total", "Preemptions.", static_cast<double>(c.preempted));
    counter("sovgrid_cycles_total", "Scheduling cycles.", static_cast<double>(c.cycles));
    gauge("sovgrid_last_cycle_seconds", "Duration of the last cycle.", c.last_cycle_ms / 1000);
    const StoreHealth store = cp_->store_health();
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
    return {200, "text/plain; version=0.0.4", m, {}};
  }
  if (r.method == "GET" && r.path == "/v1/openapi.json")
    return {200, "application/json", OpenApiJson(), {}};
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
  if (r.method == "GET" && (r.path == "/healthz" || r.path == "/readyz" || r.path == "/metrics" ||
                            r.path == "/v1/openapi.json"))
    return std::nullopt;
  Caller c;
  return Authenticate(r, &c);
}

Response Api::Route(const Request& r, const Caller& c) {
  const model::Scenario& sc = cp_->scenario();
  auto visible = [&](const std::string& tenant) {
    if (c.tenant < 0) return true;
    const int t = sc.FindTenant(tenant);
    return t >= 0 && sc.InSubtree(t, c.tenant);
  };
  auto may = [&](const char* role) { return c.rank <= RoleRank(role); };
  auto audit = [&](const std::string& action, const std::string& target, const std::string& d) {
    return store::AuditEntry{0, clock_(), c.token.id, action, target, d};
  };
  // The job a path names for this caller: NAME in the tenant of ?tenant=, or
  // else the only job of that name in the token's subtree. Jobs the token
  // cannot see are "not found" exactly as names that exist nowhere.
  auto find_job = [&](const std::string& name, store::StoredJob* out) -> std::optional<Response> {
    Response not_found = Error(404, "not_found", "job '" + name + "' not found");
    if (!CheckJobName(name).ok()) return not_found;
    if (auto t = r.query.find("tenant"); t != r.query.end()) {
      if (sc.FindTenant(t->second) < 0 || !visible(t->second)) return not_found;
      auto record = store_->GetJob(JobKey(t->second, name));
      if (!record.ok())
        return record.status().code() == StatusCode::kNotFound ? not_found
                                                               : FromStatus(record.status());
      *out = std::move(record).value();
      return std::nullopt;
    }
    // A name is unique within a tenant: at most one row per tenant.
    auto found = store_->FindJobsByName(name, static_cast<int>(sc.tenants.size()) + 1);
    if (!found.ok()) return FromStatus(found.status());
    std::vector<std::string> tenants;
    for (auto& j : *found) {
      if (!visible(j.tenant)) continue;
      tenants.push_back(j.tenant);
      *out = std::move(j);
    }
    if (tenants.empty()) return not_found;
    if (tenants.size() > 1) {
      std::string list;
      for (const auto& t : tenants) list += (list.empty() ? "" : ", ") + t;
      return Error(409, "ambiguous",
                   "job '" + name + "' exists in tenants " + list + ": add ?tenant=TENANT",
                   "tenant");
    }
    return std::nullopt;
  };
  auto parse_body = [&](json* out) -> std::optional<Response> {
    auto parsed = ParseJsonBounded(r.body);  // depth-checked: common/json_limits.h
    if (!parsed.ok()) return Error(400, "invalid_argument", parsed.status().message(), "$");
    *out = std::move(parsed).value();
    return std::nullopt;
  };
  auto submit = [&](const std::vector<const json*>& items, const std::string& base, bool batch) {
    std::vector<model::Job> jobs(items.size());
    std::vector<std::string> problems;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string path = batch ? base + "[" + std::to_string(i) + "]" : base;
      const JobProblems p = JobFromJson(*items[i], path, &jobs[i]);
      problems.insert(problems.end(), p.messages.begin(), p.messages.end());
      if (p.ok() && !visible(jobs[i].tenant)) {
        problems.push_back(path + ".tenant: this token may not submit for tenant '" +
                           jobs[i].tenant + "'");
      }
    }
    if (!problems.empty()) {
      return Error(400, "invalid_argument", problems.front(), FieldOf(problems.front()), problems);
    }
    // The audit entry is committed with the jobs (one transaction, one disk sync).
    const std::string target =
        jobs.size() == 1 ? jobs.front().id : std::to_string(jobs.size()) + " jobs";
    auto ids =
        cp_->Submit(std::move(jobs), clock_(),
                    store::AuditEntry{0, clock_(), c.token.id,
                                      batch ? "job.submit_batch" : "job.submit", target, ""});
    if (!ids.ok()) {
      // The scheduler's validation ("jobs[3] (id x): job.tenant: unknown tenant 'y'") is the
      // caller's mistake: 400 naming the field.
      const Status& s = ids.status();
      if (s.code() != StatusCode::kInvalidArgument && s.code() != StatusCode::kNotFound)
        return FromStatus(s);
      std::string field = base;
      const auto at = s.message().find(" (id ");
      if (batch && s.message().rfind("jobs[", 0) == 0 && at != std::string::npos)
        field = "$." + s.message().substr(0, at);
      const auto f = s.message().find("): job.");
      if (f != std::string::npos) {
        const auto end = s.message().find(':', f + 7);
        field += "." + s.message().substr(f + 7, end - (f + 7));
      }
      return Error(400, "invalid_argument", s.message(), field);
    }
    if (!batch) {
      return Json(201, {{"id", JobNameOfKey(ids->front())},
                        {"tenant", items.size() == 1 ? (*items[0])["tenant"] : json()}});
    }
    json names = json::array();
    for (const auto& key : *ids) names.push_back(JobNameOfKey(key));
    return Json(201, {{"ids", names}});
  };

  static const std::regex kJob(R"(^/v1/jobs/([^/]+)$)");
  static const std::regex kJobCancel(R"(^/v1/jobs/([^/]+)/cancel$)");
  static const std::regex kJobLogs(R"(^/v1/jobs/([^/]+)/logs$)");
  static const std::regex kToken(R"(^/v1/tokens/([^/]+)$)");
  std::smatch m;

  if (r.path == "/v1/scenario" && r.method == "GET")  // what the web console shows
    return Json(200, ScenarioJson(sc, c.tenant, c.token.id, c.token.role));
  if (r.path == "/v1/jobs" && r.method == "POST") {
    if (!may("user")) return Error(403, "permission_denied", "read-only token");
    json body;
    if (auto bad = parse_body(&body)) return *bad;
    return submit({&body}, "$", false);
  }
  if (r.path == "/v1/jobs:batch" && r.method == "POST") {
    if (!may("user")) return Error(403, "permission_denied", "read-only token");
    json body;
    if (auto bad = parse_body(&body)) return *bad;
    if (!body.is_object() || !body.contains("jobs") || !body["jobs"].is_array())
      return Error(400, "invalid_argument", "expected {\"jobs\": [...]}", "$.jobs");
    for (const auto& [key, v] : body.items()) {
      if (key != "jobs") return Error(400, "invalid_argument", "unknown field", "$." + key);
    }
    if (body["jobs"].empty() || body["jobs"].size() > kMaxBatch)
      return Error(400, "invalid_argument", "expected 1..10000 jobs", "$.jobs");
    std::vector<const json*> items;
    for (const auto& j : body["jobs"]) items.push_back(&j);
    return submit(items, "$.jobs", true);
  }
  if (r.path == "/v1/jobs" && r.method == "GET") {
    store::JobFilter f;
    for (const auto& [k, v] : r.query) {
      if (k == "state") {
        f.state = v;
      } else if (k == "tenant") {
        const int t = sc.FindTenant(v);
        if (t < 0 || !visible(v)) return Json(200, {{"jobs", json::array()}, {"next_after", 0}});
        for (std::size_t i = 0; i < sc.tenants.size(); ++i) {
          if (sc.InSubtree(static_cast<int>(i), t)) f.tenants.push_back(sc.tenants[i].id);
        }
      } else if (k == "after") {
        if (!ParseInt(v, 0, std::numeric_limits<std::int64_t>::max(), &f.after_seq))
          return Error(400, "invalid_argument", "expected a cursor", "after");
      } else if (k == "limit") {
        std::int64_t limit = 0;
        if (!ParseInt(v, 1, 1000, &limit))
          return Error(400, "invalid_argument", "expected 1..1000", "limit");
        f.limit = static_cast<int>(limit);
      } else {
        return Error(400, "invalid_argument", "unknown query parameter", k);
      }
    }
    if (c.tenant >= 0 && f.tenants.empty()) {
      for (std::size_t i = 0; i < sc.tenants.size(); ++i) {
        if (sc.InSubtree(static_cast<int>(i), c.tenant)) f.tenants.push_back(sc.tenants[i].id);
      }
    }
    auto page = cp_->List(f);
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
  auto cancel = [&](const store::StoredJob& job) {
    if (!may("user")) return Error(403, "permission_denied", "read-only token");
    if (Status s = cp_->Cancel(job.id, clock_(), audit("job.cancel", job.id, "")); !s.ok())
      return FromStatus(s);
    return Json(200, {{"id", job.name}, {"tenant", job.tenant}, {"state", "cancelled"}});
  };
  if (std::regex_match(r.path, m, kJobCancel) && r.method == "POST") {
    for (const auto& [k, v] : r.query) {
      if (k != "tenant") return Error(400, "invalid_argument", "unknown query parameter", k);
    }
    store::StoredJob job;
    if (auto bad = find_job(m[1], &job)) return *bad;
    return cancel(job);
  }
  if (std::regex_match(r.path, m, kJobLogs) && r.method == "GET") {
    store::StoredJob job;
    if (auto bad = find_job(m[1], &job)) return *bad;
    std::string stream = "stdout";
    std::int64_t offset = 0, limit = kMaxLogChunk;
    for (const auto& [k, v] : r.query) {
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
        // Used by find_job.
      } else {
        return Error(400, "invalid_argument", "unknown query parameter", k);
      }
    }
    auto text = cp_->Logs(job.id, stream, static_cast<std::size_t>(offset),
                          static_cast<std::size_t>(limit));
    if (!text.ok()) {
      // A job that has not started yet has no output: an empty log, not an error.
      if (text.status().code() == StatusCode::kNotFound && job.state == "pending")
        return {200, "text/plain; charset=utf-8", "", {}};
      return FromStatus(text.status());
    }
    return {200, "text/plain; charset=utf-8", std::move(text).value(), {}};
  }
  if (std::regex_match(r.path, m, kJob) && (r.method == "GET" || r.method == "DELETE")) {
    for (const auto& [k, v] : r.query) {
      if (k != "tenant") return Error(400, "invalid_argument", "unknown query parameter", k);
    }
    store::StoredJob job;
    if (auto bad = find_job(m[1], &job)) return *bad;
    if (r.method == "DELETE") return cancel(job);
    auto info = cp_->Job(job.id);
    if (!info.ok()) return FromStatus(info.status());
    json out = JobJson(info->record, true);
    json history = json::array();
    for (const auto& e : info->history)
      history.push_back({{"at", e.at}, {"state", e.state}, {"detail", e.detail}});
    out["history"] = history;
    if (!info->pending_reason.empty()) out["pending_reason"] = info->pending_reason;
    return Json(200, out);
  }
  if (r.path == "/v1/grid" && r.method == "GET") {
    const GridSummary g = cp_->Grid();
    json pools = json::array();
    for (const auto& p : g.pools) {
      pools.push_back({{"id", p.id},
                       {"site", p.site},
                       {"site_state", p.site_state},
                       {"accelerator", p.accelerator},
                       {"nodes", p.nodes},
                       {"accelerators", p.accelerators},
                       {"used", p.used},
                       {"free", static_cast<double>(p.accelerators) - p.used}});
    }
    json sites = json::array();
    for (const auto& s : g.sites)
      sites.push_back({{"id", s.id}, {"state", s.state}, {"reason", s.reason}});
    return Json(200, {{"pools", pools},
                      {"sites", sites},
                      {"jobs_pending", g.pending},
                      {"jobs_running", g.running}});
  }
  if (r.path == "/v1/tokens" && r.method == "POST") {
    if (!may("tenant-admin")) return Error(403, "permission_denied", "needs an admin token");
    json body;
    if (auto bad = parse_body(&body)) return *bad;
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
    if (!tenant.empty() && sc.FindTenant(tenant) < 0)
      return Error(400, "invalid_argument", "unknown tenant '" + tenant + "'", "$.tenant");
    if (RoleRank(role) < c.rank || (c.tenant >= 0 && (tenant.empty() || !visible(tenant))))
      return Error(403, "permission_denied", "may not create a token above its own rights");
    const std::string secret = NewTokenSecret();
    store::TokenRecord t{NewTokenId(), TokenHash(secret), tenant, role, clock_(), false};
    if (Status s = store_->AddToken(
            t, {audit("token.create", t.id, role + " for " + (tenant.empty() ? "*" : tenant))});
        !s.ok())
      return FromStatus(s);
    return Json(201, {{"id", t.id}, {"token", secret}, {"tenant", tenant}, {"role", role}});
  }
  if (r.path == "/v1/tokens" && r.method == "GET") {
    if (!may("tenant-admin")) return Error(403, "permission_denied", "needs an admin token");
    auto tokens = store_->ListTokens();
    if (!tokens.ok()) return FromStatus(tokens.status());
    json out = json::array();
    for (const auto& t : *tokens) {
      if (c.tenant >= 0 && (t.tenant.empty() || !visible(t.tenant))) continue;
      out.push_back({{"id", t.id},
                     {"tenant", t.tenant},
                     {"role", t.role},
                     {"created_at", t.created_at},
                     {"revoked", t.revoked}});
    }
    return Json(200, {{"tokens", out}});
  }
  if (std::regex_match(r.path, m, kToken) && r.method == "DELETE") {
    if (!may("tenant-admin")) return Error(403, "permission_denied", "needs an admin token");
    const std::string id = m[1];
    auto tokens = store_->ListTokens();
    if (!tokens.ok()) return FromStatus(tokens.status());
    auto it = std::find_if(tokens->begin(), tokens->end(),
                           [&](const store::TokenRecord& t) { return t.id == id; });
    if (it == tokens->end() || (c.tenant >= 0 && (it->tenant.empty() || !visible(it->tenant))))
      return Error(404, "not_found", "token '" + id + "' not found");
    Status revoked = store_->RevokeToken(id, {audit("token.revoke", id, "")});
    // Also after a failure: the commit may have happened (a connection lost at COMMIT).
    ForgetToken(id);
    if (!revoked.ok()) return FromStatus(revoked);
    return Json(200, {{"id", id}, {"revoked", true}});
  }
  static const std::regex kUsage(R"(^/v1/tenants/([^/]+)/usage$)");
  static const std::regex kAdminState(R"(^/v1/admin/(nodes|sites)/(.+)/state$)");
  static const std::regex kAdminTenant(R"(^/v1/admin/tenants/([^/]+)/(quota|grants)$)");
  if (std::regex_match(r.path, m, kUsage) && r.method == "GET") {
    const std::string tenant = m[1];
    if (!visible(tenant)) return Error(404, "not_found", "tenant '" + tenant + "' not found");
    auto u = cp_->Usage(tenant);
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
                        {"accelerator_hours", g.grant.accelerator_hours},
                        {"used_hours", g.used_hours},
                        {"valid_from", g.grant.valid_from},
                        {"valid_until", g.grant.valid_until},
                        {"quota_class", g.grant.quota_class}});
    }
    return Json(200, {{"tenant", tenant}, {"classes", classes}, {"grants", grants}});
  }
  if ((std::regex_match(r.path, m, kAdminState) || std::regex_match(r.path, m, kAdminTenant)) &&
      r.method == "POST") {
    if (!may("admin")) return Error(403, "permission_denied", "needs an admin token");
    json body;
    if (auto bad = parse_body(&body)) return *bad;
    if (!body.is_object()) return Error(400, "invalid_argument", "expected an object", "$");
    const std::string what = m[1], name = m[2];
    Status s;
    const std::string target = name;
    std::string action;
    if (what == "nodes" || what == "sites") {
      for (const auto& [key, v] : body.items()) {
        if (key != "state") return Error(400, "invalid_argument", "unknown field", "$." + key);
      }
      if (!body.contains("state") || !body["state"].is_string())
        return Error(400, "invalid_argument", "expected \"up\", \"draining\" or \"down\"",
                     "$.state");
      const std::string state = body["state"];
      action = (what == "nodes" ? "node." : "site.") + state;
      s = what == "nodes"
              ? cp_->SetNodeState(name, state, clock_(), audit(action, target, body.dump()))
              : cp_->SetSiteState(name, state, clock_(), audit(action, target, body.dump()));
    } else if (m[2] == "quota") {
      const std::string tenant = m[1];
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
          return Error(400, "invalid_argument", parsed.status().message(),
                       FieldOf(parsed.status().message()));
        }
        amounts[i] = std::move(parsed).value();
      }
      s = cp_->SetQuota(tenant, amounts[0], amounts[1], amounts[2],
                        audit("tenant.quota", tenant, body.dump()));
    } else {
      const std::string tenant = m[1];
      for (const auto& [key, v] : body.items()) {
        if (key != "grants") return Error(400, "invalid_argument", "unknown field", "$." + key);
      }
      auto grants = GrantsFromJson(body.value("grants", json()));
      if (!grants.ok()) {
        return Error(400, "invalid_argument", grants.status().message(),
                     FieldOf(grants.status().message()));
      }
      s = cp_->SetGrants(tenant, *grants, audit("tenant.grants", tenant, body.dump()));
    }
    if (!s.ok()) return FromStatus(s);
    return Json(200, {{"ok", true}});
  }
  if (r.path == "/v1/audit" && r.method == "GET") {
    if (!may("admin")) return Error(403, "permission_denied", "needs an admin token");
    std::int64_t after = 0, limit = 100;
    if (auto it = r.query.find("after");
        it != r.query.end() &&
        !ParseInt(it->second, 0, std::numeric_limits<std::int64_t>::max(), &after))
      return Error(400, "invalid_argument", "expected a cursor", "after");
    if (auto it = r.query.find("limit");
        it != r.query.end() && !ParseInt(it->second, 1, 1000, &limit))
      return Error(400, "invalid_argument", "expected 1..1000", "limit");
    auto entries = store_->ListAudit(after, static_cast<int>(limit));
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
  return Error(404, "not_found", "no such endpoint: " + r.method + " " + r.path);
}

}  // namespace sovgrid::server
