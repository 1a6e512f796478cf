#include "cli/client_command.h"

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "cli/table.h"
#include "common/json_limits.h"
#include "common/status.h"

namespace sovgrid::cli {
namespace {

using nlohmann::json;

struct Connection {
  std::string server;      // --server, else $SOVGRID_SERVER, else http://127.0.0.1:8080
  std::string token_file;  // --token-file, else $SOVGRID_TOKEN, else ~/.config/sovgrid/token
  std::string ca_cert;     // --ca-cert: trust this certificate for https:// servers
  bool json_output = false;
};

// Exit codes: 0 done, 1 the server refused (4xx/5xx), 2 usage, 3 the server could not be reached.
struct Reply {  // NOLINT(bugprone-exception-escape): json's move may throw only on a bug
  int exit_code = 0;
  json body;
};

Result<std::string> Token(const Connection& c) {
  if (!c.token_file.empty()) {
    std::ifstream in(c.token_file);
    std::string t;
    if (!std::getline(in, t) || t.empty())
      return IoError("cannot read a token from " + c.token_file);
    return t;
  }
  if (const char* t = std::getenv("SOVGRID_TOKEN"); t != nullptr && *t != '\0')
    return std::string(t);
  if (const char* home = std::getenv("HOME"); home != nullptr) {
    const std::string path = std::string(home) + "/.config/sovgrid/token";
    std::ifstream in(path);
    std::string t;
    if (std::getline(in, t) && !t.empty()) return t;
  }
  return std::string();  // the server answers 401 with what is missing
}

// One request; the body as received. exit_code 2 or 3 when no answer was had.
struct RawReply {
  int exit_code = 0;
  int status = 0;
  std::string body;
};

// One attempt at one server (a URL already checked).
httplib::Result FetchOne(const Connection& c, std::string server, const std::string& token,
                         const std::string& method, const std::string& path,
                         const std::string& body) {
  if (server.back() == '/') server.pop_back();
  httplib::Client client(server);
  client.set_connection_timeout(5, 0);
  client.set_tcp_nodelay(true);
  if (!c.ca_cert.empty()) client.set_ca_cert_path(c.ca_cert.c_str());
  client.set_read_timeout(60, 0);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  return method == "GET"      ? client.Get(path, headers)
         : method == "DELETE" ? client.Delete(path, headers)
                              : client.Post(path, headers, body, "application/json");
}

// The daemon's answer. SOVGRID_SERVER (or --server) may name several daemons
// of one control plane, comma-separated (docs/deployment.md): the next is
// tried when one cannot be reached or answers that it has no leader.
RawReply Fetch(const Connection& c, const std::string& method, const std::string& path,
               const std::string& body = {}) {
  std::string list = c.server;
  if (list.empty()) {
    const char* env = std::getenv("SOVGRID_SERVER");
    list = env != nullptr && *env != '\0' ? env : "http://127.0.0.1:8080";
  }
  std::vector<std::string> servers;
  for (std::size_t start = 0; start <= list.size();) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    std::string one = list.substr(start, comma - start);
    while (!one.empty() && one.front() == ' ') one.erase(one.begin());
    while (!one.empty() && one.back() == ' ') one.pop_back();
    servers.push_back(one);
    start = comma + 1;
  }
  static const std::regex kUrl(R"(^https?://[^/\s,]+/?$)");
  for (const auto& server : servers) {
    if (!std::regex_match(server, kUrl)) {
      std::cerr << "error: --server: expected http://HOST:PORT[,http://HOST:PORT...], found '"
                << server << "'\n";
      return {2, 0, {}};
    }
  }
  auto token = Token(c);
  if (!token.ok()) {
    std::cerr << "error: " << token.status().message() << "\n";
    return {2, 0, {}};
  }
  std::string errors;
  RawReply last{3, 0, {}};
  for (const auto& server : servers) {
    httplib::Result r = FetchOne(c, server, *token, method, path, body);
    if (!r) {
      errors += (errors.empty() ? "" : "; ") + server + ": " + httplib::to_string(r.error());
      continue;
    }
    last = {0, r->status, r->body};
    const bool no_leader =
        r->status == 503 && (r->body.find("\"no_leader\"") != std::string::npos ||
                             r->body.find("\"not_leader\"") != std::string::npos);
    if (!no_leader) return last;
  }
  if (last.status != 0) return last;
  std::cerr << "error: cannot reach " << errors << "\n";
  return {3, 0, {}};
}

// Prints the server's error (message, field, every problem); exit code 1.
int ReportError(const RawReply& r) {
  const json body = ParseJsonBounded(r.body).value_or(json());
  const json& e = body.is_object() && body.contains("error") ? body["error"] : json();
  std::cerr << "error: " << (e.is_object() ? e.value("message", r.body) : r.body);
  if (e.is_object() && e.contains("field"))
    std::cerr << " (" << e["field"].get<std::string>() << ")";
  std::cerr << " [HTTP " << r.status << "]\n";
  if (e.is_object() && e.contains("problems") && e["problems"].size() > 1) {
    for (const auto& p : e["problems"]) std::cerr << "  " << p.get<std::string>() << "\n";
  }
  return 1;
}

Reply Call(const Connection& c, const std::string& method, const std::string& path,
           const std::string& body = {}) {
  const RawReply raw = Fetch(c, method, path, body);
  if (raw.exit_code != 0) return {raw.exit_code, {}};
  Reply reply;
  reply.body = ParseJsonBounded(raw.body).value_or(json());  // a hostile server too
  if (raw.status >= 400) reply.exit_code = ReportError(raw);
  return reply;
}

// An id as one URL path segment: everything but unreserved characters percent-encoded.
std::string PathSegment(const std::string& id) {
  std::string out;
  for (unsigned char ch : id) {
    if (std::isalnum(ch) != 0 || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += fmt::format("%{:02X}", ch);
    }
  }
  return out;
}

std::string When(std::int64_t t) {
  if (t <= 0) return "-";
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string Shape(const json& spec) {
  if (!spec.is_object()) return "";
  if (spec.contains("fraction")) return fmt::format("{:.2f} acc", spec["fraction"].get<double>());
  return std::to_string(spec.value("accelerators", 1)) + " acc";
}

int Print(const Connection& c, const Reply& r, const std::function<void(const json&)>& table) {
  if (r.exit_code != 0) return r.exit_code;
  if (c.json_output) {
    std::cout << r.body.dump(2) << "\n";
  } else {
    table(r.body);
  }
  return 0;
}

std::string ReadInput(const std::string& file) {
  std::stringstream s;
  if (file == "-") {
    s << std::cin.rdbuf();
  } else {
    std::ifstream in(file);
    if (!in) return {};
    s << in.rdbuf();
  }
  return s.str();
}

std::string Query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    q += (q.empty() ? "?" : "&") + k + "=" + httplib::detail::encode_query_param(v);
  }
  return q;
}

}  // namespace

void AddClientCommands(CLI::App& app) {
  auto conn = std::make_shared<Connection>();
  auto add_connection = [conn](CLI::App* cmd) {
    cmd->add_option(
        "--server", conn->server,
        "Daemon URL, or several daemons of one control plane comma-separated, tried in turn "
        "(default: $SOVGRID_SERVER, else http://127.0.0.1:8080)");
    cmd->add_option(
        "--token-file", conn->token_file,
        "File holding the token (default: $SOVGRID_TOKEN, else ~/.config/sovgrid/token)");
    cmd->add_flag("--json", conn->json_output, "Print the server's JSON instead of a table");
    cmd->add_option("--ca-cert", conn->ca_cert, "PEM certificate to trust for an https:// server");
  };
  auto finish = [](int rc) {
    if (rc != 0) throw CLI::RuntimeError(rc);
  };

  {  // submit
    auto file = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand(
        "submit", "Submit a job, or {\"jobs\": [...]} as one batch, from a JSON file ('-': stdin)");
    cmd->add_option("file", *file, "JSON file")->required();
    add_connection(cmd);
    cmd->callback([conn, file, finish] {
      const std::string body = ReadInput(*file);
      if (body.empty()) {
        std::cerr << "error: cannot read " << *file << "\n";
        throw CLI::RuntimeError(2);
      }
      const json parsed = ParseJsonBounded(body).value_or(json());
      const bool batch = parsed.is_object() && parsed.contains("jobs");
      const Reply r = Call(*conn, "POST", batch ? "/v1/jobs:batch" : "/v1/jobs", body);
      finish(Print(*conn, r, [&](const json& b) {
        if (batch) {
          std::cout << "submitted " << b["ids"].size() << " jobs\n";
        } else {
          std::cout << "submitted " << b["id"].get<std::string>() << "\n";
        }
      }));
    });
  }
  {  // jobs
    auto state = std::make_shared<std::string>();
    auto tenant = std::make_shared<std::string>();
    auto limit = std::make_shared<int>(100);
    auto after = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand("jobs", "List jobs (oldest first, one page)");
    cmd->add_option("--state", *state, "pending | running | finished | failed | cancelled");
    cmd->add_option("--tenant", *tenant, "Only this tenant's subtree");
    cmd->add_option("--limit", *limit, "Jobs per page (1..1000)")->capture_default_str();
    cmd->add_option("--after", *after, "Cursor printed at the end of the previous page");
    add_connection(cmd);
    cmd->callback([=] {
      const Reply r = Call(*conn, "GET",
                           "/v1/jobs" + Query({{"state", *state},
                                               {"tenant", *tenant},
                                               {"limit", std::to_string(*limit)},
                                               {"after", *after}}));
      finish(Print(*conn, r, [](const json& b) {
        TextTable t({"id", "tenant", "state", "submitted (UTC)", "reason"});
        for (const auto& j : b["jobs"]) {
          t.AddRow({j["id"], j["tenant"], j["state"], When(j["submitted_at"]), j["reason"]});
        }
        t.Print(std::cout);
        if (b["next_after"].get<std::int64_t>() != 0)
          std::cout << "more: --after " << b["next_after"].get<std::int64_t>() << "\n";
      }));
    });
  }
  // A job is NAME within its tenant; --tenant picks one when the token sees
  // several tenants using that name (docs/api.md, "Job ids").
  auto job_path = [](const std::string& id, const std::string& tenant, const std::string& rest) {
    return "/v1/jobs/" + PathSegment(id) + rest + Query({{"tenant", tenant}});
  };
  {  // job
    auto id = std::make_shared<std::string>();
    auto tenant = std::make_shared<std::string>();
    CLI::App* cmd =
        app.add_subcommand("job", "One job: state, where it runs, why it waits, history");
    cmd->add_option("id", *id, "Job id")->required();
    cmd->add_option("--tenant", *tenant, "The job's tenant (when several use this id)");
    add_connection(cmd);
    cmd->callback([=] {
      const Reply r = Call(*conn, "GET", job_path(*id, *tenant, ""));
      finish(Print(*conn, r, [](const json& j) {
        std::cout << Printable(fmt::format("{}  tenant {}  {}  {}", j["id"].get<std::string>(),
                                           j["tenant"].get<std::string>(), Shape(j["spec"]),
                                           j["state"].get<std::string>()))
                  << "\n";
        if (j.contains("pending_reason"))
          std::cout << "waiting: " << Printable(j["pending_reason"].get<std::string>()) << "\n";
        if (j.contains("assignment")) {
          for (const auto& part : j["assignment"])
            std::cout << "runs on " << Printable(part["node"].get<std::string>())
                      << " accelerators " << part["accelerators"].dump() << "\n";
        }
        TextTable t({"time (UTC)", "state", "detail"});
        for (const auto& e : j["history"]) t.AddRow({When(e["at"]), e["state"], e["detail"]});
        t.Print(std::cout);
      }));
    });
  }
  {  // logs
    auto id = std::make_shared<std::string>();
    auto tenant = std::make_shared<std::string>();
    auto stderr_stream = std::make_shared<bool>(false);
    auto follow = std::make_shared<bool>(false);
    CLI::App* cmd = app.add_subcommand(
        "logs", "A job's captured output (local and slurm execution; the twin keeps none)");
    cmd->add_option("id", *id, "Job id")->required();
    cmd->add_flag("--stderr", *stderr_stream, "Standard error instead of standard output");
    cmd->add_flag("-f,--follow", *follow, "Keep printing new output until the job ends");
    cmd->add_option("--tenant", *tenant, "The job's tenant (when several use this id)");
    add_connection(cmd);
    cmd->callback([=] {
      const std::string base = "/v1/jobs/" + PathSegment(*id);
      const std::string in_tenant = tenant->empty() ? "" : "&tenant=" + PathSegment(*tenant);
      const std::string stream = *stderr_stream ? "stderr" : "stdout";
      std::size_t offset = 0;
      for (;;) {
        const RawReply r = Fetch(
            *conn, "GET",
            base + "/logs?stream=" + stream + in_tenant + "&offset=" + std::to_string(offset));
        if (r.exit_code != 0) throw CLI::RuntimeError(r.exit_code);
        if (r.status >= 400) throw CLI::RuntimeError(ReportError(r));
        std::cout << r.body << std::flush;
        offset += r.body.size();
        if (!r.body.empty()) continue;  // more may be there already
        if (!*follow) break;
        const Reply job = Call(*conn, "GET", job_path(*id, *tenant, ""));
        if (job.exit_code != 0) throw CLI::RuntimeError(job.exit_code);
        const std::string state = job.body.value("state", "");
        if (state != "pending" && state != "running") {
          // One last read: output written just before the end.
          const RawReply last = Fetch(
              *conn, "GET",
              base + "/logs?stream=" + stream + in_tenant + "&offset=" + std::to_string(offset));
          if (last.exit_code == 0 && last.status < 400) std::cout << last.body << std::flush;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    });
  }
  {  // cancel
    auto id = std::make_shared<std::string>();
    auto tenant = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand("cancel", "Cancel a pending or running job");
    cmd->add_option("id", *id, "Job id")->required();
    cmd->add_option("--tenant", *tenant, "The job's tenant (when several use this id)");
    add_connection(cmd);
    cmd->callback([=] {
      const Reply r = Call(*conn, "POST", job_path(*id, *tenant, "/cancel"));
      finish(Print(*conn, r, [&](const json&) { std::cout << "cancelled " << *id << "\n"; }));
    });
  }
  {  // grid
    CLI::App* cmd = app.add_subcommand("grid", "Pools of the grid with accelerators used and free");
    add_connection(cmd);
    cmd->callback([=] {
      const Reply r = Call(*conn, "GET", "/v1/grid");
      finish(Print(*conn, r, [](const json& b) {
        TextTable t({"pool", "site", "model", "nodes", "accelerators", "used", "free"});
        for (const auto& p : b["pools"]) {
          t.AddRow({p["id"], p["site"], p["accelerator"],
                    std::to_string(p["nodes"].get<long long>()),
                    std::to_string(p["accelerators"].get<long long>()),
                    fmt::format("{:.1f}", p["used"].get<double>()),
                    fmt::format("{:.1f}", p["free"].get<double>())});
        }
        t.Print(std::cout);
        std::cout << b["jobs_pending"] << " jobs pending, " << b["jobs_running"] << " running\n";
      }));
    });
  }
  {  // accounting
    auto from = std::make_shared<std::string>();
    auto until = std::make_shared<std::string>();
    auto group_by = std::make_shared<std::string>("tenant");
    auto tenant = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand(
        "accounting", "Usage charged in a period, grouped (the last 30 days by default)");
    cmd->add_option("--from", *from, "Start: YYYY-MM-DD, RFC 3339 or Unix seconds");
    cmd->add_option("--until", *until, "End (exclusive), as --from; default now");
    cmd->add_option("--group-by", *group_by,
                    "tenant | grant | pool | site | operator | model | day, or two: day,tenant")
        ->capture_default_str();
    cmd->add_option("--tenant", *tenant, "Only this tenant's subtree");
    add_connection(cmd);
    cmd->callback([=] {
      const Reply r = Call(*conn, "GET",
                           "/v1/accounting" + Query({{"from", *from},
                                                     {"until", *until},
                                                     {"group_by", *group_by},
                                                     {"tenant", *tenant}}));
      finish(Print(*conn, r, [](const json& b) {
        const std::string key = b["group_by"];
        TextTable t({key, "accelerator-h", "units", "energy kWh", "lost accelerator-h", "jobs ended",
                     "segments"});
        auto row = [&](const std::string& name, const json& x) {
          t.AddRow({name, fmt::format("{:.1f}", x["accelerator_hours"].get<double>()),
                    fmt::format("{:.1f}", x["charged_units"].get<double>()),
                    fmt::format("{:.1f}", x["energy_kwh"].get<double>()),
                    fmt::format("{:.1f}", x["lost_accelerator_hours"].get<double>()),
                    std::to_string(x["jobs"].get<long long>()),
                    std::to_string(x["segments"].get<long long>())});
        };
        // Two keys ("day,tenant"): the row's name is both values.
        std::vector<std::string> keys;
        for (std::size_t at = 0; at <= key.size();) {
          const std::size_t comma = std::min(key.find(',', at), key.size());
          keys.push_back(key.substr(at, comma - at));
          at = comma + 1;
        }
        for (const auto& x : b["rows"]) {
          std::string name;
          for (const auto& k : keys) {
            const std::string part = x.value(k, std::string());
            name += (name.empty() ? "" : " ") + (part.empty() ? std::string("(none)") : part);
          }
          row(name, x);
        }
        row("total", b["total"]);
        std::cout << "from " << When(b["from"]) << " until " << When(b["until"]) << " UTC\n";
        t.Print(std::cout);
      }));
    });
  }
  {  // grants
    auto tenant = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand(
        "grants", "Grant burn-down: granted, used, left and projected exhaustion");
    cmd->add_option("--tenant", *tenant, "Only this tenant's subtree");
    add_connection(cmd);
    cmd->callback([=] {
      const Reply r = Call(*conn, "GET", "/v1/accounting/grants" + Query({{"tenant", *tenant}}));
      finish(Print(*conn, r, [](const json& b) {
        TextTable t({"tenant", "grant", "class", "granted", "used", "left", "units/day",
                     "runs out (UTC)", "valid until (UTC)"});
        for (const auto& g : b["grants"]) {
          const std::string cls = g["quota_class"];
          t.AddRow({g["tenant"], g["grant"], cls.empty() ? "any" : cls,
                    fmt::format("{:.1f}", g["granted_units"].get<double>()),
                    fmt::format("{:.1f}", g["used_units"].get<double>()),
                    fmt::format("{:.1f}", g["left_units"].get<double>()),
                    fmt::format("{:.1f}", g["units_per_day"].get<double>()),
                    g["projected_exhaustion"].is_null()
                        ? "not before its end"
                        : When(g["projected_exhaustion"].get<std::int64_t>()),
                    When(g["valid_until"])});
        }
        t.Print(std::cout);
      }));
    });
  }
  {  // usage
    auto tenant = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand("usage", "A tenant's usage against its quota and grants");
    cmd->add_option("tenant", *tenant, "Tenant id")->required();
    add_connection(cmd);
    cmd->callback([=] {
      const Reply r = Call(*conn, "GET", "/v1/tenants/" + PathSegment(*tenant) + "/usage");
      finish(Print(*conn, r, [](const json& b) {
        TextTable t({"quota class", "used", "guarantee", "may reach"});
        for (const auto& c : b["classes"]) {
          if (c["used"].get<double>() == 0 && c["guarantee"].get<double>() == 0) continue;
          t.AddRow({c["class"], fmt::format("{:.1f}", c["used"].get<double>()),
                    fmt::format("{:.1f}", c["guarantee"].get<double>()),
                    fmt::format("{:.1f}", c["maximum"].get<double>())});
        }
        t.Print(std::cout);
        if (!b["grants"].empty()) {
          TextTable g({"grant", "class", "units", "used", "valid from (UTC)", "until (UTC)"});
          for (const auto& x : b["grants"]) {
            g.AddRow({x["id"],
                      x["quota_class"].get<std::string>().empty() ? "any" : x["quota_class"],
                      fmt::format("{:.0f}", x["units"].get<double>()),
                      fmt::format("{:.1f}", x["used_units"].get<double>()), When(x["valid_from"]),
                      When(x["valid_until"])});
          }
          std::cout << "\n";
          g.Print(std::cout);
        }
      }));
    });
  }
  {  // admin
    CLI::App* admin = app.add_subcommand(
        "admin", "Site and node states, quotas, grants, tokens and the audit log");
    admin->require_subcommand(1);
    auto tenant = std::make_shared<std::string>();
    auto role = std::make_shared<std::string>("user");
    CLI::App* create =
        admin->add_subcommand("token-create", "Create a token (its secret is shown once)");
    create->add_option("--tenant", *tenant, "Tenant subtree the token is bound to (empty: all)");
    create->add_option("--role", *role, "admin | tenant-admin | user | read-only")
        ->capture_default_str();
    add_connection(create);
    create->callback([=] {
      const Reply r =
          Call(*conn, "POST", "/v1/tokens", json({{"tenant", *tenant}, {"role", *role}}).dump());
      finish(Print(*conn, r, [](const json& b) {
        std::cout << "token " << b["id"].get<std::string>() << " (" << b["role"].get<std::string>()
                  << "): " << b["token"].get<std::string>() << "\n";
      }));
    });
    CLI::App* list = admin->add_subcommand("tokens", "List tokens");
    add_connection(list);
    list->callback([=] {
      const Reply r = Call(*conn, "GET", "/v1/tokens");
      finish(Print(*conn, r, [](const json& b) {
        TextTable t({"id", "tenant", "role", "created (UTC)", "revoked"});
        for (const auto& k : b["tokens"])
          t.AddRow({k["id"], k["tenant"], k["role"], When(k["created_at"]),
                    k["revoked"] ? "yes" : "no"});
        t.Print(std::cout);
      }));
    });
    auto token_id = std::make_shared<std::string>();
    CLI::App* revoke = admin->add_subcommand("token-revoke", "Revoke a token");
    revoke->add_option("id", *token_id, "Token id")->required();
    add_connection(revoke);
    revoke->callback([=] {
      const Reply r = Call(*conn, "DELETE", "/v1/tokens/" + PathSegment(*token_id));
      finish(Print(*conn, r, [&](const json&) { std::cout << "revoked " << *token_id << "\n"; }));
    });
    for (const char* what : {"site", "node"}) {
      auto name = std::make_shared<std::string>();
      auto state = std::make_shared<std::string>();
      const std::string kind = what;
      CLI::App* cmd = admin->add_subcommand(
          kind, "Set a " + kind +
                    "'s state: up, draining (no new placements) or down (its jobs "
                    "are requeued)");
      cmd->add_option("name", *name, kind == "site" ? "Site id" : "Node, as POOL/nNNNNN")
          ->required();
      cmd->add_option("state", *state, "up | draining | down")
          ->required()
          ->check(CLI::IsMember({"up", "draining", "down"}));
      add_connection(cmd);
      cmd->callback([=] {
        const Reply r =
            Call(*conn, "POST", "/v1/admin/" + kind + "s/" + PathSegment(*name) + "/state",
                 json({{"state", *state}}).dump());
        finish(Print(*conn, r, [&](const json&) {
          std::cout << kind << " " << *name << ": " << *state << "\n";
        }));
      });
    }
    // Quota and grants: the same command shape, a tenant and a JSON body for one endpoint.
    const std::pair<const char*, const char*> tenant_bodies[] = {
        {"quota",
         "Replace a tenant's quota from JSON {\"guarantee\", \"borrow_limit\", "
         "\"lend_limit\"} ('-': stdin)"},
        {"grants", "Replace a tenant's grants from JSON {\"grants\": [...]} ('-': stdin)"}};
    for (const auto& [what_c, help] : tenant_bodies) {
      const std::string what = what_c;
      auto target = std::make_shared<std::string>();
      auto file = std::make_shared<std::string>();
      CLI::App* cmd = admin->add_subcommand(what, help);
      cmd->add_option("tenant", *target, "Tenant id")->required();
      cmd->add_option("file", *file, "JSON file")->required();
      add_connection(cmd);
      cmd->callback([=] {
        const std::string body = ReadInput(*file);
        if (body.empty()) {
          std::cerr << "error: cannot read " << *file << "\n";
          throw CLI::RuntimeError(2);
        }
        const Reply r =
            Call(*conn, "POST", "/v1/admin/tenants/" + PathSegment(*target) + "/" + what, body);
        finish(Print(*conn, r,
                     [&](const json&) { std::cout << what << " of " << *target << " set\n"; }));
      });
    }
    CLI::App* audit = admin->add_subcommand("audit", "The audit log, oldest first");
    add_connection(audit);
    audit->callback([=] {
      const Reply r = Call(*conn, "GET", "/v1/audit?limit=1000");
      finish(Print(*conn, r, [](const json& b) {
        TextTable t({"seq", "time (UTC)", "actor", "action", "target", "detail"});
        for (const auto& e : b["entries"]) {
          t.AddRow({std::to_string(e["seq"].get<long long>()), When(e["at"]), e["actor"],
                    e["action"], e["target"], e["detail"]});
        }
        t.Print(std::cout);
      }));
    });
  }
}

}  // namespace sovgrid::cli
