#include "server/console.h"

#include <string_view>

namespace sovgrid::server {

using nlohmann::json;

bool IsConsoleRequest(const Request& r) {
  return (r.method == "GET" || r.method == "HEAD") &&
         (r.path == "/" || r.path == "/index.html" || r.path.rfind("/assets/", 0) == 0);
}

std::optional<Response> ConsoleResponse(const Request& r) {
  if (!IsConsoleRequest(r)) return std::nullopt;
  const std::string_view path = r.path == "/index.html" ? std::string_view("/") : r.path;
  Response out;
  out.headers = {{"Content-Security-Policy", kConsoleCsp},
                 {"X-Content-Type-Options", "nosniff"},
                 {"Referrer-Policy", "no-referrer"},
                 {"X-Frame-Options", "DENY"},
                 {"Cache-Control", "no-cache"}};
  for (const ConsoleAsset& a : ConsoleAssets()) {
    if (path != a.path) continue;
    out.content_type = a.content_type;
    out.body.assign(reinterpret_cast<const char*>(a.data), a.size);
    return out;
  }
  out.status = 404;
  out.body = json{{"error", {{"code", "not_found"}, {"message", "no such console file"}}}}.dump();
  return out;
}

json ScenarioJson(const model::Scenario& sc, int tenant, const std::string& token_id,
                  const std::string& role) {
  json sites = json::array();
  for (const auto& s : sc.sites) {
    sites.push_back({{"id", s.id},
                     {"name", s.name},
                     {"operator", s.operator_name},
                     {"region", s.region},
                     {"jurisdiction", s.jurisdiction},
                     {"tier", s.tier},
                     {"edge", s.edge}});
  }
  json pools = json::array();
  for (const auto& p : sc.pools) {
    pools.push_back({{"id", p.id},
                     {"site", p.site},
                     {"accelerator", p.accelerator},
                     {"nodes", p.nodes},
                     {"accelerators_per_node", p.accelerators_per_node}});
  }
  json accelerators = json::array();
  for (const auto& a : sc.accelerators)
    accelerators.push_back(
        {{"name", a.name}, {"vendor", a.vendor}, {"quota_class", a.quota_class}});
  json tenants = json::array();
  for (std::size_t i = 0; i < sc.tenants.size(); ++i) {
    if (tenant >= 0 && !sc.InSubtree(static_cast<int>(i), tenant)) continue;
    const auto& t = sc.tenants[i];
    // A tenant-bound token sees its subtree; its own node is its root.
    const bool root = static_cast<int>(i) == tenant;
    tenants.push_back({{"id", t.id},
                       {"name", t.name},
                       {"parent", root ? std::string() : t.parent},
                       {"weight", t.weight},
                       {"guarantee", t.guarantee},
                       {"borrow_limit", t.borrow_limit},
                       {"lend_limit", t.lend_limit}});
  }
  json priorities = json::array();
  for (const auto& p : sc.priority_classes) priorities.push_back(p.name);
  json datasets = json::array();
  for (const auto& d : sc.datasets)
    datasets.push_back({{"id", d.id}, {"description", d.description}});
  return {{"name", sc.name},
          {"description", sc.description},
          {"token",
           {{"id", token_id},
            {"tenant", tenant >= 0 ? sc.tenants[static_cast<std::size_t>(tenant)].id : ""},
            {"role", role}}},
          {"sites", sites},
          {"pools", pools},
          {"accelerators", accelerators},
          {"tenants", tenants},
          {"priority_classes", priorities},
          {"datasets", datasets}};
}

}  // namespace sovgrid::server
